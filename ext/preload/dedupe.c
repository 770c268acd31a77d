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
 * The table is ext/dedupe_table.h's, the one roar-ptrace and roar-ebpf keep too, in mmap'd
 * memory (no malloc, nothing to free in a fork child); past DEDUPE_MAX slots it stops growing and
 * simply reports everything.  A mutex protects it; a fork child re-initialises the mutex (another
 * thread may have held it at fork time) and drops the table.
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

#define DEDUPE_MAX (1u << 22)

static void *dd_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void dd_unmap(void *p, size_t bytes)
{
    munmap(p, bytes);
}

static pthread_mutex_t dd_lock = PTHREAD_MUTEX_INITIALIZER;
/* One process's table (ext/dedupe_table.h): instance 0, since the process is the instance. */
static struct roar_dd_table dd = {.max_cap = DEDUPE_MAX, .alloc = dd_map, .release = dd_unmap};
static pid_t dd_owner;

void path_hash128(const char *s, size_t n, uint64_t *a, uint64_t *b)
{
    roar_path_hash128(s, n, a, b);
}

static void dd_reset_if_new_process(void)
{
    pid_t me = shim_getpid();
    if (dd_owner == me)
        return;
    /* A process that forked without our fork hook (a raw clone): start over. */
    roar_dd_clear(&dd);
    dd_owner = me;
}

int dedupe_first(unsigned cls, const char *path)
{
    pthread_mutex_lock(&dd_lock);
    dd_reset_if_new_process();
    int first = roar_dd_first(&dd, 0, cls, path);
    pthread_mutex_unlock(&dd_lock);
    return first;
}

int dedupe_seen(unsigned cls, const char *path)
{
    int seen = 0;
    pthread_mutex_lock(&dd_lock);
    /* A table kept for another pid is about to be dropped by dedupe_first: nothing seen yet. */
    if (dd_owner == shim_getpid())
        seen = roar_dd_seen(&dd, 0, cls, path);
    pthread_mutex_unlock(&dd_lock);
    return seen;
}

void dedupe_forget(const char *path)
{
    pthread_mutex_lock(&dd_lock);
    dd_reset_if_new_process();
    roar_dd_forget_path(&dd, path);
    pthread_mutex_unlock(&dd_lock);
}

void dedupe_reset(void)
{
    pthread_mutex_lock(&dd_lock);
    roar_dd_clear(&dd);
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
