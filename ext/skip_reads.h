/*
 * Which successful read-only opens a tracer does not report: shared by both tracers, so the rule
 * is written once in C (roar/tracing/base.py `SkipReads.skips` is its Python twin, and
 * roar/recording/filters.py `tracer_skip_reads` derives the lists).
 *
 * Why: most opens of an ordinary program are of system files (the loader's cache, locale data,
 * Python's standard library) that roar throws away as "system" reads anyway.  Not reporting them
 * saves roar-ptrace the exit stop of each (the open is decided at its seccomp stop) and the preload
 * shim a sendmsg(2) each.
 *
 * The rule, applied to the canonical path (what /proc/<pid>/fd/<fd> says) of an open that is
 * O_RDONLY without O_CREAT or O_TRUNC -- the callers check the flags:
 *   skipped iff it is under one of `skip`, not under one of `keep` (the project: its files are
 *   always inputs, even in /opt), and contains none of `keep_sub` ("/site-packages/" and
 *   "/dist-packages/": roar derives the Python distributions a job imported from those reads;
 *   ".so": the shared libraries, from which it derives Debian packages).
 * A prefix ending in '/' matches the paths strictly below it ("/usr/" as Python's
 * str.startswith); one without matches itself and everything below it ("/p/proj": "/p/proj" and
 * "/p/proj/x", never "/p/project").  Empty entries and prefixes that are not absolute are
 * ignored: an empty prefix would otherwise skip everything.
 *
 * Separately, and whatever the lists say, both tracers skip read-only O_DIRECTORY opens: the
 * record would say nothing roar uses (roar/recording/semantics.py ignores it), and neither
 * tracer needs it to resolve a later fchdir or *at(dirfd) call (both look at /proc then).
 */
#ifndef ROAR_SKIP_READS_H
#define ROAR_SKIP_READS_H

#include <stdlib.h>
#include <string.h>

struct roar_skip_list {
    char **items;
    size_t n;
};

struct roar_skip_reads {
    struct roar_skip_list skip;     /* prefixes whose reads are not reported */
    struct roar_skip_list keep;     /* prefixes whose reads are, even under a skip prefix */
    struct roar_skip_list keep_sub; /* substrings that keep a read */
};

/* Append a copy of `item` (an empty one, or a prefix that is not absolute, is ignored).  Returns
 * 0, or -1 when out of memory. */
static inline int roar_skip_list_add(struct roar_skip_list *l, const char *item, size_t len,
                                     int is_prefix)
{
    if (len == 0 || (is_prefix && item[0] != '/'))
        return 0;
    char **grown = realloc(l->items, (l->n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    l->items = grown;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, item, len);
    copy[len] = '\0';
    l->items[l->n++] = copy;
    return 0;
}

/* Add every line of a newline-separated list.  Returns 0 or -1 (out of memory). */
static inline int roar_skip_list_add_lines(struct roar_skip_list *l, const char *text,
                                           int is_prefix)
{
    while (text && *text) {
        size_t len = strcspn(text, "\n");
        if (roar_skip_list_add(l, text, len, is_prefix) < 0)
            return -1;
        text += len;
        if (*text == '\n')
            text++;
    }
    return 0;
}

static inline int roar_skip_reads_enabled(const struct roar_skip_reads *r)
{
    return r->skip.n > 0;
}

static inline int roar_path_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return 0;
    return prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/';
}

static inline int roar_under_any(const char *path, const struct roar_skip_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (roar_path_under(path, l->items[i]))
            return 1;
    }
    return 0;
}

static inline int roar_contains_any(const char *path, const struct roar_skip_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strstr(path, l->items[i]))
            return 1;
    }
    return 0;
}

/* The rule above, for the canonical path of a plain read-only open: 1 skip it, 0 report it. */
static inline int roar_skip_read(const struct roar_skip_reads *r, const char *path)
{
    return roar_under_any(path, &r->skip) && !roar_under_any(path, &r->keep) &&
           !roar_contains_any(path, &r->keep_sub);
}

#endif /* ROAR_SKIP_READS_H */
