/*
 * exec.c -- the exec family, posix_spawn, fork and _exit (and what a vfork child may call).
 *
 * EXEC is reported before the real call, by the process that execs (the record's pid is the same
 * before and after an exec): afterwards there is no "after" in this image.  Only an exec of an
 * existing executable file is reported, so the only false record is an exec that the kernel still
 * refuses (ENOEXEC, a bad interpreter) -- rare, and harmless for lineage (an extra input).
 * path1 is the canonical file passed to exec, path2 the canonical binary that runs (the final
 * interpreter of a "#!" chain), as the ptrace tracer reports them.
 *
 * The traced environment survives every exec.  Each wrapper builds the new program's envp from
 * the caller's, adding what the shim needs when the caller left it out (a scrubbed env, `env -i`):
 * LD_PRELOAD (ours prepended to theirs unless a roar shim is already listed), ROAR_PRELOAD_SOCK
 * (only if absent: a nested `roar run` sets its own), ROAR_PRELOAD_FD (where the inherited
 * connection is), and ROAR_PRELOAD_EXEC, which tells the new image's constructor that this exec
 * was reported already: "<pid>" from the exec'ing process, "P<ppid>" from a parent that spawned
 * it (posix_spawn here, roar itself for the root).  An image started any other way -- system(3)
 * and popen(3) use libc's internal spawn, a static parent, a raw syscall -- reports its own EXEC
 * from the constructor (report_unseen_exec).  Other ROAR_* variables are the program's business
 * and are not restored.  The new envp lives on the stack: no malloc between fork and exec.
 *
 * vfork stays vfork (Python's subprocess relies on it to spawn cheaply from a large process), so
 * the exec and _exit wrappers may run in a child that shares its parent's memory.  They notice
 * (shim_in_hookless_child) and then only send records -- HELLO, a FORK on the parent's behalf,
 * EXEC or EXIT -- through emit_raw, writing nothing the parent would see.  posix_spawn's own
 * internal clone never runs any of our code.
 *
 * A static or setuid/setgid target gets a WARN record: the loader will not load the shim there,
 * so that program's own file accesses are invisible (roar's auto mode uses ptrace when the
 * command itself is such a program).
 */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

REAL_DECL(int, execve, (const char *, char *const[], char *const[]));
REAL_DECL(int, execvpe, (const char *, char *const[], char *const[]));
REAL_DECL(int, fexecve, (int, char *const[], char *const[]));
REAL_DECL(int, posix_spawn, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                             const posix_spawnattr_t *, char *const[], char *const[]));
REAL_DECL(int, posix_spawnp, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                              const posix_spawnattr_t *, char *const[], char *const[]));
REAL_DECL(pid_t, fork, (void));
REAL_DECL(pid_t, _Fork, (void));
REAL_DECL(void, _exit, (int));
REAL_DECL(void, _Exit, (int));

/* ---- reporting -------------------------------------------------------------------------------- */

/* How the exec records go out: from this process (emit), for a spawned child (emit_for), or
 * from a vfork child that must not touch the shim's state (emit_raw). */
struct exec_reporter {
    pid_t pid; /* 0: this process, through emit() */
    pid_t tid;
    int raw;
};

static void exec_emit(const struct exec_reporter *r, uint8_t kind, int32_t arg0,
                      const char *p1, const char *p2)
{
    if (r->raw)
        emit_raw(r->pid, r->tid, kind, 0, arg0, 0, 0, p1, p2);
    else if (r->pid == 0)
        emit(kind, 0, arg0, 0, 0, p1, p2);
    else
        emit_for(r->pid, r->tid, kind, 0, arg0, 0, 0, p1, p2);
}

/* Who reports an exec made by this process: itself, or -- in a vfork child -- itself without
 * touching any state. */
static struct exec_reporter self_reporter(void)
{
    struct exec_reporter r = {0, 0, 0};
    if (shim_in_hookless_child()) {
        r.pid = getpid();
        r.tid = (pid_t)syscall(SYS_gettid);
        r.raw = 1;
    }
    return r;
}

/* A vfork child's first records: HELLO, and its birth, which nobody else can report.  Sent
 * before each exec it reports (it cannot remember having sent them), so a child that tries
 * several files before one runs may say hello twice; that is harmless. */
static void announce_vfork_child(pid_t pid, pid_t tid)
{
    pid_t parent = getppid();
    emit_raw(pid, tid, ROAR_EVK_HELLO, 0, ROAR_EVT_VERSION, 0, 0, "preload", NULL);
    emit_raw(parent, parent, ROAR_EVK_FORK, 0, pid, 0, ROAR_FORK_VFORK, NULL, NULL);
}

