/*
 * main.c -- roar-ebpf: run a command while eBPF programs in the kernel watch what its process
 * tree does with files, and write that to a descriptor as records of the wire format in
 * ext/events.h -- the same records, on the same terms, as roar-ptrace (ext/README.md).
 *
 *   roar-ebpf --event-fd N [--parent-pid PID] [--bpf-object FILE] [--ring-bytes N]
 *             [--snapshot-dir DIR] [--skip-reads-under PREFIX]... [--keep-reads-under PREFIX]...
 *             [--keep-reads-containing SUBSTR]... [--verbose] -- CMD [ARGS...]
 *
 * Order of things, so that nothing the command does is missed: load the programs (roar.bpf.o,
 * next to this binary unless --bpf-object), fork the child and hold it on a pipe, put its pid in
 * the traced map, attach the programs, then let it exec the command.  Its children join the map
 * in the kernel as they are forked.  We are the child subreaper, so orphans of the tree come to
 * us, and the run ends when the last of them is reaped; the ring buffer is drained then (every
 * process's events precede its exit), and END is written.
 *
 * Failures are never an empty success: when the programs cannot be loaded or attached, we exit
 * 125 with one line on stderr and no END; when the command exec'd but the kernel half reported
 * nothing of it, likewise.  Events the ring buffer had no room for are counted in the kernel,
 * reported in a WARN record and in END's arg1.
 *
 * Exit status and signals as roar-ptrace: the command's exit code or 128+signal; 127/126 when it
 * cannot be executed; SIGINT and SIGQUIT ignored, SIGTERM and SIGHUP forwarded to the command.
 * SIGUSR1 (roar's second Ctrl-C) kills the whole traced tree.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tracer_cli.h"
#include "bpf_setup.h"
#include "emit.h"
#include "handlers.h"
#include "log.h"
#include "snapshot.h"
#include "tasks.h"
#include "unotify.h"

#define DEFAULT_OBJECT "roar-ebpf.bpf.o"
/* How often the ring buffer is drained when nothing woke us: how late a record may reach roar. */
#define DRAIN_INTERVAL_MS 5

static void usage(void)
{
    fprintf(stderr, "usage: roar-ebpf --event-fd N [--parent-pid PID] [--bpf-object FILE] "
                    "[--ring-bytes N] [--snapshot-dir DIR] [--skip-reads-under PREFIX]... "
                    "[--keep-reads-under PREFIX]... [--keep-reads-containing SUBSTR]... "
                    "[--verbose] -- CMD [ARGS...]\n");
    exit(2);
}

/* A numeric option's value, at least `min`; anything else is a usage error. */
static long number_option(const char *v, long min)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < min)
        usage();
    return n;
}

static void add_skip_option(struct roar_skip_list *list, const char *value, int is_prefix)
{
    int added = roar_skip_option(list, value, is_prefix);
    if (added == -1)
        usage();
    if (added == -2) {
        log_error("out of memory");
        exit(125);
    }
}

/* The BPF object installed next to this program. */
static void default_object(char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(out, size, "%s", DEFAULT_OBJECT);
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(out, size, "%s/%s", self, DEFAULT_OBJECT);
}

static volatile pid_t forward_pid;

static void forward_signal(int sig)
{
    pid_t pid = forward_pid;
    if (pid > 0)
        kill(pid, sig);
}

/*
 * The child, between fork and exec (async-signal-safe calls only): wait on `go` until it is
 * traced, then exec.  A failed exec sends errno through the close-on-exec status pipe.
 */
