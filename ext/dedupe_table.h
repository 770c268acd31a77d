/*
 * dedupe_table.h -- "has this process image already reported this path in this access class?"
 *
 * Why: a program that opens the same file a thousand times (a loader probing, a log reopened per
 * line) would send a thousand identical records.  Every tracer drops the repeats with this one
 * table: the preload shim keeps one per process (instance 0), roar-ptrace and roar-ebpf one for
 * every process they trace, keyed by an instance number per process image (so pid reuse cannot
 * swallow a record).  Renaming, unlinking or truncating a path forgets it, so a re-created file is
 * reported again; a new unit of work (a Ray task) forgets an instance.
 *
 * The table is open addressing with linear probing from the path's hash, so all entries of one
 * path (one per instance) sit in one run and forgetting a path walks only that run.  Keys are two
 * independent 64-bit hashes of the path (a false "seen" between two different paths is
 * practically impossible) and the instance.  A forgotten entry keeps its place with an empty mask
 * (the run stays whole) until its key comes back or the table grows.  Memory comes from the
 * caller's allocator (the shim uses mmap: nothing to free in a fork child); past `max_cap` slots
 * the table stops growing and everything is reported.
 *
 * Not thread-safe: the shim holds a mutex around it; the tracer programs are single-threaded.
 */
#ifndef ROAR_DEDUPE_TABLE_H
#define ROAR_DEDUPE_TABLE_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Access classes: a bit each in an entry's mask.  One list for every tracer. */
enum dedupe_class {
    DEDUPE_OPEN_READ = 0,
    DEDUPE_OPEN_WRITE = 1,
    DEDUPE_OPEN_READWRITE = 2,
    DEDUPE_OPEN_TRUNC = 3,
    DEDUPE_FD_READ = 4,  /* READ records (sendfile & co.) */
    DEDUPE_FD_WRITE = 5, /* WRITE records */
    DEDUPE_ENV = 6,      /* preload: the key is a variable's name, not a path */
};

/* The class of an open with these open(2) flags (O_TRUNC, then the access mode, decides). */
static inline unsigned dedupe_open_class(int flags)
{
    if (flags & O_TRUNC)
        return DEDUPE_OPEN_TRUNC;
    switch (flags & O_ACCMODE) {
    case O_WRONLY:
        return DEDUPE_OPEN_WRITE;
    case O_RDWR:
        return DEDUPE_OPEN_READWRITE;
    default:
        return DEDUPE_OPEN_READ;
    }
}

struct roar_dd_entry {
    uint64_t a, b; /* the path's hashes; a == 0: an empty slot (a is never 0 for a path) */
    uint64_t instance;
    uint32_t mask; /* access classes seen; 0: forgotten */
    uint32_t unused;
};

struct roar_dd_table {
    struct roar_dd_entry *slots;
    size_t cap;  /* a power of two; 0 until the first entry */
    size_t used; /* slots taken, forgotten ones included */
    size_t max_cap;
    void *(*alloc)(size_t bytes); /* zeroed memory, or NULL */
    void (*release)(void *memory, size_t bytes);
};

static inline uint64_t roar_dd_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Two independent 64-bit hashes of the n bytes at s; a is never 0. */
static inline void roar_path_hash128(const char *s, size_t n, uint64_t *a, uint64_t *b)
{
    uint64_t h1 = 0x9e3779b97f4a7c15ULL ^ n;
    uint64_t h2 = 0x6a09e667f3bcc909ULL + n * 0xbf58476d1ce4e5b9ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t k;
        memcpy(&k, s + i, 8);
        h1 = roar_dd_mix(h1 ^ k);
        h2 = (h2 + k) * 0x94d049bb133111ebULL;
        h2 = (h2 << 31) | (h2 >> 33);
    }
    uint64_t k = 0;
    memcpy(&k, s + i, n - i);
    h1 = roar_dd_mix(h1 ^ k ^ 0x5bd1e995ULL);
    h2 = roar_dd_mix(h2 ^ k);
    *a = h1 | 1;
    *b = h2;
}