/* EXEC of absolute path `abs`, before or after the fact. */
static void report_exec(const char *abs, const struct exec_reporter *r)
{
    struct program_info info;
    if (program_inspect(abs, &info) < 0)
        return; /* not an executable file: the exec fails and there is nothing to report */
    const char *p1 = info.file;
    snapshot_note_read(p1);
    snapshot_note_read(info.real);
    if (r->raw)
        announce_vfork_child(r->pid, r->tid);
    exec_emit(r, ROAR_EVK_EXEC, 0, p1, info.real);
    if (info.is_static || info.is_setid) {
        char msg[SHIM_PATH + 128];
        strcpy(msg, info.real);
        strcat(msg, info.is_static ? " is statically linked" : " is setuid/setgid");
        strcat(msg, ": the preload tracer cannot see its file accesses (use --tracer ptrace)");
        exec_emit(r, ROAR_EVK_WARN, 0, msg, NULL);
    }
}

void report_unseen_exec(void)
{
    const char *marker = getenv(ENV_EXEC);
    if (marker && *marker) {
        if (marker[0] == 'P' ? atol(marker + 1) == (long)getppid() : atol(marker) == (long)getpid())
            return; /* reported by whoever started this image */
    }
    char exe[SHIM_PATH];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || n >= (ssize_t)sizeof exe - 1)
        return;
    exe[n] = '\0';
    emit(ROAR_EVK_EXEC, 0, 0, 0, 0, exe, NULL);
}

static pid_t exit_reported;

void report_exit(int status)
{
    pid_t me = shim_getpid();
    if (__atomic_exchange_n(&exit_reported, me, __ATOMIC_ACQ_REL) == me)
        return;
    uint64_t lost = transport_lost();
    if (lost) /* sends that timed out earlier: say so now if roar can still hear us */
        emit_warn((unsigned)lost, "%llu events of process %d could not be sent to roar",
                  (unsigned long long)lost, (int)me);
    emit(ROAR_EVK_EXIT, 0, W_EXITCODE(status & 0xff, 0), 0, 0, NULL, NULL);
}

/* ---- the traced environment ------------------------------------------------------------------- */

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Does an LD_PRELOAD value already list a roar shim? */
static int lists_shim(const char *value)
{
    const char *p = value;
    while (*p) {
        size_t n = strcspn(p, ": ");
        const char *slash = NULL;
        for (const char *q = p; q < p + n; q++)
            if (*q == '/')
                slash = q;
        const char *base = slash ? slash + 1 : p;
        static const char name[] = "libroar_preload.so";
        if ((size_t)(p + n - base) == sizeof name - 1 && memcmp(base, name, sizeof name - 1) == 0)
            return 1;
        p += n;
        while (*p == ':' || *p == ' ')
            p++;
    }
    return 0;
}

typedef int (*env_call)(void *ctx, char *const envp[]);

#define ENV_STACK_MAX 8192 /* more variables than this: the array goes to mmap */

/* Build the traced envp from `envp` and call fn with it; returns what fn returns. */
static int with_traced_env(char *const envp[], const char *marker, env_call fn, void *ctx)
{
    size_t n = 0;
    const char *their_preload = NULL;
    int missing[SHIM_KEEP_MAX];
    for (int k = 0; k < shim_keep_count; k++)
        missing[k] = 1;
    if (envp) {
        for (; envp[n]; n++) {
            if (has_prefix(envp[n], "LD_PRELOAD="))
                their_preload = envp[n] + sizeof "LD_PRELOAD=" - 1;
            else if (has_prefix(envp[n], "ROAR_PRELOAD_")) {
                /* Present in any form (a nested `roar run` sets its own): theirs stays. */
                for (int k = 0; k < shim_keep_count; k++) {
                    size_t len = strcspn(shim_keep_env[k], "=") + 1;
                    if (strncmp(envp[n], shim_keep_env[k], len) == 0)
                        missing[k] = 0;
                }
            }
        }
    }
    int keep_preload = !shim_self_path[0] || (their_preload && lists_shim(their_preload));
    size_t plen = sizeof "LD_PRELOAD=" + strlen(shim_self_path) + 1 +
                  (their_preload ? strlen(their_preload) : 0);
    char preload[plen];
    if (!keep_preload) {
        strcpy(preload, "LD_PRELOAD=");
        strcat(preload, shim_self_path);
        if (their_preload && *their_preload) {
            strcat(preload, ":");
            strcat(preload, their_preload);
        }
    }
    char fdvar[sizeof ENV_FD "=" + 24];
    int conn = transport_fd();
    strcpy(fdvar, ENV_FD "=");
    fmt_long(fdvar + strlen(fdvar), conn);
    char mark[sizeof ENV_EXEC "=" + 32];
    strcpy(mark, ENV_EXEC "=");
    strncat(mark, marker, 31);

    size_t cap = n + 4 + SHIM_KEEP_MAX;
    char *stack_arr[cap <= ENV_STACK_MAX ? cap : 1];
    char **out = stack_arr;
    size_t map_len = 0;
    if (cap > ENV_STACK_MAX) {
        map_len = cap * sizeof(char *);
        void *m = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return fn(ctx, envp); /* untraced rather than not run at all */
        out = m;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if ((!keep_preload && has_prefix(envp[i], "LD_PRELOAD=")) ||
            has_prefix(envp[i], ENV_FD "=") || has_prefix(envp[i], ENV_EXEC "="))
            continue;
        out[k++] = envp[i];
    }
    if (!keep_preload)
        out[k++] = preload;
    for (int i = 0; i < shim_keep_count; i++) {
        if (missing[i])
            out[k++] = (char *)shim_keep_env[i];
    }
    if (conn >= 0)
        out[k++] = fdvar;
    out[k++] = mark;
    out[k] = NULL;
    int r = fn(ctx, out);
    int saved = errno;
    if (map_len)
        munmap(out, map_len);
    errno = saved;
    return r;
}

