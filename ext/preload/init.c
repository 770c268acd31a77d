/*
 * init.c -- the constructor, the exit and fork hooks, and real-symbol lookup.
 *
 * The constructor runs in every new program image before main().  It does nothing unless
 * ROAR_PRELOAD_SOCK is set (a stale LD_PRELOAD outside `roar run` costs one getenv).  Otherwise
 * it connects to roar -- eagerly, not on the first event: every process reports at least its EXIT,
 * and a connection made here is inherited by every child, which keeps the whole tree's records in
 * one ordered stream (see transport.c) -- sends HELLO, and reports the exec that started this
 * image if no wrapper did (report_unseen_exec).
 *
 * EXIT: on_exit(3) handlers receive the exit status both for exit() and for a return from main,
 * and ours is registered first so it runs after the program's own atexit handlers; _exit and
 * _Exit are wrapped in exec.c.  Death by a signal sends no EXIT (nothing runs).
 */
#define _GNU_SOURCE
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int shim_ready;
pid_t shim_pid_cache;
static __thread pid_t tid_cache __attribute__((tls_model("initial-exec")));
static __thread pid_t tid_owner __attribute__((tls_model("initial-exec")));
__thread int shim_busy __attribute__((tls_model("initial-exec")));
char shim_self_path[SHIM_PATH];
const char *shim_keep_env[SHIM_KEEP_MAX];
int shim_keep_count;
struct roar_skip_reads shim_skip_reads;
char shim_reset_under[SHIM_PATH];
size_t shim_reset_under_len;

void *shim_real(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

pid_t shim_gettid(void)
{
    if (tid_owner != shim_pid_cache || tid_cache == 0) {
        tid_cache = (pid_t)syscall(SYS_gettid);
        tid_owner = shim_pid_cache;
    }
    return tid_cache;
}

void shim_after_fork_child(void)
{
    /* Runs in the child of every fork() made through libc, before fork returns there.  The
     * connection is shared with the parent on purpose; the rest is per process. */
    shim_pid_cache = getpid();
    transport_after_fork();
    dedupe_after_fork();
    lexical_after_fork();
}

/*
 * Shared objects the process has loaded.  The dynamic loader opens them with its own syscalls,
 * which no libc wrapper sees, so they are listed from the loader's own table instead: once the
 * program's dependencies are loaded (the constructor) and again at exit (for dlopen'ed ones,
 * e.g. Python extension modules and the libraries they need).  roar learns the Debian packages a
 * job used from these (READ records; dedupe keeps each path to one).
 */
static int report_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *name = info->dlpi_name;
    if (!name || name[0] != '/' || strcmp(name, shim_self_path) == 0)
        return 0;
    char buf[SHIM_PATH];
    size_t n = strlen(name);
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, name, n + 1);
    path_normalize(buf);
    if (dedupe_first(DEDUPE_FD_READ, buf))
        emit(ROAR_EVK_READ, 0, 0, -1, 0, buf, NULL);
    return 0;
}

static void report_loaded_objects(void)
{
    dl_iterate_phdr(report_object, NULL);
}

static void exit_hook(int status, void *arg)
{
    (void)arg;
    int saved = errno;
    if (shim_enter()) {
        report_loaded_objects();
        report_exit(status);
        shim_leave();
    }
    errno = saved;
}

static void self_path(void)
{
    Dl_info info;
    if (dladdr((void *)self_path, &info) && info.dli_fname && info.dli_fname[0] == '/') {
        size_t n = strlen(info.dli_fname);
        if (n < sizeof shim_self_path)
            memcpy(shim_self_path, info.dli_fname, n + 1);
    }
}

static void keep_env(const char *name)
{
    size_t n = strlen(name);
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            char *copy = strdup(*e);
            if (copy && shim_keep_count < SHIM_KEEP_MAX)
                shim_keep_env[shim_keep_count++] = copy;
            return;
        }
    }
}

/* Fill shim_skip_reads from the environment.  Out of memory: skip nothing (report everything). */
static void skip_reads_init(void)
{
    struct roar_skip_reads r;
    memset(&r, 0, sizeof r);
    if (roar_skip_list_add_lines(&r.skip, getenv(ENV_SKIP_UNDER), 1) < 0 ||
        roar_skip_list_add_lines(&r.keep, getenv(ENV_KEEP_UNDER), 1) < 0 ||
        roar_skip_list_add_lines(&r.keep_sub, getenv(ENV_KEEP_CONTAINING), 0) < 0)
        return;
    shim_skip_reads = r;
}

__attribute__((constructor)) static void shim_init(void)
{
    int saved = errno;
    const char *sock = getenv(ENV_SOCK);
    if (!sock || !*sock) {
        errno = saved;
        return;
    }
    self_path();
    shim_busy = 1;
    keep_env(ENV_SOCK);
    keep_env(ENV_SNAP_DIR);
    keep_env(ENV_SNAP_STATE);
    keep_env(ENV_SKIP_UNDER);
    keep_env(ENV_KEEP_UNDER);
    keep_env(ENV_KEEP_CONTAINING);
    keep_env(ENV_DEDUPE_RESET_UNDER);
    keep_env(ENV_RING);
    const char *reset = getenv(ENV_DEDUPE_RESET_UNDER);
    if (reset && reset[0] == '/') {
        size_t n = strlen(reset);
        if (n + 2 < sizeof shim_reset_under) {
            memcpy(shim_reset_under, reset, n);
            if (shim_reset_under[n - 1] != '/')
                shim_reset_under[n++] = '/';
            shim_reset_under[n] = '\0';
            shim_reset_under_len = n;
        }
    }
    snapshot_init();
    skip_reads_init();
    transport_init(sock);
    ring_init();
    shim_pid_cache = getpid();
    pthread_atfork(NULL, NULL, shim_after_fork_child);
    on_exit(exit_hook, NULL);
    shim_ready = 1;
    emit_hello();
    report_unseen_exec();
    report_loaded_objects();
    /* Children started behind our back (system(3), popen(3)) must not take this image's marker
     * for theirs; and the connection's number tells them where to look. */
    unsetenv(ENV_EXEC);
    int fd = transport_fd();
    if (fd >= 0) {
        char num[24];
        setenv(ENV_FD, fmt_long(num, fd), 1);
    }
    shim_busy = 0;
    errno = saved;
}

__attribute__((destructor)) static void shim_fini(void)
{
    if (!shim_ready || !getenv(ENV_DEBUG))
        return;
    uint64_t lost = transport_lost();
    if (lost) {
        char num[24], msg[96] = "roar-preload: events lost in pid ";
        strcat(msg, fmt_long(num, getpid()));
        strcat(msg, ": ");
        strcat(msg, fmt_long(num, (long)lost));
        strcat(msg, "\n");
        ssize_t ignored = write(2, msg, strlen(msg));
        (void)ignored;
    }
}
