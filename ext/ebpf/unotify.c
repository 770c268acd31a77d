/*
 * unotify.c -- see unotify.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bpf_setup.h"
#include "paths.h"
#include "snapshot.h"
#include "tasks.h"
#include "unotify.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Hashes of the final components the job read (open addressing; 0 marks a free slot). */
static uint64_t *read_names;
static size_t read_names_cap, read_names_used;

static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

static const char *final_component(const char *path, size_t *len)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && path[start - 1] != '/')
        start--;
    *len = n - start;
    return path + start;
}

static int name_slot(uint64_t h, int insert)
{
    for (size_t i = h & (read_names_cap - 1);; i = (i + 1) & (read_names_cap - 1)) {
        if (read_names[i] == h)
            return 1;
        if (read_names[i] == 0) {
            if (insert) {
                read_names[i] = h;
                read_names_used++;
            }
            return 0;
        }
    }
}

void unotify_note_read(const char *path)
{
    if (read_names_used * 2 >= read_names_cap) {
        size_t cap = read_names_cap ? read_names_cap * 2 : 1024;
        uint64_t *grown = calloc(cap, sizeof *grown);
        if (!grown)
            return; /* unread_name() then says "maybe": slower, still correct */
        uint64_t *old = read_names;
        size_t old_cap = read_names_cap;
        read_names = grown;
        read_names_cap = cap;
        read_names_used = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i])
                name_slot(old[i], 1);
        free(old);
    }
    size_t n;
    const char *name = final_component(path, &n);
    name_slot(name_hash(name, n), 1);
}

/* 1 when no file the job read has this final component (so `raw` cannot name an input). */
static int unread_name(const char *raw)
{
    if (!read_names_cap)
        return 1;
    size_t n;
    const char *name = final_component(raw, &n);
    if (n == 0 || (n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
        return 0; /* the name is elsewhere: look it up */
    return !name_slot(name_hash(name, n), 0);
}

/* Linux 6.6: wake the supervisor on the waiting thread's CPU, as a direct switch. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

struct unotify {
    int fd;
    struct seccomp_notif *req;
    struct seccomp_notif_resp *resp;
};

#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t)))
#define STMT(code, k) ((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP(code, k, jt, jf))

/*
 * Notify when the flags argument of an open asks for writing or truncation, unless it has
 * O_CREAT|O_EXCL (the file cannot exist yet: mkstemp, temporary files).  Eight instructions;
 * another syscall jumps over them with the syscall number still loaded.
 */
#define OPEN_BLOCK(nr, arg)                                                                        \
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 7), STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(arg)),        \
        STMT(BPF_ALU | BPF_AND | BPF_K, O_CREAT | O_EXCL),                                         \
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, O_CREAT | O_EXCL, 2, 0),                                   \
        STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(arg)),                                               \
        JUMP(BPF_JMP | BPF_JSET | BPF_K, O_ACCMODE | O_TRUNC, 1, 0),                               \
        STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF)

int unotify_install(void)
{
    /* Calls that always notify jump to the USER_NOTIF at the very end. */
    static const long always[] = {
#ifdef SYS_creat
        SYS_creat,
#endif
#ifdef SYS_rename
        SYS_rename,
#endif
#ifdef SYS_renameat
        SYS_renameat,
#endif
#ifdef SYS_unlink
        SYS_unlink,
#endif
        SYS_openat2, SYS_renameat2, SYS_unlinkat, SYS_truncate, SYS_ftruncate,
    };
    enum { NALWAYS = sizeof always / sizeof always[0] };
    static const struct sock_filter opens[] = {
#ifdef SYS_open
        OPEN_BLOCK(SYS_open, 1),
#endif
        OPEN_BLOCK(SYS_openat, 2),
    };
    struct sock_filter f[3 + sizeof opens / sizeof opens[0] + NALWAYS + 2];
    size_t n = 0;
    /* Another ABI (32-bit code) numbers its syscalls otherwise: not ours to stop. */
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, ROAR_AUDIT_ARCH, 0,
                  (uint8_t)(1 + sizeof opens / sizeof opens[0] + NALWAYS));
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    memcpy(&f[n], opens, sizeof opens);
    n += sizeof opens / sizeof opens[0];
    for (size_t k = 0; k < NALWAYS; k++) {
        /* jeq nr -> the notify at the end: jump over the remaining checks and the ALLOW */
        uint8_t to_notify = (uint8_t)(NALWAYS - k - 1 + 1);
        f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)always[k], to_notify, 0);
    }
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd < 0 && errno == EACCES) {
        /* Without CAP_SYS_ADMIN a filter needs no_new_privs (setuid programs lose their bit). */
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                     &prog);
    }
    return fd < 0 ? -errno : (int)fd;
}

