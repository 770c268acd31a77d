/*
 * tracer_cli.h -- the command-line and pipe helpers roar-ptrace and roar-ebpf share (both take
 * the same options for the same things: --event-fd, --parent-pid, --snapshot-dir, the skip-reads
 * lists; both report a child's exec failure through a pipe).
 */
#ifndef ROAR_TRACER_CLI_H
#define ROAR_TRACER_CLI_H

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "skip_reads.h"

/* The value of option `name` at argv[*i] ("--name=value" or "--name value", which advances *i),
 * or NULL when argv[*i] is another option. */
static inline const char *roar_option_value(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* One --skip-reads-under/--keep-reads-under (is_prefix: must be absolute) or
 * --keep-reads-containing value: 0 added, -1 a usage error (empty, or not absolute), -2 out of
 * memory. */
static inline int roar_skip_option(struct roar_skip_list *list, const char *value, int is_prefix)
{
    if (!value[0] || (is_prefix && value[0] != '/'))
        return -1;
    return roar_skip_list_add(list, value, strlen(value), is_prefix) < 0 ? -2 : 0;
}

/* write(2) all of buf, retrying on EINTR; gives up silently on an error (async-signal-safe). */
static inline void roar_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

#endif