static void child(char **argv, int go_fd, int status_fd, const sigset_t *mask, pid_t loader,
                  int notify_fd_out)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* until it execs, it dies with us */
    if (getppid() != loader)
        _exit(125);
    sigprocmask(SIG_SETMASK, mask, NULL);
    int listener = -1;
    if (notify_fd_out >= 0) {
        listener = unotify_install();
        roar_write_all(notify_fd_out, &listener, sizeof listener);
        close(notify_fd_out);
    }
    char go;
    ssize_t n;
    do {
        n = read(go_fd, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(125); /* the loader could not start tracing */
    close(go_fd);
    /* The loader has its own copy by now; ours would keep notifications waiting for no one. */
    if (listener >= 0)
        close(listener);
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    execvp(argv[0], argv);
    int err = errno;
    roar_write_all(status_fd, &err, sizeof err);
    _exit(err == ENOENT ? 127 : 126);
}

static void kill_process(pid_t tgid)
{
    kill(tgid, SIGKILL);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Epoll tags. */
enum { WAKE_RING = 0, WAKE_SIGNAL = 1 };

/*
 * The loader's state (the ring buffer's consumer, the task table, the records being written, the
 * snapshot bookkeeping) is shared by the main loop below and the thread answering snapshot
 * checks: one lock, held while either works on it.
 */
static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;

struct notify_server {
    struct unotify *un;
    struct bpf_tracer *bt;
    int stop; /* set by the main thread once the tree has ended */
};

/*
 * Snapshot checks are answered by a thread of their own, waiting in poll(2) on the listener
 * itself: the kernel then wakes it on the CPU of the thread that stopped at the check
 * (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) and hands that CPU straight back after the answer.
 * Behind epoll the hint is lost (epoll's own wake-up carries no CPU), and each check paid for a
 * wake-up of the loader on the other CPU: about 25 us more per open for writing on the 2-CPU VM
 * (docs/performance.md).  The thread ends when the listener hangs up (the last process of the
 * tree is gone) or when told to.
 */
static void *serve_notifications(void *arg)
{
    struct notify_server *ns = arg;
    struct pollfd p = {.fd = unotify_fd(ns->un), .events = POLLIN};
    while (!__atomic_load_n(&ns->stop, __ATOMIC_ACQUIRE)) {
        int n = poll(&p, 1, 100);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (p.revents & POLLIN) {
            pthread_mutex_lock(&loader_lock);
            unotify_handle(ns->un, ns->bt);
            pthread_mutex_unlock(&loader_lock);
        }
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
            break;
    }
    return NULL;
}

/*
 * Turn events into records until every process of the tree has ended (we are the subreaper, so
 * that is when waitpid says ECHILD).  Returns the root's wait status.
 *
 * Records are written out at least every DRAIN_INTERVAL_MS, not after each wake-up: a snapshot
 * check wakes us once per write-open, and a write(2) each time would add a syscall to every one
 * for nothing (roar reads in batches anyway).  Children are reaped only when SIGCHLD says one
 * ended.
 */
static int wait_for_tree(struct bpf_tracer *bt, int ep, int sig_fd, pid_t root)
{
    int root_status = W_EXITCODE(125, 0);
    long flushed_at = now_ms();
    for (;;) {
        struct epoll_event got[4];
        /* The kernel half wakes us only when the ring fills up (roar.bpf.c wake_flags). */
        int n = epoll_wait(ep, got, 4, DRAIN_INTERVAL_MS);
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait: %s", strerror(errno));
            return root_status;
        }
        pthread_mutex_lock(&loader_lock);
        bpf_tracer_consume(bt);
        int reap = 0;
        for (int k = 0; k < n; k++)
            if (got[k].data.u32 == WAKE_SIGNAL)
                reap = 1;
        long now = now_ms();
        if (n <= 0 || now - flushed_at >= DRAIN_INTERVAL_MS) {
            emit_flush(); /* roar never waits long for records sitting in our buffer */
            flushed_at = now;
        }
        if (!reap) {
            pthread_mutex_unlock(&loader_lock);
            continue;
        }
        struct signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGUSR1) {
                VLOG("killing the traced tree");
                task_each_process(kill_process);
            }
        }
        pthread_mutex_unlock(&loader_lock);
        for (;;) {
            int status;
            pid_t w = waitpid(-1, &status, WNOHANG);
            if (w > 0) {
                if (w == root) {
                    root_status = status;
                    forward_pid = 0; /* the pid may be reused: never signal it again */
                }
                continue;
            }
            if (w < 0 && errno == ECHILD)
                return root_status; /* every process of the tree has ended */
            break;
        }
    }
}

