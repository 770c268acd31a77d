/*
 * main.c -- roar-ptrace: run a command under ptrace and write what its process tree does with
 * files to a descriptor, as records of the wire format in ext/events.h.
 *
 *   roar-ptrace --event-fd N [--snapshot-dir DIR] [--skip-reads-under PREFIX]...
 *               [--keep-reads-under PREFIX]... [--keep-reads-containing SUBSTR]...
 *               [--verbose] [--no-seccomp] [--no-syscall-info] -- CMD [ARGS...]
 *
 * --snapshot-dir DIR saves a file the job read into DIR just before the job overwrites, truncates,
 * renames over or unlinks it, and says so with a SNAPSHOT record (see snapshot.h).
 * --skip-reads-under PREFIX (repeatable) stops reporting read-only opens (no O_CREAT, no O_TRUNC)
 * of files whose canonical path is under PREFIX, except those under a --keep-reads-under PREFIX
 * or containing a --keep-reads-containing SUBSTR (ext/skip_reads.h has the exact rule).  Such an
 * open is decided at its seccomp stop and costs no exit stop (syscalls.c open_entry_flags).
 * Without --skip-reads-under every open is reported, and the keep options change nothing.
 * --no-seccomp and --no-syscall-info force the fallbacks for kernels without seccomp filters or
 * without PTRACE_GET_SYSCALL_INFO (tests use them to exercise those paths).
 *
 * The child installs a seccomp filter that stops only the syscalls of the dispatch table
 * (syscalls.c) and lets everything else, read/write/mmap included, run at full speed.  It then
 * stops itself; we PTRACE_SEIZE it and let it exec the command.  If exec fails, the child sends
 * errno through a close-on-exec pipe (which a successful exec closes) and exits 127 (ENOENT) or
 * 126, as a shell would; we print why.
 *
 * Record stream: HELLO first, END last on every normal path (roar treats a stream without END as
 * a tracer failure).  Exit status: the root command's exit code, or 128+signal if it was killed.
 *
 * Signals sent to us: SIGINT and SIGQUIT are ignored (the terminal sends them to the whole
 * foreground group, so the command gets them itself, as with system(3)); SIGTERM and SIGHUP are
 * forwarded to the command.  PTRACE_O_EXITKILL makes sure no tracee is left stopped if we die.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracer_cli.h"
#include "emit.h"
#include "log.h"
#include "ptrace_utils.h"
#include "snapshot.h"
#include "syscalls.h"
#include "tracer.h"

#ifndef PTRACE_O_EXITKILL
#define PTRACE_O_EXITKILL (1 << 20)
#endif

/* What the child tells us through the status pipe. */
struct child_msg {
    int what; /* MSG_* */
    int err;  /* errno, 0 for success */
};
enum { MSG_SECCOMP = 1, MSG_EXEC = 2 };

static void usage(void)
{
    fprintf(stderr, "usage: roar-ptrace --event-fd N [--parent-pid PID] [--snapshot-dir DIR] "
                    "[--skip-reads-under PREFIX]... [--keep-reads-under PREFIX]... "
                    "[--keep-reads-containing SUBSTR]... [--verbose] [--no-seccomp] "
                    "[--no-syscall-info] -- CMD [ARGS...]\n");
    exit(2);
}

/* One --skip-reads-under/--keep-reads-under (is_prefix: must be absolute) or
 * --keep-reads-containing value: a usage error when empty or not absolute. */
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

static void forward_signal(int sig)
{
    pid_t pid = tracer_forward_pid;
    if (pid > 0)
        kill(pid, sig);
}

/* Runs in the child, between fork and exec: only async-signal-safe calls. */
static void child(char **argv, int status_fd, struct sock_fprog *filter, const sigset_t *mask,
                  pid_t tracer)
{
    struct child_msg msg = {MSG_SECCOMP, 0};
    /*
     * Until it is seized the child is not covered by PTRACE_O_EXITKILL: if the tracer dies in
     * that window, it must not stay stopped forever.  (Kept after exec, like EXITKILL.)
     */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != tracer)
        _exit(125);
    sigprocmask(SIG_SETMASK, mask, NULL);
    if (filter) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, filter, 0, 0) < 0)
            msg.err = errno ? errno : EINVAL;
    } else {
        msg.err = ENOSYS; /* --no-seccomp */
    }
    roar_write_all(status_fd, &msg, sizeof msg);
    /* Wait for the tracer to seize us.  Until then a filtered syscall would fail with ENOSYS. */
    kill(getpid(), SIGSTOP);
    execvp(argv[0], argv);
    msg.what = MSG_EXEC;
    msg.err = errno;
    roar_write_all(status_fd, &msg, sizeof msg);
    _exit(msg.err == ENOENT ? 127 : 126);
}

