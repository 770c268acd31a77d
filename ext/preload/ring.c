/*
 * ring.c -- writing records into the tree's shared-memory ring (the protocol: ext/ring.h).
 *
 * The ring file is named by ROAR_PRELOAD_RING and mapped once per program image (a fork child
 * shares the parent's mapping, which is what a MAP_SHARED ring wants).  Without it (an older
 * roar, a file that cannot be mapped) records go over the socket as before (transport.c).
 */
#define _GNU_SOURCE
#include "shim.h"

#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct roar_ring_ctl *ctl;
static unsigned char *data;
static uint64_t capacity;
static int lap_shift;
static int gave_up; /* roar stopped draining for ROAR_RING_WAIT_SECONDS: stop waiting for it */

int ring_init(void)
{
    const char *path = getenv(ENV_RING);
    if (!path || !*path)
        return -1;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size > ROAR_RING_DATA_OFFSET)
        m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    syscall(SYS_close, fd);
    if (m == MAP_FAILED)
        return -1;
    struct roar_ring_ctl *c = m;
    uint64_t cap = c->capacity;
    if (c->magic != ROAR_RING_MAGIC || cap < 8192 || (cap & (cap - 1)) ||
        ROAR_RING_DATA_OFFSET + cap > (uint64_t)st.st_size) {
        munmap(m, (size_t)st.st_size);
        return -1;
    }
    int shift = 0;
    while ((1ull << shift) < cap)
        shift++;
    capacity = cap;
    lap_shift = shift;
    data = (unsigned char *)m + ROAR_RING_DATA_OFFSET;
    __atomic_store_n(&ctl, c, __ATOMIC_RELEASE);
    return 0;
}

int ring_ready(void)
{
    return __atomic_load_n(&ctl, __ATOMIC_ACQUIRE) != NULL;
}

int ring_dirs_generation(uint32_t *generation)
{
    struct roar_ring_ctl *c = __atomic_load_n(&ctl, __ATOMIC_ACQUIRE);
    if (!c)
        return -1;
    *generation = __atomic_load_n(&c->dirs_changed, __ATOMIC_ACQUIRE);
    return 0;
}

void ring_dirs_changed(void)
{
    struct roar_ring_ctl *c = __atomic_load_n(&ctl, __ATOMIC_ACQUIRE);
    if (c)
        __atomic_add_fetch(&c->dirs_changed, 1, __ATOMIC_ACQ_REL);
}

/* Wait a little for roar to make room (it has been woken). 0: go on; -1: waited too long. */
static int wait_for_room(struct timespec *since, int stateless)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (since->tv_sec == 0 && since->tv_nsec == 0) {
        *since = now;
    } else if (now.tv_sec - since->tv_sec >= ROAR_RING_WAIT_SECONDS) {
        if (!stateless)
            gave_up = 1;
        return -1;
    }
    if (__atomic_exchange_n(&ctl->reader_waiting, 0, __ATOMIC_ACQ_REL))
        transport_wake(); /* roar sleeps: the room comes from it */
    struct timespec pause = {0, 100000}; /* 0.1 ms */
    nanosleep(&pause, NULL);
    return 0;
}

int ring_put(int32_t pid, const struct roar_evt_header *h, const char *p1, const char *p2,
             int stateless)
{
    if (!ring_ready())
        return -1;
    if (gave_up) {
        __atomic_add_fetch(&ctl->given_up, 1, __ATOMIC_RELAXED);
        return -2;
    }
    uint64_t need = roar_slot_size(h->size);
    struct timespec since = {0, 0};
    for (;;) {
        uint64_t pos = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
        uint64_t off = pos & (capacity - 1);
        uint64_t len = need;
        unsigned state = ROAR_SLOT_CLAIMED;
        if (off + need > capacity) {
            len = capacity - off; /* the rest of the data is padding; the record goes first */
            state = ROAR_SLOT_PAD;
        }
        uint64_t tail = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
        if (tail > pos)
            continue; /* `pos` is stale: roar consumed past it meanwhile */
        if (pos + len - tail > capacity) {
            if (wait_for_room(&since, stateless) < 0) {
                __atomic_add_fetch(&ctl->given_up, 1, __ATOMIC_RELAXED);
                return -2;
            }
            continue;
        }
        uint64_t expected = pos;
        if (!__atomic_compare_exchange_n(&ctl->head, &expected, pos + len, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            continue; /* another writer claimed `pos` first */
        uint64_t lap = pos >> lap_shift;
        if (state == ROAR_SLOT_PAD) {
            __atomic_store_n((uint64_t *)(data + off),
                             roar_slot_word((uint32_t)len, ROAR_SLOT_PAD, lap, pid),
                             __ATOMIC_RELEASE);
            continue; /* the record goes at the start of the data */
        }
        /* Owner and length first, so roar can tell a dead writer's slot and step over it. */
        __atomic_store_n((uint64_t *)(data + off),
                         roar_slot_word((uint32_t)len, ROAR_SLOT_CLAIMED, lap, pid),
                         __ATOMIC_RELEASE);
        unsigned char *slot = data + off;
        memcpy(slot + 8, h, sizeof *h);
        if (h->len1)
            memcpy(slot + 8 + sizeof *h, p1, h->len1);
        if (h->len2)
            memcpy(slot + 8 + sizeof *h + h->len1, p2, h->len2);
        __atomic_store_n((uint64_t *)slot,
                         roar_slot_word((uint32_t)len, ROAR_SLOT_COMMITTED, lap, pid),
                         __ATOMIC_RELEASE);
        /* Store-then-load across two processes: a full fence, or roar could sleep on a record
         * it did not see while we see no sleeper to wake. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (__atomic_load_n(&ctl->reader_waiting, __ATOMIC_RELAXED) &&
            __atomic_exchange_n(&ctl->reader_waiting, 0, __ATOMIC_ACQ_REL))
            transport_wake();
        return 0;
    }
}