struct unotify *unotify_open(pid_t pid, int child_fd, char *err, size_t errlen)
{
    if (child_fd < 0) {
        snprintf(err, errlen, "seccomp user notification: %s", strerror(-child_fd));
        return NULL;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, child_fd, 0);
    int e = errno;
    if (pidfd >= 0)
        close(pidfd);
    if (fd < 0) {
        snprintf(err, errlen, "cannot take the seccomp listener: %s", strerror(e));
        return NULL;
    }
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
        snprintf(err, errlen, "SECCOMP_GET_NOTIF_SIZES: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    struct unotify *un = calloc(1, sizeof *un);
    if (!un) {
        close(fd);
        return NULL;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* The traced thread waits for our answer: let the kernel hand the CPU straight to us and
     * back (older kernels refuse the flag; the notification works the same, a little slower). */
    ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    un->fd = fd;
    un->req = calloc(1, sizes.seccomp_notif > sizeof *un->req ? sizes.seccomp_notif : sizeof *un->req);
    un->resp = calloc(1, sizes.seccomp_notif_resp > sizeof *un->resp ? sizes.seccomp_notif_resp
                                                                    : sizeof *un->resp);
    if (!un->req || !un->resp) {
        snprintf(err, errlen, "out of memory");
        free(un->req);
        free(un->resp);
        free(un);
        close(fd);
        return NULL;
    }
    return un;
}

int unotify_fd(struct unotify *un)
{
    return un->fd;
}

/* The string at addr in thread tid (stopped in the notification). */
static int read_string(pid_t tid, uint64_t addr, char *out, size_t size)
{
    struct iovec local = {out, size - 1};
    struct iovec remote = {(void *)(uintptr_t)addr, size - 1};
    ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
    if (n <= 0) {
        /* The page after the string may be unmapped: read up to the page end. */
        size_t room = 4096 - (addr & 4095);
        local.iov_len = remote.iov_len = room < size - 1 ? room : size - 1;
        n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
        if (n <= 0)
            return -1;
    }
    out[n] = '\0';
    return memchr(out, '\0', (size_t)n) ? 0 : -1;
}

/*
 * (dirfd, raw) made absolute as the stopped thread sees it now, not normalised: "link/../x" is
 * where the link leads, then up, which only realpath() (path_canonical_*) can tell.
 */
static int resolve_now(pid_t tid, int dirfd, const char *raw, char *out)
{
    if (path_is_absolute(raw)) {
        snprintf(out, ROAR_PATH_BUF, "%s", raw);
        return 0;
    }
    char link[64], base[ROAR_PATH_BUF];
    if (dirfd == AT_FDCWD)
        snprintf(link, sizeof link, "/proc/%d/cwd", (int)tid);
    else
        snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)tid, dirfd);
    ssize_t n = readlink(link, base, sizeof base - 1);
    if (n <= 0)
        return -1;
    base[n] = '\0';
    int m = snprintf(out, ROAR_PATH_BUF, "%s/%s", base, raw);
    return m < 0 || m >= ROAR_PATH_BUF ? -1 : 0;
}

/*
 * Whether the call on (dirfd, raw) by thread tid cannot reach a file the job read: its final
 * component is none the job read (unread_name), and it is not a symlink, whose target could be
 * an input under another name (a symlink in a directory part does not change the final
 * component).  One lstat, where resolving the name would take a readlink per component.
 */
static int cannot_reach_an_input(pid_t tid, int dirfd, const char *raw)
{
    if (!unread_name(raw))
        return 0;
    char name[ROAR_PATH_BUF];
    int n;
    if (path_is_absolute(raw))
        n = snprintf(name, sizeof name, "%s", raw);
    else if (dirfd == AT_FDCWD)
        n = snprintf(name, sizeof name, "/proc/%d/cwd/%s", (int)tid, raw);
    else
        n = snprintf(name, sizeof name, "/proc/%d/fd/%d/%s", (int)tid, dirfd, raw);
    if (n < 0 || (size_t)n >= sizeof name || strncmp(name, "/proc/self", 10) == 0)
        return 0;
    struct stat st;
    if (lstat(name, &st) < 0)
        return errno == ENOENT; /* it will be created */
    return !S_ISLNK(st.st_mode);
}

static void save(pid_t tid, int dirfd, uint64_t addr, int follow, enum snapshot_how how,
                 int also_unread, int64_t open_flags)
{
    char raw[ROAR_PATH_BUF / 2], path[ROAR_PATH_BUF];
    if (read_string(tid, addr, raw, sizeof raw) < 0)
        return;
    if (!also_unread && cannot_reach_an_input(tid, dirfd, raw))
        return; /* nothing the job read can be there: nothing to save */
    if (resolve_now(tid, dirfd, raw, path) < 0)
        return;
    path_fix_proc_self(path, sizeof path, tid, tid);
    if (open_flags & O_CREAT) {
        struct stat st;
        if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
            return; /* it will be created: nothing to save */
    }
    if (follow)
        path_canonical_full(path, sizeof path);
    else
        path_canonical_parent(path, sizeof path);
    path_normalize(path);
    struct task *t = task_find(tid);
    snapshot_before_change(t ? t->proc->tgid : tid, tid, path, how, also_unread);
}