/* Read one message from the (non-blocking) status pipe; 0 if there is none. */
static int read_msg(int fd, struct child_msg *msg)
{
    ssize_t n;
    do {
        n = read(fd, msg, sizeof *msg);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof *msg;
}

int main(int argc, char **argv)
{
    int event_fd = -1;
    int use_seccomp = 1;
    pid_t parent_pid = 0;
    const char *snapshot_dir = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "--event-fd") == 0 && i + 1 < argc) {
            char *end;
            event_fd = (int)strtol(argv[++i], &end, 10);
            if (*end || event_fd < 0)
                usage();
        } else if (strncmp(a, "--event-fd=", 11) == 0) {
            char *end;
            event_fd = (int)strtol(a + 11, &end, 10);
            if (*end || event_fd < 0)
                usage();
        } else if ((v = roar_option_value(argc, argv, &i, "--parent-pid"))) {
            char *end;
            parent_pid = (pid_t)strtol(v, &end, 10);
            if (*end || parent_pid <= 0)
                usage();
        } else if (strcmp(a, "--snapshot-dir") == 0 && i + 1 < argc) {
            snapshot_dir = argv[++i];
        } else if (strncmp(a, "--snapshot-dir=", 15) == 0) {
            snapshot_dir = a + 15;
        } else if ((v = roar_option_value(argc, argv, &i, "--skip-reads-under"))) {
            add_skip_option(&skip_reads.skip, v, 1);
        } else if ((v = roar_option_value(argc, argv, &i, "--keep-reads-under"))) {
            add_skip_option(&skip_reads.keep, v, 1);
        } else if ((v = roar_option_value(argc, argv, &i, "--keep-reads-containing"))) {
            add_skip_option(&skip_reads.keep_sub, v, 0);
        } else if (strcmp(a, "--verbose") == 0) {
            log_verbose_enabled = 1;
        } else if (strcmp(a, "--no-seccomp") == 0) {
            use_seccomp = 0;
        } else if (strcmp(a, "--no-syscall-info") == 0) {
            use_syscall_info = 0;
        } else {
            usage();
        }
    }
    if (event_fd < 0 || i >= argc)
        usage();
    if (parent_pid > 0) {
        /*
         * Die with roar: once roar is gone nobody reads the events, and the traced processes
         * (PTRACE_O_EXITKILL) go with us.  Checked after the prctl: roar may already be gone.
         */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != parent_pid)
            return 125;
    }
    char **cmd = &argv[i];
    if (emit_init(event_fd) < 0) {
        log_error("--event-fd %d: %s", event_fd, strerror(errno));
        return 2;
    }

    int snapshot_err = 0;
    if (snapshot_dir && snapshot_init(snapshot_dir) < 0) {
        snapshot_err = errno;
        log_error("--snapshot-dir %s: %s: no snapshots", snapshot_dir, strerror(errno));
    }
    syscalls_init();
    struct sock_fprog prog;
    struct sock_fprog *filter = NULL;
    if (use_seccomp) {
        if (seccomp_build_filter(&prog) == 0)
            filter = &prog;
        else
            log_error("cannot build the seccomp filter: %s", strerror(errno));
    }

    int status_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) < 0) {
        log_error("pipe: %s", strerror(errno));
        return 125;
    }

    /* Block the signals we handle until the handlers are in place (and restore in the child). */
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old_mask);

    pid_t tracer = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        return 125;
    }
    if (pid == 0) {
        close(status_pipe[0]);
        child(cmd, status_pipe[1], filter, &old_mask, tracer);
    }
    /* A SIGTERM from now on is for the command (delivered once it runs). */
    tracer_forward_pid = pid;
    close(status_pipe[1]);
    fcntl(status_pipe[0], F_SETFL, O_NONBLOCK);
    if (filter)
        free(filter->filter); /* the child has its copy */

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL); /* a vanished reader is an EPIPE, handled in emit.c */
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL); /* an inherited SIG_IGN would auto-reap our tracees */
    sa.sa_handler = forward_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);

    emit_record(ROAR_EVK_HELLO, 0, pid, 0, ROAR_EVT_VERSION, 0, 0, "ptrace", NULL);

    int status;
    pid_t w;
    do {
        w = waitpid(pid, &status, WUNTRACED);
    } while (w < 0 && errno == EINTR);
    if (w < 0 || !WIFSTOPPED(status)) {
        log_error("the child did not start (status %#x)", w < 0 ? -1 : status);
        emit_flush();
        return 125;
    }
    struct child_msg msg;
    int seccomp_err = read_msg(status_pipe[0], &msg) && msg.what == MSG_SECCOMP ? msg.err : ENOSYS;

    long options = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK |
                   PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
                   PTRACE_O_TRACESECCOMP;
    if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)options) < 0) {
        /* No END: roar must see this as a tracer failure, not as the command's result. */
        log_error("cannot trace: ptrace(PTRACE_SEIZE): %s", strerror(errno));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        emit_flush();
        return 125;
    }
    if (snapshot_err)
        emit_warn(pid, pid, "--snapshot-dir %s: %s: inputs changed by the job are not saved",
                  snapshot_dir, strerror(snapshot_err));
    if (seccomp_err != 0) {
        trace_all_syscalls = 1;
        if (use_seccomp)
            emit_warn(pid, pid, "seccomp filter unavailable (%s): every syscall stops the "
                      "tracer, which is slower", strerror(seccomp_err));
        VLOG("no seccomp filter: tracing every syscall");
    }
    /* The child is in a group-stop; the tracer loop sees it (PTRACE_EVENT_STOP) and this wakes it. */
    kill(pid, SIGCONT);

    int root_status = tracer_run(pid);

    while (read_msg(status_pipe[0], &msg)) {
        if (msg.what == MSG_EXEC) {
            log_error("cannot execute %s: %s", cmd[0], strerror(msg.err));
            root_status = W_EXITCODE(msg.err == ENOENT ? 127 : 126, 0);
        }
    }
    emit_record(ROAR_EVK_END, 0, pid, 0, root_status, emit_lost(), 0, NULL, NULL);
    emit_flush();

    if (WIFSIGNALED(root_status))
        return 128 + WTERMSIG(root_status);
    if (WIFEXITED(root_status))
        return WEXITSTATUS(root_status);
    return 125;
}
