/*
 * snapshot.c -- see snapshot.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy_bytes.h"
#include "emit.h"
#include "log.h"
#include "snapshot.h"

#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

enum { ST_INPUT = 1, ST_WRITTEN = 2, ST_SAVED = 4 };

struct pstate {
    struct pstate *next;
    uint64_t hash;
    unsigned bits;
    char path[];
};

static char snap_dir[PATH_MAX];
static int enabled;
static unsigned long long counter;

static struct pstate **buckets;
static size_t nbuckets;
static size_t nentries;

int snapshot_init(const char *dir)
{
    struct stat st;
    if (!realpath(dir, snap_dir))
        return -1;
    if (stat(snap_dir, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    enabled = 1;
    return 0;
}

int snapshot_enabled(void)
{
    return enabled;
}

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
    struct pstate **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;
    for (size_t i = 0; i < nbuckets; i++) {
        for (struct pstate *e = buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    }
    free(buckets);
    buckets = nb;
    nbuckets = n;
}

/* The state of path, created (all bits clear) when create is set; NULL if absent. */
static struct pstate *lookup(const char *path, int create)
{
    if (create && nentries >= nbuckets)
        grow();
    if (!nbuckets)
        return NULL;
    uint64_t h = hash_path(path);
    struct pstate **p = &buckets[h & (nbuckets - 1)];
    for (; *p; p = &(*p)->next) {
        if ((*p)->hash == h && strcmp((*p)->path, path) == 0)
            return *p;
    }
    if (!create)
        return NULL;
    size_t len = strlen(path);
    struct pstate *e = calloc(1, sizeof *e + len + 1);
    if (!e)
        return NULL;
    memcpy(e->path, path, len + 1);
    e->hash = h;
    *p = e;
    nentries++;
    return e;
}

void snapshot_note_read(const char *path)
{
    if (!enabled)
        return;
    struct pstate *s = lookup(path, 1);
    if (s && !(s->bits & ST_WRITTEN))
        s->bits |= ST_INPUT;
}

void snapshot_note_write(const char *path)
{
    if (!enabled)
        return;
    struct pstate *s = lookup(path, 1);
    if (s)
        s->bits |= ST_WRITTEN;
}

/* Copy src (an open regular file) into the new file dst (see copy_bytes.h).  Returns 0 or -1. */
static int copy_data(int src, const char *dst)
{
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return -1;
    int ok = roar_copy_bytes(src, out);
    if (close(out) < 0)
        ok = 0;
    if (!ok)
        unlink(dst);
    return ok ? 0 : -1;
}

int snapshot_before_change(pid_t pid, pid_t tid, const char *path, enum snapshot_how how,
                           int also_unread)
{
    if (!enabled)
        return 0;
    struct pstate *s = lookup(path, also_unread);
    if (!s || (s->bits & (ST_WRITTEN | ST_SAVED)))
        return 0;
    if (!(s->bits & ST_INPUT) && !also_unread)
        return 0;

    int src = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (src < 0)
        return 0; /* gone already, or a symlink: nothing of the input to keep here */
    if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(src); /* devices, fifos, directories: not content roar hashes */
        return 0;
    }
    s->bits |= ST_SAVED | ST_INPUT;

    char dst[PATH_MAX + 256];
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int rc = -1;
    errno = EEXIST;
    /* Names are unique per run; EEXIST only happens if the directory is reused. */
    for (int attempt = 0; rc < 0 && errno == EEXIST && attempt < 1000; attempt++) {
        int len = snprintf(dst, sizeof dst, "%s/%llu-%.200s", snap_dir, ++counter, base);
        if (len < 0 || (size_t)len >= sizeof dst) {
            errno = ENAMETOOLONG;
            break;
        }
        if (how == SNAPSHOT_LINK)
            rc = link(path, dst);
        if (rc < 0 && (how != SNAPSHOT_LINK || errno != EEXIST))
            rc = copy_data(src, dst);
    }
    int err = errno;
    close(src);
    if (rc < 0) {
        emit_warn(pid, tid, "could not save %s before it changed: %s", path, strerror(err));
        return 0;
    }
    VLOG("%d: saved %s as %s before it changes", (int)tid, path, dst);
    emit_record(ROAR_EVK_SNAPSHOT, 0, pid, tid, 0, (int64_t)st.st_size, 0, path, dst);
    return 1;
}
