/*
 * tracer.c -- the process table and the wait loop.
 *
 * Every tracee stop comes through tracer_run()'s waitpid(-1, __WALL) and is dispatched on what
 * kind of stop it is:
 *
 *   exit / killed             -> EXIT record when it is a thread group leader; drop the thread
 *   PTRACE_EVENT_SECCOMP      -> a syscall from the table: entry handler, maybe ask for its exit
 *   SIGTRAP|0x80              -> syscall entry/exit stop (PTRACE_GET_SYSCALL_INFO tells which)
 *   PTRACE_EVENT_FORK/VFORK/CLONE -> FORK record, new thread entry
 *   PTRACE_EVENT_EXEC         -> EXEC record
 *   PTRACE_EVENT_STOP         -> group-stop (PTRACE_LISTEN) or a new child's first stop (resume)
 *   anything else             -> signal-delivery-stop: resume and deliver the signal
 *
 * Why PTRACE_SEIZE (not PTRACE_TRACEME): only a seized tracee reports group-stops as
 * PTRACE_EVENT_STOP and can be parked in them with PTRACE_LISTEN.  That is what keeps a
 * SIGSTOP/SIGTSTP sent by a user (or by the program to itself) meaning "stopped until SIGCONT",
 * exactly as without the tracer, instead of the tracee silently running on.
 *
 * Why resume with PTRACE_CONT: with the seccomp filter only the syscalls in the table stop at all,
 * and most of those need only their seccomp stop.  A thread is resumed with PTRACE_SYSCALL only
 * while we wait for the exit stop of a syscall whose result matters (T_AWAIT_EXIT), or always when
 * no seccomp filter could be installed (trace_all_syscalls).
 *
 * New tasks: the kernel may report a new child's first stop before the parent's fork event.  Such
 * a child is kept stopped and unknown (no T_KNOWN) until the parent's event says who it is, so
 * its FORK record always comes before anything it does.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emit.h"
#include "fdtable.h"
#include "log.h"
#include "paths.h"
#include "ptrace_utils.h"
#include "snapshot.h"
#include "syscalls.h"
#include "tracer.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

int trace_all_syscalls = 0;
volatile pid_t tracer_forward_pid = 0;

/* ---- the table: tid -> thread ----------------------------------------------------------------- */

#define NBUCKETS 4096 /* power of two; chains stay short for any realistic tree */
static struct thread *table[NBUCKETS];
static uint64_t next_instance = 1;

static struct thread **slot_of(pid_t tid)
{
    struct thread **p = &table[(unsigned)tid & (NBUCKETS - 1)];
    while (*p && (*p)->tid != tid)
        p = &(*p)->next;
    return p;
}

static struct thread *thread_find(pid_t tid)
{
    return *slot_of(tid);
}

static struct thread *thread_add(pid_t tid)
{
    struct thread *t = calloc(1, sizeof *t);
    if (!t) {
        log_error("out of memory");
        exit(125);
    }
    t->tid = tid;
    struct thread **p = slot_of(tid);
    t->next = *p;
    *p = t;
    return t;
}

static struct process *process_new(pid_t tgid)
{
    struct process *p = calloc(1, sizeof *p);
    if (!p) {
        log_error("out of memory");
        exit(125);
    }
    p->tgid = tgid;
    p->instance = next_instance++;
    return p;
}

static void attach_process(struct thread *t, struct process *p)
{
    p->refs++;
    t->proc = p;
}

static void thread_remove(struct thread *t)
{
    struct thread **p = slot_of(t->tid);
    if (*p == t)
        *p = t->next;
    if (t->proc && --t->proc->refs == 0)
        free(t->proc);
    fdt_unref(t->fds);
    free(t->path1);
    free(t->path2);
    free(t->exec_path);
    free(t);
}

char *thread_path(struct thread *t, int which)
{
    char **p = which == 1 ? &t->path1 : &t->path2;
    if (!*p)
        *p = malloc(ROAR_PATH_BUF);
    if (*p)
        (*p)[0] = '\0';
    return *p;
}

void thread_unshare_fds(struct thread *t)
{
    if (!fdt_shared(t->fds))
        return;
    struct fdtable *copy = fdt_copy(t->fds);
    fdt_unref(t->fds);
    t->fds = copy;
}