static inline size_t roar_dd_home(const struct roar_dd_table *t, uint64_t a)
{
    return (size_t)(a >> 1) & (t->cap - 1); /* a's low bit is always 1 */
}

/* The entry for (a, b, instance), or the empty slot that ends its run. */
static inline struct roar_dd_entry *roar_dd_find(struct roar_dd_table *t, uint64_t a, uint64_t b,
                                                 uint64_t instance)
{
    size_t i = roar_dd_home(t, a);
    for (;;) {
        struct roar_dd_entry *e = &t->slots[i];
        if (e->a == 0 || (e->a == a && e->b == b && e->instance == instance))
            return e;
        i = (i + 1) & (t->cap - 1);
    }
}

/* Double the table (dropping forgotten entries); -1 when it may not or cannot grow. */
static inline int roar_dd_grow(struct roar_dd_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 4096;
    if (cap > t->max_cap)
        return -1;
    struct roar_dd_entry *slots = t->alloc(cap * sizeof *slots);
    if (!slots)
        return -1;
    struct roar_dd_table grown = *t;
    grown.slots = slots;
    grown.cap = cap;
    grown.used = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const struct roar_dd_entry *e = &t->slots[i];
        if (e->a && e->mask) {
            *roar_dd_find(&grown, e->a, e->b, e->instance) = *e;
            grown.used++;
        }
    }
    if (t->slots)
        t->release(t->slots, t->cap * sizeof *t->slots);
    *t = grown;
    return 0;
}

/* 1 the first time (instance, cls, path) is seen, remembering it; 0 after. */
static inline int roar_dd_first(struct roar_dd_table *t, uint64_t instance, unsigned cls,
                                const char *path)
{
    if ((t->used + 1) * 2 > t->cap && roar_dd_grow(t) < 0 && (!t->cap || (t->used + 1) * 4 > t->cap * 3))
        return 1; /* full and cannot grow: report everything */
    uint64_t a, b;
    roar_path_hash128(path, strlen(path), &a, &b);
    struct roar_dd_entry *e = roar_dd_find(t, a, b, instance);
    if (e->a == 0) {
        e->a = a;
        e->b = b;
        e->instance = instance;
        e->mask = 0;
        t->used++;
    }
    uint32_t bit = 1u << cls;
    int first = !(e->mask & bit);
    e->mask |= bit;
    return first;
}

/* Whether (instance, cls, path) was seen, without remembering anything. */
static inline int roar_dd_seen(struct roar_dd_table *t, uint64_t instance, unsigned cls,
                               const char *path)
{
    if (!t->cap)
        return 0;
    uint64_t a, b;
    roar_path_hash128(path, strlen(path), &a, &b);
    const struct roar_dd_entry *e = roar_dd_find(t, a, b, instance);
    return e->a != 0 && (e->mask & (1u << cls)) != 0;
}

/* Forget path for every instance and class (it was renamed, unlinked or truncated). */
static inline void roar_dd_forget_path(struct roar_dd_table *t, const char *path)
{
    if (!t->cap)
        return;
    uint64_t a, b;
    roar_path_hash128(path, strlen(path), &a, &b);
    for (size_t i = roar_dd_home(t, a); t->slots[i].a; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].a == a && t->slots[i].b == b)
            t->slots[i].mask = 0;
    }
}

/* Forget everything one process image reported (a new unit of work begins). */
static inline void roar_dd_forget_instance(struct roar_dd_table *t, uint64_t instance)
{
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].a && t->slots[i].instance == instance)
            t->slots[i].mask = 0;
    }
}

/* Drop everything (the memory too). */
static inline void roar_dd_clear(struct roar_dd_table *t)
{
    if (t->slots)
        t->release(t->slots, t->cap * sizeof *t->slots);
    t->slots = NULL;
    t->cap = t->used = 0;
}

#endif
