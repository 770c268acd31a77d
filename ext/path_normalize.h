/*
 * path_normalize.h -- the lexical normalisation both tracers apply to the absolute paths their
 * records carry: "." components and repeated '/' dropped, ".." taking the previous component away
 * (at the root it is the root), no trailing '/'.  No filesystem access: symlinks are the kernel's
 * business (both tracers prefer the kernel's own answer, /proc/<pid>/fd/<fd>, where there is one).
 *
 * Written once, here, so the two tracers cannot disagree on what a path is.
 */
#ifndef ROAR_PATH_NORMALIZE_H
#define ROAR_PATH_NORMALIZE_H

#include <string.h>

/* Normalise the absolute path in place; anything not starting with '/' is left untouched. */
static inline void roar_path_normalize(char *path)
{
    /*
     * Components are copied forward into the same buffer, each preceded by its '/'.  `out`
     * never overtakes `in`, and a separator is never written at or past `in`, so the unread part
     * (and its terminator) stays intact.
     */
    const char *in = path;
    char *out = path;
    if (*in != '/')
        return; /* callers only pass absolute paths; leave anything else untouched */
    while (*in) {
        while (*in == '/')
            in++;
        if (!*in)
            break;
        const char *end = in;
        while (*end && *end != '/')
            end++;
        size_t len = (size_t)(end - in);
        if (len == 1 && in[0] == '.') {
            /* skip */
        } else if (len == 2 && in[0] == '.' && in[1] == '.') {
            /* Drop the last component written, if any (".." at the root is the root). */
            while (out > path && out[-1] != '/')
                out--;
            if (out > path)
                out--;
        } else {
            *out++ = '/';
            memmove(out, in, len);
            out += len;
        }
        in = end;
    }
    if (out == path)
        *out++ = '/';
    *out = '\0';
}

#endif
