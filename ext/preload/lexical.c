/*
 * lexical.c -- an open's path from the path the call gave, without asking /proc.
 *
 * paths.c takes the kernel's word for what a descriptor names: readlink("/proc/<pid>/fd/N"),
 * 1-2.4 us per open on this project's VM, most of what an OPEN record costs the program.  The
 * path the call gave is the same answer whenever nothing on it is a symlink and it has no "..":
 * then the kernel's own walk and a lexical join with the working directory meet.  So:
 *
 *   - the working directory is cached per process (getcwd once; chdir/fchdir, and a rename of a
 *     directory, which may have moved it, make it read again);
 *   - a directory is "known" once this process saw the kernel name a file in it by exactly the
 *     lexical path (the readlink answer equal to the join): every component of it is then a real
 *     directory.  Known directories are 128-bit hashes of their path in a small table;
 *   - the final component must not be a symlink: an O_CREAT|O_EXCL or O_NOFOLLOW open that
 *     succeeded says so itself; a writing open's look before the call (stat_as_open, which the
 *     snapshot and "created" checks make anyway) says so at no extra cost; a read pays one
 *     lstat, about a third of the readlink.
 *
 * Anything else (a "..", a trailing '/', a descriptor-relative path, an unknown directory, a
 * final symlink, no ring) asks /proc as before, and a match teaches the table.  What could make a
 * known directory lie is a directory replaced by a symlink under the same name: a rename of a
 * directory or an rmdir by any process of the traced tree bumps a count in the shared ring
 * (ext/ring.h), which every process's table is keyed by, so all of them forget.  A program
 * outside the traced tree doing that to a directory the job is using, while it uses it, is not
 * seen: the path recorded is then the one the program used (as the ptrace tracer's lexical
 * answers for rename and unlink are).  The generation is read before the kernel is asked, so an
 * answer that raced with a change is learnt under the old one and never matches.
 */
#define _GNU_SOURCE
#include "shim.h"
#include "path_normalize.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- known directories ------------------------------------------------------------------------- */

/*
 * Entries are keyed by the directory's hash mixed with the tree's count of directory changes
 * (ring_dirs_generation): once any process of the tree renames or removes a directory, every
 * entry stops matching, with nothing to clear.  Without the ring there is no such count, and
 * nothing is known.
 */
#define KNOWN_SLOTS 1024 /* direct-mapped: a collision only costs a readlink */
static uint64_t known[KNOWN_SLOTS][2];

static void known_key(const char *dir, size_t n, uint32_t generation, uint64_t *a, uint64_t *b)
{
    path_hash128(dir, n, a, b);
    *a ^= (uint64_t)generation * 0x9e3779b97f4a7c15ULL;
    *b ^= (uint64_t)generation * 0xc2b2ae3d27d4eb4fULL;
    if (*a == 0)
        *a = 1; /* 0 is an empty slot */
}

static int known_dir(const char *dir, size_t n, uint32_t generation)
{
    if (n == 0)
        return 1; /* the root */
    uint64_t a, b;
    known_key(dir, n, generation, &a, &b);
    uint64_t *slot = known[a & (KNOWN_SLOTS - 1)];
    /* A torn read (another thread mid-store) mixes two entries' halves: no key matches that. */
    return __atomic_load_n(&slot[0], __ATOMIC_RELAXED) == a &&
           __atomic_load_n(&slot[1], __ATOMIC_RELAXED) == b;
}

static void known_dir_add(const char *dir, size_t n, uint32_t generation)
{
    if (n == 0)
        return;
    uint64_t a, b;
    known_key(dir, n, generation, &a, &b);
    uint64_t *slot = known[a & (KNOWN_SLOTS - 1)];
    __atomic_store_n(&slot[0], a, __ATOMIC_RELAXED);
    __atomic_store_n(&slot[1], b, __ATOMIC_RELAXED);
}

/* ---- the working directory ---------------------------------------------------------------------- */

/* Lock-free invalidation (chdir may run in a signal handler that interrupted a reader holding
 * the lock); the lock only orders readers refreshing the copy.  The copy is also stale once the
 * tree renamed or removed a directory (the working directory may have moved). */