/*
 * truncate(2): the file is named now, while the call waits, for the TRUNCATE record too (see
 * struct task's truncated_name): a symlink on the way may be gone by the time the loader sees
 * the call's event.  Then saved if the job read it.
 */
static void save_truncate(pid_t tid, uint64_t addr)
{
    char raw[ROAR_PATH_BUF / 2], path[ROAR_PATH_BUF];
    if (read_string(tid, addr, raw, sizeof raw) < 0 || resolve_now(tid, AT_FDCWD, raw, path) < 0)
        return;
    path_fix_proc_self(path, sizeof path, tid, tid);
    path_canonical_full(path, sizeof path);
    path_normalize(path);
    struct task *t = task_find(tid);
    if (t) {
        free(t->truncated_name);
        t->truncated_name = strdup(path);
    }
    snapshot_before_change(t ? t->proc->tgid : tid, tid, path, SNAPSHOT_COPY, 0);
}

static void save_open(pid_t tid, int dirfd, uint64_t addr, int64_t flags)
{
    int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    if (!writes || (flags & O_PATH))
        return;
    int keeps_old = (flags & O_ACCMODE) == O_RDWR && !(flags & O_TRUNC);
    save(tid, dirfd, addr, !(flags & O_NOFOLLOW), SNAPSHOT_COPY, keeps_old, flags);
}

static void save_fd(pid_t tid, int fd)
{
    char link[64], path[ROAR_PATH_BUF];
    snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)tid, fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return;
    path[n] = '\0';
    if (!path_is_absolute(path))
        return;
    struct task *t = task_find(tid);
    snapshot_before_change(t ? t->proc->tgid : tid, tid, path, SNAPSHOT_COPY, 0);
}

void unotify_handle(struct unotify *un, struct bpf_tracer *bt)
{
    memset(un->req, 0, sizeof *un->req);
    if (ioctl(un->fd, SECCOMP_IOCTL_NOTIF_RECV, un->req) < 0)
        return; /* the thread was killed meanwhile (ENOENT), or a spurious wake-up */
    /* Every read the job made before this call is in the ring buffer: know them first. */
    bpf_tracer_consume(bt);
    const struct seccomp_data *d = &un->req->data;
    pid_t tid = (pid_t)un->req->pid;
    const __u64 *a = d->args;
    long nr = d->nr;
#ifdef SYS_open
    if (nr == SYS_open)
        save_open(tid, AT_FDCWD, a[0], (int)a[1]);
#endif
#ifdef SYS_creat
    if (nr == SYS_creat)
        save_open(tid, AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC);
#endif
    if (nr == SYS_openat) {
        save_open(tid, (int)a[0], a[1], (int)a[2]);
    } else if (nr == SYS_openat2) {
        uint64_t flags = 0;
        struct iovec local = {&flags, sizeof flags};
        struct iovec remote = {(void *)(uintptr_t)a[2], sizeof flags};
        if (process_vm_readv(tid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof flags)
            save_open(tid, (int)a[0], a[1], (int64_t)flags);
    } else if (nr == SYS_truncate) {
        save_truncate(tid, a[0]);
    } else if (nr == SYS_ftruncate) {
        save_fd(tid, (int)a[0]);
#ifdef SYS_rename
    } else if (nr == SYS_rename) {
        save(tid, AT_FDCWD, a[1], 0, SNAPSHOT_LINK, 0, 0);
#endif
#ifdef SYS_renameat
    } else if (nr == SYS_renameat) {
        save(tid, (int)a[2], a[3], 0, SNAPSHOT_LINK, 0, 0);
#endif
    } else if (nr == SYS_renameat2) {
        if (!((unsigned)a[4] & RENAME_EXCHANGE))
            save(tid, (int)a[2], a[3], 0, SNAPSHOT_LINK, 0, 0);
#ifdef SYS_unlink
    } else if (nr == SYS_unlink) {
        save(tid, AT_FDCWD, a[0], 0, SNAPSHOT_LINK, 0, 0);
#endif
    } else if (nr == SYS_unlinkat) {
        if (!((int)a[2] & AT_REMOVEDIR))
            save(tid, (int)a[0], a[1], 0, SNAPSHOT_LINK, 0, 0);
    }
    memset(un->resp, 0, sizeof *un->resp);
    un->resp->id = un->req->id;
    un->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    ioctl(un->fd, SECCOMP_IOCTL_NOTIF_SEND, un->resp);
}
