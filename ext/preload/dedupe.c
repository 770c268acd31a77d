/*
 * dedupe.c -- per-process OPEN dedupe, and the descriptors opened for writing.
 *
 * Why dedupe: a program that opens the same file a thousand times (a loader probing, a log
 * reopened per line) would send a thousand identical records.  An OPEN (or READ/WRITE) is dropped
 * when this process already reported the same path in the same access class; renaming, unlinking
 * or truncating a path forgets it, so a re-created file is reported again.  The table is per
 * process: a fork child starts empty (its records carry its own pid), and so does a new image.
 * ENV records share the table under their own class, keyed by the variable's name (a name never
 * looks like an absolute path, so the two kinds of key do not meet).
 *
 * The table is an open-addressing hash set of 128-bit path hashes with a class bit mask, in
 * mmap'd memory (no malloc, nothing to free in a fork child).  Two independent 64-bit hashes make
 * a false "seen" between two different paths practically impossible.  Past DEDUPE_MAX entries it
 * stops growing and simply reports everything.  A mutex protects it; a fork child re-initialises
 * the mutex (another thread may have held it at fork time) and drops the table.
 *
 * The write-descriptor table maps fd -> path (malloc'd) for CLOSE records; fds >= FDTAB_SIZE are
 * not tracked.  Only descriptors returned by the open family are tracked, not their dups.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEDUPE_INITIAL 4096u
#define DEDUPE_MAX (1u << 22)

struct dd_entry {
    uint64_t a, b; /* a == 0: empty slot */
    uint32_t mask;
    uint32_t pad;
};

static pthread_mutex_t dd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dd_entry *dd_tab;
static size_t dd_cap, dd_used;
static pid_t dd_owner;

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

void path_hash128(const char *s, size_t n, uint64_t *a, uint64_t *b)
{
    uint64_t h1 = 0x9e3779b97f4a7c15ULL ^ n;
    uint64_t h2 = 0x6a09e667f3bcc909ULL + n * 0xbf58476d1ce4e5b9ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t k;
        memcpy(&k, s + i, 8);
        h1 = mix64(h1 ^ k);
        h2 = (h2 + k) * 0x94d049bb133111ebULL;
        h2 = (h2 << 31) | (h2 >> 33);
    }
    uint64_t k = 0;
    memcpy(&k, s + i, n - i);
    h1 = mix64(h1 ^ k ^ 0x5bd1e995ULL);
    h2 = mix64(h2 ^ k);
    *a = h1 | 1; /* never 0: 0 marks an empty slot */
    *b = h2;
}

