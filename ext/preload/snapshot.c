/*
 * snapshot.c -- keep the content of a file the job read before the job destroys it.
 *
 * Why (ext/ptrace/snapshot.h has the long version): roar records an input by its content as the
 * job read it.  When a job reads data.csv and later rewrites it in place, truncates it, renames
 * something over it or deletes it, hashing data.csv afterwards gives the wrong digest or nothing.
 * The wrappers call snapshot_before_change() before such a call runs; if the path is an input not
 * saved yet, its content goes into ROAR_PRELOAD_SNAPSHOT_DIR -- a hard link when only the name
 * goes away (rename over, unlink), a copy (reflink when the filesystem can) when the data changes
 * in place (open for writing, truncate) -- and a SNAPSHOT record says where.
 *
 * Whether a path is an input is a fact about the whole process tree (`cat data.csv` reads it, a
 * later `python` rewrites it), and the shim lives in many processes.  So the per-path state is a
 * table in a file that roar creates (ROAR_PRELOAD_SNAPSHOT_STATE) and every process maps
 * MAP_SHARED; all updates are atomic compare-and-swaps, so no process ever waits on a lock that a
 * killed process could hold.
 *
 * Layout: a header (magic, capacity, a counter for unique snapshot names) and `capacity` slots of
 * { key, check, bits }: key and check are two independent hashes of the path (96 bits together;
 * a slot is claimed by a CAS on key, then check is published), bits are ST_*.  The table never
 * shrinks; a full table means snapshots stop for new paths (a WARN says so, once per process).
 *
 * Concurrency: the process that sets ST_SAVING does the save; another process about to change the
 * same path waits (bounded) until ST_SAVED, so it cannot truncate the file under the copy.
 */
#define _GNU_SOURCE
#include "shim.h"
#include "copy_bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

#define SNAP_MAGIC 0x52534e50u /* "RSNP" */

enum { ST_INPUT = 1, ST_WRITTEN = 2, ST_SAVED = 4, ST_SAVING = 8 };

struct snap_header {
    uint32_t magic;
    uint32_t capacity; /* slots, a power of two */
    uint64_t counter;  /* snapshot names: <counter>-<basename> */
};

struct snap_slot {
    uint64_t key;   /* 0: free */
    uint32_t check; /* 0: being claimed */
    uint32_t bits;
};

static char snap_dir[SHIM_PATH];
static char snap_state[SHIM_PATH];
static int configured;

/* The mapping, per process image (a fork child shares it: MAP_SHARED). */
static struct snap_header *table;
static size_t table_len;
static int map_failed;
static pid_t warned_full;

void snapshot_init(void)
{
    const char *dir = getenv(ENV_SNAP_DIR);
    const char *state = getenv(ENV_SNAP_STATE);
    if (!dir || !*dir || !state || !*state || strlen(dir) >= sizeof snap_dir ||
        strlen(state) >= sizeof snap_state)
        return;
    strcpy(snap_dir, dir);
    strcpy(snap_state, state);
    configured = 1;
}

int snapshot_enabled(void)
{
    return configured && !map_failed;
}

static struct snap_header *map_table(void)
{
    struct snap_header *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (t || map_failed || !configured)
        return t;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, snap_state, O_RDWR | O_CLOEXEC);
    struct stat st;
    void *m = MAP_FAILED;
    if (fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size > sizeof(struct snap_header))
        m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd >= 0)
        syscall(SYS_close, fd);
    if (m == MAP_FAILED) {
        map_failed = 1;
        emit_warn(0, "cannot map the snapshot state %.300s: inputs changed by the job are not "
                     "saved", snap_state);
        return NULL;
    }
    t = m;
    uint32_t cap = t->capacity;
    if (t->magic != SNAP_MAGIC || cap == 0 || (cap & (cap - 1)) ||
        sizeof *t + (size_t)cap * sizeof(struct snap_slot) > (size_t)st.st_size) {
        munmap(m, (size_t)st.st_size);
        map_failed = 1;
        emit_warn(0, "the snapshot state %.300s is not valid: inputs changed by the job are not "
                     "saved", snap_state);
        return NULL;
    }
    struct snap_header *expected = NULL;
    if (!__atomic_compare_exchange_n(&table, &expected, t, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        munmap(m, (size_t)st.st_size); /* another thread mapped it first */
        return expected;
    }
    table_len = (size_t)st.st_size;
    return t;
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 200000}; /* 0.2 ms */
    nanosleep(&ts, NULL);
}