/* ---- exec ------------------------------------------------------------------------------------- */

struct exec_ctx {
    const char *path; /* or file, for the PATH-searching variants */
    char *const *argv;
    int fd;
};

static int call_execve(void *p, char *const envp[])
{
    struct exec_ctx *c = p;
    return REAL(execve)(c->path, c->argv, envp);
}

static int call_execvpe(void *p, char *const envp[])
{
    struct exec_ctx *c = p;
    return REAL(execvpe)(c->path, c->argv, envp);
}

static int call_fexecve(void *p, char *const envp[])
{
    struct exec_ctx *c = p;
    return REAL(fexecve)(c->fd, c->argv, envp);
}

static char *self_marker(char *buf)
{
    return fmt_long(buf, (long)getpid());
}

static int traced_execve(const char *path, char *const argv[], char *const envp[])
{
    if (!shim_enter())
        return REAL(execve)(path, argv, envp);
    char abs[SHIM_PATH];
    int saved = errno;
    struct exec_reporter r = self_reporter();
    if (path_resolve_at(AT_FDCWD, path, abs, 0) == 0)
        report_exec(abs, &r);
    char marker[24];
    self_marker(marker);
    shim_leave();
    errno = saved;
    struct exec_ctx c = {path, argv, -1};
    return with_traced_env(envp, marker, call_execve, &c);
}

static int traced_execvpe(const char *file, char *const argv[], char *const envp[])
{
    if (!shim_enter())
        return REAL(execvpe)(file, argv, envp);
    char abs[SHIM_PATH];
    int saved = errno;
    struct exec_reporter r = self_reporter();
    if (path_search(file, abs) == 0)
        report_exec(abs, &r);
    char marker[24];
    self_marker(marker);
    shim_leave();
    errno = saved;
    struct exec_ctx c = {file, argv, -1};
    return with_traced_env(envp, marker, call_execvpe, &c);
}

SHIM_API int execve(const char *path, char *const argv[], char *const envp[])
{
    return traced_execve(path, argv, envp);
}

SHIM_API int execv(const char *path, char *const argv[])
{
    return traced_execve(path, argv, environ);
}

SHIM_API int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return traced_execvpe(file, argv, envp);
}

SHIM_API int execvp(const char *file, char *const argv[])
{
    return traced_execvpe(file, argv, environ);
}

SHIM_API int fexecve(int fd, char *const argv[], char *const envp[])
{
    if (!shim_enter())
        return REAL(fexecve)(fd, argv, envp);
    char abs[SHIM_PATH];
    int saved = errno;
    struct exec_reporter r = self_reporter();
    if (path_of_fd(fd, abs) == 0)
        report_exec(abs, &r);
    char marker[24];
    self_marker(marker);
    shim_leave();
    errno = saved;
    struct exec_ctx c = {NULL, argv, fd};
    return with_traced_env(envp, marker, call_fexecve, &c);
}

/* execl & co.: the variadic list into an argv array on the stack. */
#define COLLECT_ARGV(arg0, argv_name, envp_out)                                                   \
    size_t argc_ = 1;                                                                             \
    va_list ap_;                                                                                  \
    va_start(ap_, arg0);                                                                          \
    while (va_arg(ap_, char *))                                                                   \
        argc_++;                                                                                  \
    va_end(ap_);                                                                                  \
    char *argv_name[argc_ + 1];                                                                   \
    argv_name[0] = (char *)(arg0);                                                                \
    va_start(ap_, arg0);                                                                          \
    for (size_t i_ = 1; i_ <= argc_; i_++)                                                        \
        argv_name[i_] = va_arg(ap_, char *);                                                      \
    envp_out = va_arg(ap_, char *const *);                                                        \
    va_end(ap_)