static struct dd_entry *dd_alloc(size_t cap)
{
    void *p = mmap(NULL, cap * sizeof(struct dd_entry), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static struct dd_entry *dd_find(struct dd_entry *tab, size_t cap, uint64_t a, uint64_t b)
{
    size_t idx = (size_t)(a >> 1) & (cap - 1); /* a's low bit is always 1 */
    for (;;) {
        struct dd_entry *e = &tab[idx];
        if (e->a == 0 || (e->a == a && e->b == b))
            return e;
        idx = (idx + 1) & (cap - 1);
    }
}

static int dd_grow(void)
{
    size_t cap = dd_cap ? dd_cap * 2 : DEDUPE_INITIAL;
    if (cap > DEDUPE_MAX)
        return -1;
    struct dd_entry *tab = dd_alloc(cap);
    if (!tab)
        return -1;
    for (size_t i = 0; i < dd_cap; i++) {
        if (dd_tab[i].a)
            *dd_find(tab, cap, dd_tab[i].a, dd_tab[i].b) = dd_tab[i];
    }
    if (dd_tab)
        munmap(dd_tab, dd_cap * sizeof(struct dd_entry));
    dd_tab = tab;
    dd_cap = cap;
    return 0;
}

static void dd_reset_if_new_process(void)
{
    pid_t me = shim_getpid();
    if (dd_owner == me)
        return;
    /* A process that forked without our fork hook (a raw clone): start over. */
    if (dd_tab)
        munmap(dd_tab, dd_cap * sizeof(struct dd_entry));
    dd_tab = NULL;
    dd_cap = dd_used = 0;
    dd_owner = me;
}

int dedupe_first(unsigned cls, const char *path)
{
    uint64_t a, b;
    path_hash128(path, strlen(path), &a, &b);
    int first = 1;
    pthread_mutex_lock(&dd_lock);
    dd_reset_if_new_process();
    if ((dd_used + 1) * 2 > dd_cap && dd_grow() < 0 && (!dd_tab || dd_used + 1 >= dd_cap)) {
        pthread_mutex_unlock(&dd_lock); /* full and cannot grow: report everything */
        return 1;
    }
    struct dd_entry *e = dd_find(dd_tab, dd_cap, a, b);
    if (e->a == 0) {
        e->a = a;
        e->b = b;
        e->mask = 0;
        dd_used++;
    }
    uint32_t bit = 1u << cls;
    first = !(e->mask & bit);
    e->mask |= bit;
    pthread_mutex_unlock(&dd_lock);
    return first;
}

int dedupe_seen(unsigned cls, const char *path)
{
    uint64_t a, b;
    path_hash128(path, strlen(path), &a, &b);
    int seen = 0;
    pthread_mutex_lock(&dd_lock);
    /* A table kept for another pid is about to be dropped by dedupe_first: nothing seen yet. */
    if (dd_tab && dd_owner == shim_getpid()) {
        struct dd_entry *e = dd_find(dd_tab, dd_cap, a, b);
        seen = e->a != 0 && (e->mask & (1u << cls)) != 0;
    }
    pthread_mutex_unlock(&dd_lock);
    return seen;
}

void dedupe_forget(const char *path)
{
    uint64_t a, b;
    path_hash128(path, strlen(path), &a, &b);
    pthread_mutex_lock(&dd_lock);
    dd_reset_if_new_process();
    if (dd_tab) {
        struct dd_entry *e = dd_find(dd_tab, dd_cap, a, b);
        if (e->a)
            e->mask = 0;
    }
    pthread_mutex_unlock(&dd_lock);
}

void dedupe_reset(void)
{
    pthread_mutex_lock(&dd_lock);
    if (dd_tab)
        munmap(dd_tab, dd_cap * sizeof(struct dd_entry));
    dd_tab = NULL;
    dd_cap = dd_used = 0;
    pthread_mutex_unlock(&dd_lock);
}

void dedupe_after_fork(void)
{
    pthread_mutex_init(&dd_lock, NULL);
    dd_reset_if_new_process();
}

/* ---- descriptors opened for writing ----------------------------------------------------------- */

/* Mapped on the first descriptor opened for writing, not a static array: a large .bss costs
 * every process that loads the shim tens of microseconds at startup, written to or not. */
#define FDTAB_SIZE 65536
static char **fdtab;

static char **fdtab_get(int create)
{
    char **t = __atomic_load_n(&fdtab, __ATOMIC_ACQUIRE);
    if (t || !create)
        return t;
    void *m = mmap(NULL, FDTAB_SIZE * sizeof(char *), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    char **expected = NULL;
    if (!__atomic_compare_exchange_n(&fdtab, &expected, (char **)m, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        munmap(m, FDTAB_SIZE * sizeof(char *)); /* another thread was first */
        return expected;
    }
    return m;
}

void fdtab_set(int fd, const char *path)
{
    char **t = fd >= 0 && fd < FDTAB_SIZE ? fdtab_get(1) : NULL;
    if (!t)
        return;
    char *copy = strdup(path);
    char *old = __atomic_exchange_n(&t[fd], copy, __ATOMIC_ACQ_REL);
    free(old);
}

char *fdtab_take(int fd)
{
    char **t = fd >= 0 && fd < FDTAB_SIZE ? fdtab_get(0) : NULL;
    if (!t || !__atomic_load_n(&t[fd], __ATOMIC_ACQUIRE))
        return NULL;
    return __atomic_exchange_n(&t[fd], NULL, __ATOMIC_ACQ_REL);
}

int fdtab_has(int fd)
{
    char **t = fd >= 0 && fd < FDTAB_SIZE ? fdtab_get(0) : NULL;
    return t && __atomic_load_n(&t[fd], __ATOMIC_ACQUIRE) != NULL;
}