static unsigned cwd_generation = 1;
static unsigned cwd_cached_generation; /* 0: never read */
static uint32_t cwd_cached_dirs;
static char cwd_buf[SHIM_PATH];
static pthread_mutex_t cwd_lock = PTHREAD_MUTEX_INITIALIZER;

static int cwd_get(char *out, uint32_t dirs)
{
    int ok = 0;
    pthread_mutex_lock(&cwd_lock);
    unsigned now = __atomic_load_n(&cwd_generation, __ATOMIC_ACQUIRE);
    if ((cwd_cached_generation != now || cwd_cached_dirs != dirs) && shim_in_hookless_child()) {
        /* A vfork child runs in its parent's memory: what it chdir'd to is not the parent's. */
        ok = getcwd(out, SHIM_PATH) && out[0] == '/' ? 0 : -1;
        pthread_mutex_unlock(&cwd_lock);
        return ok;
    }
    if (cwd_cached_generation != now || cwd_cached_dirs != dirs) {
        /* The generations are read before getcwd: a chdir racing with this makes the next
         * caller read it again. */
        if (!getcwd(cwd_buf, sizeof cwd_buf) || cwd_buf[0] != '/') {
            ok = -1;
        } else {
            cwd_cached_generation = now;
            cwd_cached_dirs = dirs;
        }
    }
    if (ok == 0)
        strcpy(out, cwd_buf);
    pthread_mutex_unlock(&cwd_lock);
    return ok;
}

void lexical_cwd_changed(void)
{
    __atomic_add_fetch(&cwd_generation, 1, __ATOMIC_RELEASE);
}

void lexical_dirs_changed(void)
{
    ring_dirs_changed();
    lexical_cwd_changed(); /* also without a ring */
}

void lexical_after_fork(void)
{
    pthread_mutex_init(&cwd_lock, NULL); /* another thread may have held it at fork time */
}

/* ---- an open's path ------------------------------------------------------------------------------ */

int stat_as_open(int dirfd, const char *path, int follow, struct stat *st, int *final_plain)
{
    *final_plain = 0;
    if (fstatat(dirfd, path, st, AT_SYMLINK_NOFOLLOW) != 0) {
        /* Absent: the open creates a file by this very name (a dangling symlink reads as a
         * symlink, not absent). */
        *final_plain = errno == ENOENT;
        return -1;
    }
    if (!S_ISLNK(st->st_mode)) {
        *final_plain = 1;
        return 0;
    }
    return follow ? fstatat(dirfd, path, st, 0) : 0;
}

/* A path the kernel may resolve differently from a lexical join: "..", or a final "." or '/'
 * (the kernel follows a final symlink then, which the lstat below would not see). */
static int lexically_unsafe(const char *path)
{
    const char *p = path;
    for (;;) {
        const char *end = strchrnul(p, '/');
        if (end - p == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        if (!*end)
            return end - p == 0 || (end - p == 1 && p[0] == '.');
        p = end + 1;
    }
}

int lexical_open_path(int dirfd, const char *path, int final_plain, char *out,
                      uint32_t *generation)
{
    if (!path || !*path || lexically_unsafe(path) || ring_dirs_generation(generation) < 0)
        return -1;
    size_t p = strlen(path);
    if (path[0] == '/') {
        if (p >= SHIM_PATH)
            return -1;
        memcpy(out, path, p + 1);
    } else {
        if (dirfd != AT_FDCWD || cwd_get(out, *generation) < 0)
            return -1;
        size_t b = strlen(out);
        if (b + 1 + p >= SHIM_PATH)
            return -1;
        out[b] = '/';
        memcpy(out + b + 1, path, p + 1);
    }
    roar_path_normalize(out);
    const char *slash = strrchr(out, '/');
    if (!slash || !slash[1] || !known_dir(out, (size_t)(slash - out), *generation))
        return 1;
    if (!final_plain) {
        struct stat st;
        if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISLNK(st.st_mode))
            return 1;
    }
    return 0;
}

void lexical_learn(const char *lexical, const char *kernel, uint32_t generation)
{
    if (strcmp(lexical, kernel) != 0)
        return;
    const char *slash = strrchr(lexical, '/');
    if (slash)
        known_dir_add(lexical, (size_t)(slash - lexical), generation);
}
