/*
 * emit.c -- see emit.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"
#include "log.h"

static int event_fd = -1;
static int broken;              /* the descriptor failed: count instead of writing */
static unsigned char buffer[ROAR_EVT_MAX_RECORD];
static size_t used;             /* bytes queued in buffer */
static unsigned queued;         /* records queued in buffer */
static int64_t lost;

int emit_init(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0)
        return -1;
    /* The traced program must not inherit (and keep open, or write to) roar's pipe. */
    if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        return -1;
    event_fd = fd;
    return 0;
}

void emit_flush(void)
{
    size_t done = 0;
    if (broken) {
        lost += queued;
        used = 0;
        queued = 0;
        return;
    }
    while (done < used) {
        ssize_t n = write(event_fd, buffer + done, used - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* roar went away (EPIPE) or the fd is bad: keep tracing, stop writing. */
            log_error("cannot write events: %s", strerror(errno));
            broken = 1;
            lost += queued;
            break;
        }
        done += (size_t)n;
    }
    used = 0;
    queued = 0;
}

void emit_count_lost(unsigned n)
{
    lost += n;
}

int64_t emit_lost(void)
{
    return lost;
}

void emit_record(uint8_t kind, uint8_t flags, pid_t pid, pid_t tid, int32_t arg0, int64_t arg1,
                 uint32_t arg2, const char *path1, const char *path2)
{
    size_t len1 = path1 ? strlen(path1) : 0;
    size_t len2 = path2 ? strlen(path2) : 0;
    if (roar_evt_fit(&len1, &len2))
        flags |= ROAR_EVF_TRUNCATED;
    if (flags & ROAR_EVF_TRUNCATED)
        lost++;
    size_t size = ROAR_EVT_HEADER_SIZE + len1 + len2;
    if (used + size > sizeof buffer)
        emit_flush();
    struct roar_evt_header h = {
        .size = (uint16_t)size,
        .kind = kind,
        .flags = flags,
        .pid = pid,
        .tid = tid,
        .arg0 = arg0,
        .arg1 = arg1,
        .arg2 = arg2,
        .len1 = (uint16_t)len1,
        .len2 = (uint16_t)len2,
    };
    memcpy(buffer + used, &h, sizeof h);
    if (len1)
        memcpy(buffer + used + sizeof h, path1, len1);
    if (len2)
        memcpy(buffer + used + sizeof h + len1, path2, len2);
    used += size;
    queued++;
}

void emit_warn(pid_t pid, pid_t tid, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    VLOG("warning (pid %d): %s", (int)pid, msg);
    emit_record(ROAR_EVK_WARN, 0, pid, tid, 0, 0, 0, msg, NULL);
}

/* ---- dedupe: path -> list of (instance, class mask) ------------------------------------------ */

struct seen {
    uint64_t instance;
    unsigned mask;
};

struct dentry {
    struct dentry *next;
    uint64_t hash;
    size_t n, cap;
    struct seen *seen;
    char path[]; /* flexible array member */
};

static struct dentry **buckets;
static size_t nbuckets;
static size_t nentries;

static uint64_t hash_path(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 1024;
    struct dentry **nb = calloc(n, sizeof *nb);
    if (!nb)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < nbuckets; i++) {
        struct dentry *e = buckets[i];
        while (e) {
            struct dentry *next = e->next;
            size_t b = e->hash & (n - 1);
            e->next = nb[b];
            nb[b] = e;
            e = next;
        }
    }
    free(buckets);
    buckets = nb;
    nbuckets = n;
}

static struct dentry **find(const char *path, uint64_t h)
{
    struct dentry **p = &buckets[h & (nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->path, path) != 0))
        p = &(*p)->next;
    return p;
}

int dedupe_first(uint64_t instance, unsigned cls, const char *path)
{
    if (nentries >= nbuckets)
        grow();
    if (!nbuckets)
        return 1; /* out of memory: report everything */
    uint64_t h = hash_path(path);
    struct dentry **p = find(path, h);
    struct dentry *e = *p;
    if (!e) {
        size_t len = strlen(path);
        e = calloc(1, sizeof *e + len + 1);
        if (!e)
            return 1;
        memcpy(e->path, path, len + 1);
        e->hash = h;
        *p = e;
        nentries++;
    }
    for (size_t i = 0; i < e->n; i++) {
        if (e->seen[i].instance == instance) {
            if (e->seen[i].mask & (1u << cls))
                return 0;
            e->seen[i].mask |= 1u << cls;
            return 1;
        }
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 2;
        struct seen *ns = realloc(e->seen, cap * sizeof *ns);
        if (!ns)
            return 1;
        e->seen = ns;
        e->cap = cap;
    }
    e->seen[e->n].instance = instance;
    e->seen[e->n].mask = 1u << cls;
    e->n++;
    return 1;
}

int dedupe_reset_mark(const char *path)
{
    static const char *prefix;
    static size_t len;
    static int read_env;
    if (!read_env) {
        read_env = 1;
        prefix = getenv("ROAR_PRELOAD_DEDUPE_RESET_UNDER");
        len = prefix && prefix[0] == '/' ? strlen(prefix) : 0;
    }
    return len && strncmp(path, prefix, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

void dedupe_forget_instance(uint64_t instance)
{
    for (size_t b = 0; b < nbuckets; b++) {
        for (struct dentry *e = buckets[b]; e; e = e->next) {
            for (size_t i = 0; i < e->n; i++) {
                if (e->seen[i].instance == instance) {
                    e->seen[i] = e->seen[--e->n];
                    break; /* an instance appears once per path */
                }
            }
        }
    }
}

void dedupe_forget(const char *path)
{
    if (!nbuckets)
        return;
    struct dentry **p = find(path, hash_path(path));
    struct dentry *e = *p;
    if (!e)
        return;
    *p = e->next;
    free(e->seen);
    free(e);
    nentries--;
}