/* The slot of path; created when create is set.  NULL when absent or the table is full. */
static struct snap_slot *slot_of(const char *path, int create)
{
    struct snap_header *t = map_table();
    if (!t)
        return NULL;
    uint64_t a, b;
    path_hash128(path, strlen(path), &a, &b);
    uint32_t check = (uint32_t)b | 1u;
    struct snap_slot *slots = (struct snap_slot *)(t + 1);
    uint32_t mask = t->capacity - 1;
    for (uint32_t probe = 0, idx = (uint32_t)a & mask; probe <= mask;
         probe++, idx = (idx + 1) & mask) {
        struct snap_slot *s = &slots[idx];
        uint64_t key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        if (key == 0) {
            if (!create)
                return NULL;
            uint64_t expected = 0;
            if (__atomic_compare_exchange_n(&s->key, &expected, a, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                __atomic_store_n(&s->check, check, __ATOMIC_RELEASE);
                return s;
            }
            key = expected; /* someone claimed it just now: is it our path? */
        }
        if (key != a)
            continue;
        uint32_t c;
        /* The claimer publishes check right after its CAS; a killed claimer never does. */
        for (int spin = 0; (c = __atomic_load_n(&s->check, __ATOMIC_ACQUIRE)) == 0 && spin < 1000;
             spin++)
            pause_briefly();
        if (c == check)
            return s;
    }
    if (create && warned_full != shim_getpid()) {
        warned_full = shim_getpid();
        emit_warn(0, "the snapshot table is full: inputs changed by the job may not be saved");
    }
    return NULL;
}

/* /dev, /proc and /sys hold no content roar hashes: keep them out of the table (and a process
 * that only touches those never maps it). */
static int pseudo_path(const char *path)
{
    return strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0 ||
           strncmp(path, "/sys/", 5) == 0;
}

void snapshot_note_read(const char *path)
{
    if (!snapshot_enabled() || pseudo_path(path))
        return;
    struct snap_slot *s = slot_of(path, 1);
    if (!s)
        return;
    uint32_t bits = __atomic_load_n(&s->bits, __ATOMIC_ACQUIRE);
    /* The first access decides: content the job wrote first is not an input. */
    while (!(bits & (ST_WRITTEN | ST_INPUT)) &&
           !__atomic_compare_exchange_n(&s->bits, &bits, bits | ST_INPUT, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
        ;
}

void snapshot_note_write(const char *path)
{
    if (!snapshot_enabled() || pseudo_path(path))
        return;
    struct snap_slot *s = slot_of(path, 1);
    if (s)
        __atomic_or_fetch(&s->bits, ST_WRITTEN, __ATOMIC_ACQ_REL);
}

/* Copy the open regular file src into the new file dst (see copy_bytes.h).  Raw syscalls only:
 * none of this may go through our own wrappers. */
static int copy_data(int src, const char *dst)
{
    int out = (int)syscall(SYS_openat, AT_FDCWD, dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                           0600);
    if (out < 0)
        return -1;
    int ok = roar_copy_bytes(src, out);
    int err = errno;
    if (syscall(SYS_close, out) < 0)
        ok = 0;
    if (!ok) {
        syscall(SYS_unlinkat, AT_FDCWD, dst, 0);
        errno = err;
    }
    return ok ? 0 : -1;
}

static void save(const char *path, enum snapshot_how how, struct snap_slot *s, uint32_t bits)
{
    int src = (int)syscall(SYS_openat, AT_FDCWD, path,
                           O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (src < 0 || fstat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
        /* Gone already, a symlink, a device, a fifo: nothing of the input to keep here. */
        if (src >= 0)
            syscall(SYS_close, src);
        __atomic_and_fetch(&s->bits, ~(uint32_t)ST_SAVING, __ATOMIC_ACQ_REL);
        (void)bits;
        return;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char dst[SHIM_PATH + 256];
    int rc = -1;
    errno = EEXIST;
    for (int attempt = 0; rc < 0 && errno == EEXIST && attempt < 100; attempt++) {
        char num[24];
        uint64_t n = __atomic_add_fetch(&table->counter, 1, __ATOMIC_ACQ_REL);
        size_t dlen = strlen(snap_dir);
        if (dlen + 1 + 24 + 1 + 200 >= sizeof dst) {
            errno = ENAMETOOLONG;
            break;
        }
        strcpy(dst, snap_dir);
        strcat(dst, "/");
        strcat(dst, fmt_long(num, (long)n));
        strcat(dst, "-");
        strncat(dst, base, 200);
        if (how == SNAPSHOT_LINK)
            rc = (int)syscall(SYS_linkat, AT_FDCWD, path, AT_FDCWD, dst, 0);
        if (rc < 0 && (how != SNAPSHOT_LINK || errno != EEXIST))
            rc = copy_data(src, dst);
    }
    int err = errno;
    syscall(SYS_close, src);
    if (rc < 0) {
        __atomic_and_fetch(&s->bits, ~(uint32_t)ST_SAVING, __ATOMIC_ACQ_REL);
        emit_warn(1, "could not save %.2000s before it changed: %s", path, strerror(err));
        return;
    }
    emit(ROAR_EVK_SNAPSHOT, 0, 0, (int64_t)st.st_size, 0, path, dst);
    __atomic_or_fetch(&s->bits, ST_SAVED, __ATOMIC_ACQ_REL);
    __atomic_and_fetch(&s->bits, ~(uint32_t)ST_SAVING, __ATOMIC_ACQ_REL);
}

void snapshot_before_change(const char *path, enum snapshot_how how, int also_unread)
{
    if (!snapshot_enabled() || pseudo_path(path))
        return;
    struct snap_slot *s = slot_of(path, also_unread);
    if (!s)
        return;
    uint32_t bits = __atomic_load_n(&s->bits, __ATOMIC_ACQUIRE);
    for (;;) {
        if (bits & (ST_WRITTEN | ST_SAVED))
            return;
        if (bits & ST_SAVING) {
            /* Another process is saving it: let it finish before the file changes. */
            for (int i = 0; i < 25000 && (__atomic_load_n(&s->bits, __ATOMIC_ACQUIRE) & ST_SAVING);
                 i++)
                pause_briefly();
            return;
        }
        if (!(bits & ST_INPUT) && !also_unread)
            return;
        if (__atomic_compare_exchange_n(&s->bits, &bits, bits | ST_SAVING | ST_INPUT, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
    }
    save(path, how, s, bits);
}

int snapshot_before_change_at(int dirfd, const char *path, int follow, enum snapshot_how how,
                              int also_unread, int *final_plain)
{
    if (!snapshot_enabled())
        return -1;
    /* Most such calls create new files: one stat of the path as the program gave it (resolved by
     * the kernel exactly as the call will resolve it) answers "nothing to save" far cheaper than
     * resolving and canonicalising the path.  Only regular files are content roar hashes. */
    struct stat st;
    int plain;
    int r = stat_as_open(dirfd, path, follow, &st, &plain);
    if (final_plain)
        *final_plain = plain;
    if (r != 0)
        return errno == ENOENT ? 0 : -1;
    char buf[SHIM_PATH];
    if (!S_ISREG(st.st_mode) || path_resolve_at(dirfd, path, buf, 0) < 0)
        return 1;
    if (follow)
        path_canonical_full(buf);
    else
        path_canonical_parent(buf);
    snapshot_before_change(buf, how, also_unread);
    return 1;
}
