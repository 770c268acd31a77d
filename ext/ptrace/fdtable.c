/*
 * fdtable.c -- see fdtable.h.
 */
#include <stdlib.h>
#include <string.h>

#include "fdtable.h"

struct rstr {
    int refs;
    char s[];
};

struct slot {
    int fd;
    int cloexec;
    struct rstr *path;
};

struct fdtable {
    int refs;
    size_t n, cap;
    struct slot *v; /* sorted by fd */
};

static struct rstr *rstr_new(const char *s)
{
    size_t len = strlen(s);
    struct rstr *r = malloc(sizeof *r + len + 1);
    if (!r)
        return NULL;
    r->refs = 1;
    memcpy(r->s, s, len + 1);
    return r;
}

static void rstr_unref(struct rstr *r)
{
    if (r && --r->refs == 0)
        free(r);
}

struct fdtable *fdt_new(void)
{
    struct fdtable *t = calloc(1, sizeof *t);
    if (t)
        t->refs = 1;
    return t;
}

struct fdtable *fdt_copy(const struct fdtable *src)
{
    struct fdtable *t = fdt_new();
    if (!t || !src || src->n == 0)
        return t;
    t->v = malloc(src->n * sizeof *t->v);
    if (!t->v)
        return t; /* out of memory: an empty table only loses CLOSE records */
    memcpy(t->v, src->v, src->n * sizeof *t->v);
    t->n = t->cap = src->n;
    for (size_t i = 0; i < t->n; i++)
        t->v[i].path->refs++;
    return t;
}

struct fdtable *fdt_ref(struct fdtable *t)
{
    if (t)
        t->refs++;
    return t;
}

void fdt_unref(struct fdtable *t)
{
    if (!t || --t->refs > 0)
        return;
    for (size_t i = 0; i < t->n; i++)
        rstr_unref(t->v[i].path);
    free(t->v);
    free(t);
}

int fdt_shared(const struct fdtable *t)
{
    return t && t->refs > 1;
}

/* Index of fd, or of where it would be inserted (with *found = 0). */
static size_t lookup(const struct fdtable *t, int fd, int *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid].fd < fd)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < t->n && t->v[lo].fd == fd;
    return lo;
}

const char *fdt_get(const struct fdtable *t, int fd)
{
    int found;
    if (!t)
        return NULL;
    size_t i = lookup(t, fd, &found);
    return found ? t->v[i].path->s : NULL;
}

static void set_rstr(struct fdtable *t, int fd, struct rstr *path, int cloexec)
{
    int found;
    size_t i = lookup(t, fd, &found);
    if (found) {
        rstr_unref(t->v[i].path);
    } else {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 8;
            struct slot *nv = realloc(t->v, cap * sizeof *nv);
            if (!nv) {
                rstr_unref(path);
                return;
            }
            t->v = nv;
            t->cap = cap;
        }
        memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof *t->v);
        t->n++;
    }
    t->v[i].fd = fd;
    t->v[i].cloexec = cloexec;
    t->v[i].path = path;
}

void fdt_set(struct fdtable *t, int fd, const char *path, int cloexec)
{
    if (!t)
        return;
    struct rstr *r = rstr_new(path);
    if (r)
        set_rstr(t, fd, r, cloexec);
}

int fdt_remove(struct fdtable *t, int fd)
{
    int found;
    if (!t)
        return 0;
    size_t i = lookup(t, fd, &found);
    if (!found)
        return 0;
    rstr_unref(t->v[i].path);
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
    t->n--;
    return 1;
}

void fdt_dup(struct fdtable *t, int oldfd, int newfd, int cloexec)
{
    int found;
    if (!t || oldfd == newfd)
        return;
    size_t i = lookup(t, oldfd, &found);
    if (!found) {
        fdt_remove(t, newfd);
        return;
    }
    struct rstr *r = t->v[i].path;
    r->refs++;
    set_rstr(t, newfd, r, cloexec);
}

void fdt_set_cloexec(struct fdtable *t, int fd, int cloexec)
{
    int found;
    if (!t)
        return;
    size_t i = lookup(t, fd, &found);
    if (found)
        t->v[i].cloexec = cloexec;
}

void fdt_close_range(struct fdtable *t, unsigned lo, unsigned hi, int only_cloexec,
                     int mark_cloexec, void (*closed)(void *ctx, int fd, const char *path),
                     void *ctx)
{
    if (!t)
        return;
    size_t out = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct slot *s = &t->v[i];
        int in_range = (unsigned)s->fd >= lo && (unsigned)s->fd <= hi;
        if (in_range && mark_cloexec) {
            s->cloexec = 1;
        } else if (in_range && (!only_cloexec || s->cloexec)) {
            if (closed)
                closed(ctx, s->fd, s->path->s);
            rstr_unref(s->path);
            continue;
        }
        t->v[out++] = *s;
    }
    t->n = out;
}
