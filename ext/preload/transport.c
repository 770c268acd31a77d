/*
 * transport.c -- the connection to roar.
 *
 * roar listens on a Unix SOCK_SEQPACKET socket whose path is in ROAR_PRELOAD_SOCK.  Records go
 * into the tree's shared-memory ring (ring.c, ext/ring.h) when roar made one; the connection then
 * carries one-byte wake-ups, and still tells roar when the tree is done.  Without a ring each
 * record is one sendmsg(2): a SEQPACKET message is delivered whole or not at all, so records from
 * many processes and threads sharing a connection never interleave.
 *
 * One connection per process tree, inherited.  The connected descriptor sits at a high number
 * (the lowest free one >= 900) and is deliberately NOT close-on-exec: a fork child shares it, and
 * so does the program an exec starts (its number travels in ROAR_PRELOAD_FD).  Everything the
 * tree does then reaches roar through one kernel queue, in the order it happened, which is what
 * the recorder's "the first access decides" rule needs: `sh -c 'echo x > f; cat f'` must show the
 * write before cat's read, and with a connection per process roar could read them in either
 * order.  It is also how roar knows when the tree is done: the connection closes when the last
 * process holding it has exited, including a daemonised grandchild.
 *
 * After an exec the descriptor might be anything (programs close descriptors), so it is adopted
 * only if it is a SEQPACKET socket whose peer is roar's socket path; otherwise the process
 * connects anew.  The program cannot close our descriptor or dup2 over it (files.c wraps close,
 * close_range, closefrom, dup2, dup3): such calls behave as if our descriptor did not exist.
 *
 * Never blocking forever: sends wait for roar to drain the queue (back-pressure, not loss), but at
 * most SEND_TIMEOUT seconds (SO_SNDTIMEO, which bounds connect too).  After such a stall, or once
 * roar is gone (EPIPE, ECONNREFUSED), the process stops sending and only counts what it could not
 * report.  SIGPIPE is never raised (MSG_NOSIGNAL).
 */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define CONN_MIN_FD 900
#define SEND_TIMEOUT 30 /* seconds */

static int conn_fd = -1;
static int conn_broken; /* roar is gone: stop trying */
static struct sockaddr_un sock_addr;
static socklen_t sock_addr_len;
static pid_t hello_pid;
static uint64_t lost;

static void raw_close(int fd)
{
    syscall(SYS_close, fd);
}

uint64_t transport_lost(void)
{
    return __atomic_load_n(&lost, __ATOMIC_RELAXED);
}


int transport_fd(void)
{
    return __atomic_load_n(&conn_fd, __ATOMIC_ACQUIRE);
}

/* Is fd a SEQPACKET socket connected to roar's path? */
static int is_roar_socket(int fd)
{
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET)
        return 0;
    struct sockaddr_un peer;
    socklen_t plen = sizeof peer;
    memset(&peer, 0, sizeof peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0 || peer.sun_family != AF_UNIX)
        return 0;
    return strncmp(peer.sun_path, sock_addr.sun_path, sizeof peer.sun_path) == 0;
}

/* The lowest descriptor number to park the connection at: 900, or less under a low limit. */
static int park_floor(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur <= CONN_MIN_FD + 16) {
        long floor = (long)rl.rlim_cur - 16;
        return floor > 10 ? (int)floor : 10;
    }
    return CONN_MIN_FD;
}

/* Move fd to a high number (not close-on-exec); returns the new descriptor or fd. */
static int park(int fd)
{
    int high = fcntl(fd, F_DUPFD, park_floor());
    if (high < 0)
        return fd;
    raw_close(fd);
    return high;
}

static int connect_new(void)
{
    if (conn_broken || sock_addr_len == 0)
        return -1;
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct timeval tv = {SEND_TIMEOUT, 0};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    /* Room for ~5,000 records in flight (the kernel caps it at net.core.wmem_max): with the
     * default (~200 KB, ~280 small records) a program that opens files in a tight loop blocks
     * in sendmsg whenever roar is busy for a millisecond -- 17 % of the wall time of writing
     * and reading 20,000 files under roar (scripts/bench/tracing.py (a)). */
    int sndbuf = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    int r;
    do {
        r = connect(s, (struct sockaddr *)&sock_addr, sock_addr_len);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno == ECONNREFUSED || errno == ENOENT)
            conn_broken = 1; /* nobody listens any more */
        raw_close(s);
        return -1;
    }
    s = park(s);
    /* Inherited through exec on purpose (see the top of this file). */
    fcntl(s, F_SETFD, 0);
    return s;
}

int transport_init(const char *sock_path)
{
    size_t n = strlen(sock_path);
    if (n >= sizeof sock_addr.sun_path)
        return -1;
    memset(&sock_addr, 0, sizeof sock_addr);
    sock_addr.sun_family = AF_UNIX;
    memcpy(sock_addr.sun_path, sock_path, n + 1);
    sock_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);

    const char *inherited = getenv(ENV_FD);
    int candidate = inherited && *inherited ? atoi(inherited) : CONN_MIN_FD;
    if (candidate >= 0 && fcntl(candidate, F_GETFD) >= 0 && is_roar_socket(candidate)) {
        conn_fd = candidate;
        return 0;
    }
    conn_fd = connect_new();
    return conn_fd >= 0 ? 0 : -1;
}