int main(int argc, char **argv)
{
    log_program = "roar-ebpf";
    int event_fd = -1;
    pid_t parent_pid = 0;
    unsigned long ring_bytes = 0;
    const char *object = NULL;
    const char *snapshot_dir = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if ((v = roar_option_value(argc, argv, &i, "--event-fd"))) {
            event_fd = (int)number_option(v, 0);
        } else if ((v = roar_option_value(argc, argv, &i, "--parent-pid"))) {
            parent_pid = (pid_t)number_option(v, 1);
        } else if ((v = roar_option_value(argc, argv, &i, "--ring-bytes"))) {
            ring_bytes = (unsigned long)number_option(v, 1);
        } else if ((v = roar_option_value(argc, argv, &i, "--bpf-object"))) {
            object = v;
        } else if ((v = roar_option_value(argc, argv, &i, "--snapshot-dir"))) {
            snapshot_dir = v;
        } else if ((v = roar_option_value(argc, argv, &i, "--skip-reads-under"))) {
            add_skip_option(&skip_reads.skip, v, 1);
        } else if ((v = roar_option_value(argc, argv, &i, "--keep-reads-under"))) {
            add_skip_option(&skip_reads.keep, v, 1);
        } else if ((v = roar_option_value(argc, argv, &i, "--keep-reads-containing"))) {
            add_skip_option(&skip_reads.keep_sub, v, 0);
        } else if (strcmp(a, "--verbose") == 0) {
            log_verbose_enabled = 1;
        } else {
            usage();
        }
    }
    if (event_fd < 0 || i >= argc)
        usage();
    if (ring_bytes && (ring_bytes & (ring_bytes - 1))) {
        log_error("--ring-bytes %lu: must be a power of two", ring_bytes);
        return 2;
    }
    if (parent_pid > 0) {
        /* Die with roar: nobody would read the events. */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != parent_pid)
            return 125;
    }
    char **cmd = &argv[i];
    if (emit_init(event_fd) < 0) {
        log_error("--event-fd %d: %s", event_fd, strerror(errno));
        return 2;
    }
    char default_path[PATH_MAX + 32];
    if (!object) {
        default_object(default_path, sizeof default_path);
        object = default_path;
    }
    char err[512];
    struct bpf_tracer *bt = bpf_tracer_load(object, ring_bytes, err, sizeof err);
    if (!bt) {
        log_error("%s", err);
        return 125;
    }
    int snapshot_err = 0;
    if (snapshot_dir && snapshot_init(snapshot_dir) < 0) {
        snapshot_err = errno;
        log_error("--snapshot-dir %s: %s: no snapshots", snapshot_dir, strerror(errno));
    }
    char cwd[ROAR_PATH_BUF];
    if (!getcwd(cwd, sizeof cwd)) {
        log_error("getcwd: %s", strerror(errno));
        return 125;
    }
    /* Orphans of the traced tree are reparented to us, so we can wait for all of them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    int go_pipe[2], status_pipe[2], notify_pipe[2] = {-1, -1};
    if (pipe2(go_pipe, O_CLOEXEC) < 0 || pipe2(status_pipe, O_CLOEXEC) < 0 ||
        (snapshot_enabled() && pipe2(notify_pipe, O_CLOEXEC) < 0)) {
        log_error("pipe: %s", strerror(errno));
        return 125;
    }
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old_mask);

    pid_t loader = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        return 125;
    }
    if (pid == 0) {
        close(go_pipe[1]);
        close(status_pipe[0]);
        if (notify_pipe[0] >= 0)
            close(notify_pipe[0]);
        child(cmd, go_pipe[0], status_pipe[1], &old_mask, loader, notify_pipe[1]);
    }
    close(go_pipe[0]);
    close(status_pipe[1]);
    forward_pid = pid;

    struct unotify *un = NULL;
    if (notify_pipe[0] >= 0) {
        close(notify_pipe[1]);
        int child_fd = -1;
        ssize_t n;
        do {
            n = read(notify_pipe[0], &child_fd, sizeof child_fd);
        } while (n < 0 && errno == EINTR);
        close(notify_pipe[0]);
        un = unotify_open(pid, n == (ssize_t)sizeof child_fd ? child_fd : -EPIPE, err, sizeof err);
        if (!un) {
            log_error("--snapshot-dir: %s", err);
            snapshot_err = snapshot_err ? snapshot_err : ENOTSUP;
        }
    }

    if (bpf_tracer_add(bt, pid, err, sizeof err) < 0 ||
        bpf_tracer_attach(bt, err, sizeof err) < 0) {
        /* No END: roar must see this as a tracer failure, not as the command's result. */
        log_error("%s", err);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 125;
    }
    handlers_root(pid, cwd);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL); /* a vanished reader is an EPIPE, handled in emit.c */
    sa.sa_handler = forward_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, SIGCHLD);
    sigaddset(&wake, SIGUSR1);
    int sig_fd = signalfd(-1, &wake, SFD_CLOEXEC | SFD_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ee = {.events = EPOLLIN};
    ee.data.u32 = WAKE_RING;
    epoll_ctl(ep, EPOLL_CTL_ADD, bpf_tracer_fd(bt), &ee);
    ee.data.u32 = WAKE_SIGNAL;
    epoll_ctl(ep, EPOLL_CTL_ADD, sig_fd, &ee);
    /* SIGTERM/SIGHUP are handled; SIGCHLD and SIGUSR1 stay blocked, read from sig_fd. */
    sigset_t handled;
    sigemptyset(&handled);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGQUIT);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &handled, NULL);

    emit_record(ROAR_EVK_HELLO, 0, pid, 0, ROAR_EVT_VERSION, 0, 0, "ebpf", NULL);
    if (snapshot_err)
        emit_warn(pid, pid, "--snapshot-dir %s: %s: inputs changed by the job are not saved",
                  snapshot_dir, strerror(snapshot_err));
    /* Created with SIGCHLD and SIGUSR1 still blocked: they stay sig_fd's to read. */
    struct notify_server ns = {.un = un, .bt = bt};
    pthread_t notifier;
    int serving = un && pthread_create(&notifier, NULL, serve_notifications, &ns) == 0;
    if (un && !serving) {
        /* Nobody would answer the checks: the command would stop at its first write. */
        log_error("cannot start the snapshot thread");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 125;
    }
    roar_write_all(go_pipe[1], "g", 1);
    close(go_pipe[1]);

    int root_status = wait_for_tree(bt, ep, sig_fd, pid);
    if (serving) {
        __atomic_store_n(&ns.stop, 1, __ATOMIC_RELEASE);
        pthread_join(notifier, NULL);
    }
    bpf_tracer_consume(bt); /* what the last processes did before they ended */

    int exec_err = 0;
    int exec_failed = read(status_pipe[0], &exec_err, sizeof exec_err) == (ssize_t)sizeof exec_err;
    if (exec_failed) {
        log_error("cannot execute %s: %s", cmd[0], strerror(exec_err));
        root_status = W_EXITCODE(exec_err == ENOENT ? 127 : 126, 0);
    }
    uint64_t lost_events = bpf_tracer_lost(bt, 0);
    uint64_t lost_procs = bpf_tracer_lost(bt, 1);
    if (lost_events) {
        char msg[256];
        snprintf(msg, sizeof msg, "the eBPF ring buffer was full: %llu events were lost (the "
                 "job's inputs and outputs may be incomplete)", (unsigned long long)lost_events);
        VLOG("%s", msg); /* roar shows the WARN record */
        emit_record(ROAR_EVK_WARN, 0, pid, pid,
                    (int32_t)(lost_events > INT32_MAX ? INT32_MAX : lost_events), 0, 0, msg, NULL);
        emit_count_lost((unsigned)lost_events);
    }
    if (lost_procs) {
        emit_warn(pid, pid, "%llu processes were not traced: the traced map was full",
                  (unsigned long long)lost_procs);
        emit_count_lost((unsigned)lost_procs);
    }
    if (!exec_failed && !handlers_root_exec_seen()) {
        /* The command ran, but the kernel half said nothing of it: never an empty success. */
        log_error("the eBPF programs reported nothing of %s (its exec was not seen); "
                  "refusing to report an empty trace", cmd[0]);
        emit_flush();
        return 125;
    }
    emit_record(ROAR_EVK_END, 0, pid, 0, root_status, emit_lost(), 0, NULL, NULL);
    emit_flush();
    bpf_tracer_close(bt);

    if (WIFSIGNALED(root_status))
        return 128 + WTERMSIG(root_status);
    if (WIFEXITED(root_status))
        return WEXITSTATUS(root_status);
    return 125;
}