SHIM_API int execl(const char *path, const char *arg, ...)
{
    char *const *ignored;
    COLLECT_ARGV(arg, argv, ignored);
    (void)ignored;
    return traced_execve(path, argv, environ);
}

SHIM_API int execlp(const char *file, const char *arg, ...)
{
    char *const *ignored;
    COLLECT_ARGV(arg, argv, ignored);
    (void)ignored;
    return traced_execvpe(file, argv, environ);
}

SHIM_API int execle(const char *path, const char *arg, ...)
{
    char *const *envp;
    COLLECT_ARGV(arg, argv, envp);
    return traced_execve(path, argv, envp);
}

/* ---- posix_spawn ------------------------------------------------------------------------------ */

struct spawn_ctx {
    pid_t *pid;
    const char *path;
    const posix_spawn_file_actions_t *actions;
    const posix_spawnattr_t *attr;
    char *const *argv;
    int search;
};

static int call_spawn(void *p, char *const envp[])
{
    struct spawn_ctx *c = p;
    if (c->search)
        return REAL(posix_spawnp)(c->pid, c->path, c->actions, c->attr, c->argv, envp);
    return REAL(posix_spawn)(c->pid, c->path, c->actions, c->attr, c->argv, envp);
}

static int traced_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[],
                        int search)
{
    pid_t child = 0;
    struct spawn_ctx c = {&child, path, actions, attr, argv, search};
    if (!shim_ready || shim_busy) {
        int r = call_spawn(&c, envp);
        if (r == 0 && pid)
            *pid = child;
        return r;
    }
    char marker[24] = "P";
    fmt_long(marker + 1, (long)getpid());
    int r = with_traced_env(envp, marker, call_spawn, &c);
    if (r == 0) {
        if (pid)
            *pid = child;
        int saved = errno;
        if (shim_enter()) {
            emit(ROAR_EVK_FORK, 0, child, 0, 0, NULL, NULL);
            char abs[SHIM_PATH];
            struct exec_reporter r = {child, child, 0};
            if ((search ? path_search(path, abs) : path_resolve_at(AT_FDCWD, path, abs, 0)) == 0)
                report_exec(abs, &r);
            shim_leave();
        }
        errno = saved;
    }
    return r;
}

SHIM_API int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                         const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return traced_spawn(pid, path, actions, attr, argv, envp, 0);
}

SHIM_API int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return traced_spawn(pid, file, actions, attr, argv, envp, 1);
}

/* ---- fork, _exit ----------------------------------------------------------------------- */

SHIM_API pid_t fork(void)
{
    pid_t pid = REAL(fork)();
    if (pid > 0) {
        int saved = errno;
        if (shim_enter()) {
            emit(ROAR_EVK_FORK, 0, pid, 0, 0, NULL, NULL);
            shim_leave();
        }
        errno = saved;
    }
    return pid;
}

/* glibc 2.34's async-signal-safe fork runs no fork hooks: reset the child's state ourselves. */
SHIM_API pid_t _Fork(void)
{
    if (!REAL(_Fork)) {
        errno = ENOSYS;
        return -1;
    }
    pid_t pid = real__Fork();
    if (pid == 0 && shim_ready)
        shim_after_fork_child();
    else if (pid > 0) {
        int saved = errno;
        if (shim_enter()) {
            emit(ROAR_EVK_FORK, 0, pid, 0, 0, NULL, NULL);
            shim_leave();
        }
        errno = saved;
    }
    return pid;
}

/* EXIT from _exit/_Exit; in a vfork child (an exec that failed) without touching any state. */
static void exit_now(int status)
{
    if (!shim_ready)
        return;
    if (shim_in_hookless_child()) {
        pid_t me = getpid(), tid = (pid_t)syscall(SYS_gettid);
        announce_vfork_child(me, tid);
        emit_raw(me, tid, ROAR_EVK_EXIT, 0, W_EXITCODE(status & 0xff, 0), 0, 0, NULL, NULL);
        return;
    }
    if (shim_enter()) {
        report_exit(status);
        shim_leave();
    }
}

SHIM_API void _exit(int status)
{
    exit_now(status);
    REAL(_exit)(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

SHIM_API void _Exit(int status)
{
    exit_now(status);
    REAL(_Exit)(status);
    for (;;)
        syscall(SYS_exit_group, status);
}