void transport_evacuate(int fd)
{
    int cur = transport_fd();
    if (cur < 0 || fd != cur)
        return;
    int moved = fcntl(cur, F_DUPFD, park_floor());
    if (moved < 0) {
        __atomic_store_n(&conn_fd, -1, __ATOMIC_RELEASE);
        return;
    }
    /* The old number now belongs to the program (its dup2 replaces it). */
    __atomic_store_n(&conn_fd, moved, __ATOMIC_RELEASE);
}

void transport_after_fork(void)
{
    /* hello_pid no longer matches our pid: the child's first record will be its HELLO.  Its
     * lost count starts at zero (the parent reports its own). */
    __atomic_store_n(&lost, 0, __ATOMIC_RELAXED);
}

static int send_record(int fd, const struct roar_evt_header *h, const char *p1, const char *p2)
{
    struct iovec iov[3];
    int n = 0;
    iov[n].iov_base = (void *)h;
    iov[n++].iov_len = sizeof *h;
    if (h->len1) {
        iov[n].iov_base = (void *)p1;
        iov[n++].iov_len = h->len1;
    }
    if (h->len2) {
        iov[n].iov_base = (void *)p2;
        iov[n++].iov_len = h->len2;
    }
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)n;
    ssize_t r;
    do {
        r = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -1 : 0;
}

static void make_header(struct roar_evt_header *h, pid_t pid, pid_t tid, uint8_t kind,
                        uint8_t flags, int32_t arg0, int64_t arg1, uint32_t arg2,
                        const char *path1, const char *path2)
{
    size_t len1 = path1 ? strlen(path1) : 0;
    size_t len2 = path2 ? strlen(path2) : 0;
    if (roar_evt_fit(&len1, &len2))
        flags |= ROAR_EVF_TRUNCATED;
    *h = (struct roar_evt_header){
        .size = (uint16_t)(ROAR_EVT_HEADER_SIZE + len1 + len2),
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
}

void emit_raw(pid_t pid, pid_t tid, uint8_t kind, uint8_t flags, int32_t arg0, int64_t arg1,
              uint32_t arg2, const char *path1, const char *path2)
{
    struct roar_evt_header h;
    make_header(&h, pid, tid, kind, flags, arg0, arg1, arg2, path1, path2);
    /* Into the ring like every other record when there is one: the order of the tree's records
     * is the ring's, and a vfork child's HELLO and FORK must come before what its exec'd image
     * reports (a FORK sent on the socket could be read after them). */
    if (ring_put(pid, &h, path1, path2, 1) != -1)
        return;
    int fd = transport_fd();
    if (fd >= 0)
        send_record(fd, &h, path1, path2);
}

void transport_wake(void)
{
    /* One byte: roar tells a wake-up from a record (>= 32 bytes) by its size.  Never waits: a
     * socket full of them has woken roar already. */
    int fd = transport_fd();
    if (fd >= 0) {
        ssize_t ignored = send(fd, "", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)ignored;
    }
}

void emit_for(pid_t pid, pid_t tid, uint8_t kind, uint8_t flags, int32_t arg0, int64_t arg1,
              uint32_t arg2, const char *path1, const char *path2)
{
    struct roar_evt_header h;
    make_header(&h, pid, tid, kind, flags, arg0, arg1, arg2, path1, path2);
    int put = ring_put(pid, &h, path1, path2, 0);
    if (put == 0)
        return;
    if (put == -2) /* roar left the ring full too long: as a stalled socket, stop waiting */
        return;    /* (counted in the ring's given_up, which roar reports) */
    for (int attempt = 0; attempt < 2 && !conn_broken; attempt++) {
        int fd = transport_fd();
        if (fd < 0) {
            if (shim_in_hookless_child())
                return; /* a vfork child must not create a descriptor the parent would trust */
            fd = connect_new();
            if (fd < 0)
                break;
            int expected = -1;
            if (!__atomic_compare_exchange_n(&conn_fd, &expected, fd, 0, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE)) {
                raw_close(fd); /* another thread connected first */
                fd = expected;
            }
        }
        if (send_record(fd, &h, path1, path2) == 0)
            return;
        if (errno == ENOTSOCK || errno == EBADF || errno == ENOTCONN) {
            /* The descriptor was taken from us behind our back: connect again, once. */
            int expected = fd;
            __atomic_compare_exchange_n(&conn_fd, &expected, -1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE);
            continue;
        }
        /* roar is gone (EPIPE...), or has not read for SEND_TIMEOUT seconds (EAGAIN): either way
         * stop sending, so the program is never held up again. */
        if (errno == EPIPE || errno == ECONNRESET || errno == ECONNREFUSED || errno == EAGAIN)
            conn_broken = 1;
        break;
    }
    __atomic_add_fetch(&lost, 1, __ATOMIC_RELAXED);
}

void emit_hello(void)
{
    pid_t pid = shim_getpid();
    if (__atomic_exchange_n(&hello_pid, pid, __ATOMIC_ACQ_REL) == pid)
        return;
    emit_for(pid, shim_gettid(), ROAR_EVK_HELLO, 0, ROAR_EVT_VERSION, 0, 0, "preload", NULL);
}

void emit(uint8_t kind, uint8_t flags, int32_t arg0, int64_t arg1, uint32_t arg2,
          const char *path1, const char *path2)
{
    pid_t pid = shim_getpid();
    if (__atomic_load_n(&hello_pid, __ATOMIC_ACQUIRE) != pid)
        emit_hello();
    emit_for(pid, shim_gettid(), kind, flags, arg0, arg1, arg2, path1, path2);
}

void emit_warn(unsigned lost_events, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(ROAR_EVK_WARN, 0, (int32_t)lost_events, 0, 0, msg, NULL);
}