static void emit_close_cb(void *ctx, int fd, const char *path)
{
    struct thread *t = ctx;
    emit_record(ROAR_EVK_CLOSE, 0, t->proc->tgid, t->tid, 0, fd, 0, path, NULL);
}

void thread_close_fds(struct thread *t, unsigned lo, unsigned hi, int only_cloexec)
{
    fdt_close_range(t->fds, lo, hi, only_cloexec, 0, emit_close_cb, t);
}

/* ---- resuming --------------------------------------------------------------------------------- */

static void resume(struct thread *t, int sig)
{
    int op = trace_all_syscalls || (t->flags & T_AWAIT_EXIT) ? PTRACE_SYSCALL : PTRACE_CONT;
    if (ptrace((enum __ptrace_request)op, t->tid, NULL, (void *)(long)sig) < 0 && errno != ESRCH)
        log_error("cannot resume %d: %s", (int)t->tid, strerror(errno));
    /* ESRCH: killed (SIGKILL) while stopped; its exit is reported by waitpid. */
}

static int is_stop_signal(int sig)
{
    return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* ---- syscall stops ---------------------------------------------------------------------------- */

static int foreign_abi(const struct sc_info *info)
{
    if (info->arch != ROAR_AUDIT_ARCH)
        return 1;
#ifdef ROAR_X32_SYSCALL_BIT
    if (info->nr & ROAR_X32_SYSCALL_BIT)
        return 1;
#endif
    return 0;
}

static void log_unhandled(struct thread *t, const char *where, long nr)
{
    const char *name = syscall_name(nr);
    VLOG("%d: unhandled syscall %ld (%s) at %s stop", (int)t->tid, nr, name ? name : "?", where);
}

/* A seccomp stop or (without seccomp) an entry stop: run the entry handler. */
static void syscall_entry(struct thread *t, const struct sc_info *info, const char *where)
{
    if (foreign_abi(info)) {
        if (!t->proc->warned_foreign) {
            t->proc->warned_foreign = 1;
            emit_warn(t->proc->tgid, t->tid,
                      "32-bit or x32 syscalls (audit arch %#x) are not traced", info->arch);
        }
        VLOG("%d: foreign-ABI syscall %ld at %s stop", (int)t->tid, info->nr, where);
        return;
    }
    const struct syscall_row *row = syscall_lookup(info->nr);
    if (!row) {
        log_unhandled(t, where, info->nr);
        return;
    }
    memset(&t->sc, 0, sizeof t->sc);
    t->sc.row = row;
    t->sc.nr = info->nr;
    memcpy(t->sc.args, info->args, sizeof t->sc.args);
    if (row->entry && row->entry(t) == SC_NEED_EXIT && row->exit)
        t->flags |= T_AWAIT_EXIT;
}

static void on_seccomp_stop(struct thread *t)
{
    struct sc_info info;
    if (sc_info_get(t->tid, 1, &info) < 0) {
        resume(t, 0);
        return;
    }
    t->flags &= ~T_AWAIT_EXIT;
    syscall_entry(t, &info, "seccomp");
    resume(t, 0);
}

static void on_syscall_stop(struct thread *t)
{
    struct sc_info info;
    if (sc_info_get(t->tid, 0, &info) < 0) {
        resume(t, 0);
        return;
    }
    if (info.op == SC_OP_ENTRY) {
        if (!trace_all_syscalls) {
            /*
             * Kernels before 4.8 report the seccomp stop *before* the entry stop; a thread
             * resumed with PTRACE_SYSCALL from its seccomp stop then stops here first.  The entry
             * was handled already: just go on to the exit stop.
             */
            resume(t, 0);
            return;
        }
        t->flags &= ~T_AWAIT_EXIT;
        syscall_entry(t, &info, "entry");
    } else if (info.op == SC_OP_EXIT && (t->flags & T_AWAIT_EXIT)) {
        t->flags &= ~T_AWAIT_EXIT;
        const struct syscall_row *row = t->sc.row;
        if (row && row->exit && !info.is_error && info.rval >= 0)
            row->exit(t, info.rval);
        else
            VLOG("%d: %s failed (%lld): no record", (int)t->tid, row ? row->name : "?",
                 (long long)info.rval);
    }
    resume(t, 0);
}

/* ---- fork / exec / exit ----------------------------------------------------------------------- */

static void release_new_thread(struct thread *c);

static void on_fork_event(struct thread *t, int event)
{
    unsigned long msg = 0;
    if (ptrace(PTRACE_GETEVENTMSG, t->tid, NULL, &msg) < 0) {
        resume(t, 0);
        return;
    }
    pid_t child = (pid_t)msg;
    uint32_t fork_flags = 0;
    int thread = 0;
    if (event == PTRACE_EVENT_CLONE) {
        /* clone(2) without SIGCHLD: a thread, or a process with an unusual exit signal. */
        pid_t tgid = proc_tgid(child);
        thread = tgid == t->proc->tgid;
    }
    if (event == PTRACE_EVENT_VFORK)
        fork_flags |= ROAR_FORK_VFORK;
    if (thread)
        fork_flags |= ROAR_FORK_THREAD;

    struct thread *c = thread_find(child);
    if (!c) {
        c = thread_add(child);
        c->flags = 0; /* its first stop has not arrived yet; released below as known */
        c->status = -1;
    }
    if (thread) {
        attach_process(c, t->proc);
    } else {
        attach_process(c, process_new(child));
    }
    /* Does the child share our descriptor table?  kcmp knows; otherwise assume the usual. */
    int share = same_files(t->tid, child);
    if (share < 0)
        share = thread;
    c->fds = share ? fdt_ref(t->fds) : fdt_copy(t->fds);
    c->flags |= T_KNOWN;

    VLOG("%d: %s -> %d%s", (int)t->tid,
         event == PTRACE_EVENT_VFORK ? "vfork" : (thread ? "thread" : "fork"), (int)child,
         share ? " (shared fd table)" : "");
    emit_record(ROAR_EVK_FORK, 0, t->proc->tgid, t->tid, (int32_t)child, 0, fork_flags, NULL,
                NULL);
    release_new_thread(c);
    resume(t, 0);
}

static void handle_stop(struct thread *t, int status);

/* A child whose fork event has now been seen: replay the stop it is parked in, if any. */
static void release_new_thread(struct thread *c)
{
    if (c->flags & T_DEAD) {
        /* It died (SIGKILL) before we knew it: report its end now that its FORK is out. */
        if (c->proc->tgid == c->tid)
            emit_record(ROAR_EVK_EXIT, 0, c->tid, c->tid, c->status, 0, 0, NULL, NULL);
        thread_remove(c);
        return;
    }
    if (c->status != -1) {
        int status = c->status;
        c->status = -1;
        handle_stop(c, status);
    }
}

static void on_exec_event(struct thread *t)
{
    unsigned long former = 0;
    if (ptrace(PTRACE_GETEVENTMSG, t->tid, NULL, &former) < 0)
        former = (unsigned long)t->tid;
    if ((pid_t)former != t->tid) {
        /*
         * A non-leader thread exec'd: the kernel gave it the leader's tid.  Our entry for the
         * leader now stands for the exec'ing thread; take over that thread's state.
         */
        struct thread *f = thread_find((pid_t)former);
        if (f) {
            free(t->exec_path);
            t->exec_path = f->exec_path;
            f->exec_path = NULL;
            fdt_unref(t->fds);
            t->fds = f->fds;
            f->fds = NULL;
            thread_remove(f);
        }
    }
    t->flags &= ~T_AWAIT_EXIT;
    memset(&t->sc, 0, sizeof t->sc);

    /* The kernel unshares the table, then closes close-on-exec descriptors. */
    thread_unshare_fds(t);
    thread_close_fds(t, 0, ~0u, 1);
    /* A new program: its reads and writes are new facts even on paths seen before. */
    t->proc->instance = next_instance++;

    char *p1 = thread_path(t, 1);
    char *p2 = thread_path(t, 2);
    uint8_t flags = 0;
    if (p1 && t->exec_path) {
        strcpy(p1, t->exec_path);
        path_canonical_full(p1, ROAR_PATH_BUF);
    } else if (p1) {
        p1[0] = '\0';
        emit_count_lost(1);
        emit_warn(t->proc->tgid, t->tid, "exec succeeded but its filename could not be read");
    }
    if (p2 && proc_readlink(t->tid, "exe", p2, ROAR_PATH_BUF) < 0)
        p2[0] = '\0';
    if (p1 && p1[0])
        snapshot_note_read(p1);
    if (p2 && p2[0])
        snapshot_note_read(p2);
    VLOG("%d: exec %s (%s)", (int)t->tid, p1 ? p1 : "?", p2 ? p2 : "?");
    emit_record(ROAR_EVK_EXEC, flags, t->proc->tgid, t->tid, 0, 0, 0, p1 ? p1 : "",
                p2 && p2[0] ? p2 : NULL);
    free(t->exec_path);
    t->exec_path = NULL;
    resume(t, 0);
}

/* ---- dispatch --------------------------------------------------------------------------------- */

static pid_t root_pid;
static int root_status;
static int root_seen_exit;

static void on_task_exit(pid_t tid, int status)
{
    struct thread *t = thread_find(tid);
    if (tid == root_pid) {
        root_status = status;
        root_seen_exit = 1;
        tracer_forward_pid = 0; /* the pid may be reused: never signal it again */
    }
    if (!t) {
        /* Killed before its first stop and before its parent's fork event: remember it. */
        t = thread_add(tid);
        t->flags = T_DEAD;
        t->status = status;
        VLOG("%d: exited before its parent's fork event", (int)tid);
        return;
    }
    if (!(t->flags & T_KNOWN)) {
        t->flags |= T_DEAD;
        t->status = status;
        return;
    }
    if (t->proc->tgid == tid) {
        VLOG("%d: process exited, status %#x", (int)tid, status);
        emit_record(ROAR_EVK_EXIT, 0, tid, tid, status, 0, 0, NULL, NULL);
    }
    thread_remove(t);
}

static void handle_stop(struct thread *t, int status)
{
    int sig = WSTOPSIG(status);
    int event = (unsigned)status >> 16;

    if (sig == (SIGTRAP | 0x80)) {
        on_syscall_stop(t);
        return;
    }
    switch (event) {
    case PTRACE_EVENT_SECCOMP:
        on_seccomp_stop(t);
        return;
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE:
        on_fork_event(t, event);
        return;
    case PTRACE_EVENT_EXEC:
        on_exec_event(t);
        return;
    case PTRACE_EVENT_STOP:
        if (is_stop_signal(sig)) {
            /* Group-stop: stay stopped, but let SIGCONT (and the real parent) see it. */
            VLOG("%d: group-stop (signal %d): listening", (int)t->tid, sig);
            if (ptrace(PTRACE_LISTEN, t->tid, NULL, NULL) < 0 && errno != ESRCH)
                log_error("PTRACE_LISTEN %d: %s", (int)t->tid, strerror(errno));
        } else {
            /* A new child's first stop, or the re-trap after SIGCONT ended a group-stop. */
            resume(t, 0);
        }
        return;
    case 0:
        break;
    default:
        VLOG("%d: unexpected ptrace event %d", (int)t->tid, event);
        resume(t, 0);
        return;
    }
    /* Signal-delivery-stop: the signal is real; deliver it. */
    VLOG("%d: delivering signal %d", (int)t->tid, sig);
    resume(t, sig);
}

static void dispatch(pid_t tid, int status)
{
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
        on_task_exit(tid, status);
        return;
    }
    if (!WIFSTOPPED(status))
        return;
    struct thread *t = thread_find(tid);
    if (!t) {
        /* First stop of a child whose parent's fork event has not been seen: park it. */
        t = thread_add(tid);
        t->status = status;
        VLOG("%d: new task stopped before its parent's fork event: parked", (int)tid);
        return;
    }
    if (!(t->flags & T_KNOWN)) {
        t->status = status; /* cannot happen (it is not resumed), but keep the latest */
        return;
    }
    handle_stop(t, status);
}

int tracer_run(pid_t root)
{
    root_pid = root;
    struct thread *t = thread_add(root);
    t->flags = T_KNOWN;
    t->status = -1;
    attach_process(t, process_new(root));
    t->fds = fdt_new();

    for (;;) {
        int status;
        pid_t tid = waitpid(-1, &status, __WALL | WNOHANG);
        if (tid == 0) {
            /* Nothing ready: roar gets what we have before we sleep. */
            emit_flush();
            tid = waitpid(-1, &status, __WALL);
        }
        if (tid < 0) {
            if (errno == EINTR)
                continue;
            if (errno != ECHILD)
                log_error("waitpid: %s", strerror(errno));
            break;
        }
        dispatch(tid, status);
    }
    if (!root_seen_exit)
        root_status = W_EXITCODE(125, 0);
    return root_status;
}
