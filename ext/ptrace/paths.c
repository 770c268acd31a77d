/*
 * paths.c -- see paths.h.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "path_normalize.h"
#include "paths.h"

void path_normalize(char *path)
{
    roar_path_normalize(path);
}

int path_join(char *out, size_t size, const char *base, const char *rel)
{
    int n;
    if (rel[0] == '/')
        n = snprintf(out, size, "%s", rel);
    else
        n = snprintf(out, size, "%s/%s", base, rel);
    if (n < 0 || (size_t)n >= size)
        return -1;
    path_normalize(out);
    return 0;
}

static int replace_prefix(char *path, size_t size, const char *prefix, const char *with)
{
    size_t plen = strlen(prefix);
    if (strncmp(path, prefix, plen) != 0 || (path[plen] != '\0' && path[plen] != '/'))
        return 0;
    size_t wlen = strlen(with);
    size_t rest = strlen(path + plen);
    if (wlen + rest + 1 > size)
        return 0;
    memmove(path + wlen, path + plen, rest + 1);
    memcpy(path, with, wlen);
    return 1;
}

void path_fix_proc_self(char *path, size_t size, pid_t tgid, pid_t tid)
{
    char with[64];
    if (strncmp(path, "/proc/", 6) != 0)
        return;
    snprintf(with, sizeof with, "/proc/%d", (int)tgid);
    if (replace_prefix(path, size, "/proc/self", with))
        return;
    snprintf(with, sizeof with, "/proc/%d/task/%d", (int)tgid, (int)tid);
    replace_prefix(path, size, "/proc/thread-self", with);
}

void path_canonical_parent(char *path, size_t size)
{
    char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return; /* "/" or "/name": the parent is the root, already canonical */
    char resolved[PATH_MAX];
    *slash = '\0';
    char *ok = realpath(path, resolved);
    *slash = '/';
    if (!ok)
        return; /* the directory is gone too: keep the lexical form */
    char joined[ROAR_PATH_BUF];
    int n;
    if (strcmp(resolved, "/") == 0)
        n = snprintf(joined, sizeof joined, "%s", slash);
    else
        n = snprintf(joined, sizeof joined, "%s%s", resolved, slash);
    if (n < 0 || (size_t)n >= sizeof joined || (size_t)n >= size)
        return;
    memcpy(path, joined, (size_t)n + 1);
}

void path_canonical_full(char *path, size_t size)
{
    char resolved[PATH_MAX];
    if (realpath(path, resolved) && strlen(resolved) < size) {
        strcpy(path, resolved);
        return;
    }
    path_canonical_parent(path, size);
}
