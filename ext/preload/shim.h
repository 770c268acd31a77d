/*
 * shim.h -- shared declarations of libroar_preload.so, the LD_PRELOAD tracer.
 *
 * The shim is loaded into every dynamically linked process of a traced command.  It wraps the
 * libc functions that open, create, move, remove or execute files, lets the real function run, and
 * then reports what happened as wire records (ext/events.h) on a Unix SOCK_SEQPACKET connection to
 * roar.  One record is one sendmsg(2), so records never interleave.
 *
 * Files, by job:
 *   init.c       constructor, exit hooks, fork hooks, real-symbol lookup
 *   transport.c  the connection to roar: adopt an inherited one or connect, keep it safe, send
 *   ring.c       the tree's shared-memory record ring (ext/ring.h): records without a syscall
 *   paths.c      absolute, lexically normalised paths; descriptor paths; program inspection
 *   lexical.c    an open's path from the call's own path where that is the kernel's answer
 *   dedupe.c     per-process OPEN (and ENV) dedupe and the table of descriptors opened for writing
 *   snapshot.c   saving an input before the job overwrites or removes it (tree-wide state)
 *   files.c      open family, stdio, rename/link/unlink/truncate, copies, close/dup, chdir
 *   exec.c       exec family, posix_spawn, fork, _exit (and what a vfork child may call)
 *   env.c        getenv, secure_getenv: the environment variables a program reads
 *
 * Rules every wrapper follows:
 *   - the real function runs first (except exec, which is reported before it replaces us), with
 *     the program's arguments untouched, and its return value and errno reach the program as is
 *     (getenv and secure_getenv have no real function to call: env.c does their walk itself);
 *     what must be learnt before the call can change it -- saving an input about to be
 *     overwritten, whether an O_CREAT open's file exists yet -- is looked at just before, and
 *     reported after;
 *   - the reporting part runs inside shim_enter()/shim_leave(): a thread-local guard, so the
 *     shim's own libc calls and signal handlers that interrupt it are never traced recursively;
 *   - the shim's own descriptor work uses raw syscalls, never its own exported wrappers;
 *   - nothing here may block the program forever or kill it: on any failure the event is
 *     counted as lost and the program goes on.
 */
#ifndef ROAR_PRELOAD_SHIM_H
#define ROAR_PRELOAD_SHIM_H

#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "dedupe_table.h"
#include "events.h"
#include "skip_reads.h"

#define SHIM_API __attribute__((visibility("default")))

/* Path buffers: PATH_MAX, which is also the largest path a record can carry whole. */
#define SHIM_PATH 4096

/* Environment variables shared with roar/tracing/preload.py. */
#define ENV_SOCK "ROAR_PRELOAD_SOCK"  /* path of roar's listening socket */
#define ENV_FD "ROAR_PRELOAD_FD"      /* descriptor number of the inherited connection */
#define ENV_EXEC "ROAR_PRELOAD_EXEC"  /* who already reported this exec: "<pid>" or "P<ppid>" */
#define ENV_DEBUG "ROAR_PRELOAD_DEBUG" /* set: report lost events on stderr at exit */
/*
 * Which read-only opens not to report (ext/skip_reads.h has the rule): newline-separated lists
 * of the skip prefixes, the keep prefixes and the keep substrings, read once by the constructor
 * into shim_skip_reads.  Unset or empty skip list: every open is reported.
 */
#define ENV_SKIP_UNDER "ROAR_PRELOAD_SKIP_READS_UNDER"
#define ENV_KEEP_UNDER "ROAR_PRELOAD_KEEP_READS_UNDER"
#define ENV_KEEP_CONTAINING "ROAR_PRELOAD_KEEP_READS_CONTAINING"
/*
 * A directory: opening a file under it starts the process's dedupe afresh (dedupe_reset), so
 * what the next unit of work (a Ray task, marked by such an open) reads is reported again.
 */
#define ENV_DEDUPE_RESET_UNDER "ROAR_PRELOAD_DEDUPE_RESET_UNDER"
/* The tree's shared-memory record ring (ext/ring.h), a file roar created; unset: records are
 * sent on the socket one by one. */
#define ENV_RING "ROAR_PRELOAD_RING"

/* ---- init.c ----------------------------------------------------------------------------------- */

extern int shim_ready; /* the constructor found ROAR_PRELOAD_SOCK and set everything up */
extern __thread int shim_busy __attribute__((tls_model("initial-exec")));
extern char shim_self_path[SHIM_PATH]; /* absolute path of libroar_preload.so */
/* "NAME=value" of roar's variables as this image started with them (ROAR_PRELOAD_SOCK, the
 * snapshot and the skip-reads settings): put back into an exec'd program's environment when the
 * caller left them out. */
#define SHIM_KEEP_MAX 12
extern const char *shim_keep_env[SHIM_KEEP_MAX];
extern int shim_keep_count;
/* The reads not to report (ENV_SKIP_UNDER & co.), fixed once the constructor has run. */
extern struct roar_skip_reads shim_skip_reads;
/* ENV_DEDUPE_RESET_UNDER with a trailing '/', or "" (length 0). */
extern char shim_reset_under[SHIM_PATH];
extern size_t shim_reset_under_len;

static inline int shim_enter(void)
{
    if (!shim_ready || shim_busy)
        return 0;
    shim_busy = 1;
    return 1;
}

static inline void shim_leave(void)
{
    shim_busy = 0;
}

/* This process's pid, cached: getpid(2) is a real syscall on every call since glibc 2.25, and
 * every record needs it.  The constructor sets it and so does every fork child (the fork hook,
 * and our _Fork wrapper for the one fork that skips hooks); a child made by a raw clone(2) syscall
 * would report its parent's pid. */
extern pid_t shim_pid_cache;
static inline pid_t shim_getpid(void)
{
    return shim_pid_cache;
}
/* The calling thread's id, cached per thread (and re-read in a fork child). */
pid_t shim_gettid(void);
/*
 * 1 in a child that no fork hook saw: a vfork(2) child (or a raw clone).  A vfork child runs in
 * its parent's memory until it execs or exits, so anything it writes to the shim's globals or to
 * the calling thread's TLS caches lands in the parent.  The wrappers such a child calls (exec,
 * _exit, close, dup2 -- what correct vfork users call) check this and then only send records
 * (emit_raw) without touching any state.  Costs one getpid(2).
 */
static inline int shim_in_hookless_child(void)
{
    return getpid() != shim_pid_cache;
}
/* Per-process state to reset in a fork child; run by the fork hook. */
void shim_after_fork_child(void);

/* dlsym(RTLD_NEXT, name), or NULL. */
void *shim_real(const char *name);

#define REAL_DECL(ret, name, params) static ret(*real_##name) params
#define REAL(name)                                                                                \
    ({                                                                                            \
        if (!real_##name)                                                                         \
            real_##name = (__typeof__(real_##name))shim_real(#name);                              \
        real_##name;                                                                              \
    })

/* ---- transport.c ------------------------------------------------------------------------------ */

/* Adopt the inherited connection (ROAR_PRELOAD_FD) if it is roar's, else connect.  0 or -1. */
int transport_init(const char *sock_path);
/* The connected descriptor, or -1. */
int transport_fd(void);
/* Called before the program's dup2/dup3 lands on fd: moves our connection out of the way. */
void transport_evacuate(int fd);
/* A forked child: forget per-process state (the connection itself is shared and kept). */
void transport_after_fork(void);
/* Records that could not be delivered (no connection, roar gone, send timeout). */
uint64_t transport_lost(void);
/* Wake roar (a one-byte message) when it sleeps on the ring. */
void transport_wake(void);

/* ---- ring.c ----------------------------------------------------------------------------------- */

/* Map the ring ROAR_PRELOAD_RING names, once per image (0; -1 when there is none). */
int ring_init(void);
/* The tree's count of directories renamed or removed (ext/ring.h): 0, or -1 without a ring. */
int ring_dirs_generation(uint32_t *generation);
void ring_dirs_changed(void);
/* Put one record in the ring: 0 done, -1 no ring (send it), -2 given up (count it lost).
 * `stateless`: a vfork child's call, which must not write the shim's globals (they are the
 * parent's); it only touches the shared ring. */
int ring_put(int32_t pid, const struct roar_evt_header *h, const char *p1, const char *p2,
             int stateless);

/* Report one record for this process (sends HELLO first when this pid has not said hello). */
void emit(uint8_t kind, uint8_t flags, int32_t arg0, int64_t arg1, uint32_t arg2,
          const char *path1, const char *path2);
/* Report one record on behalf of another process (posix_spawn's child). */
void emit_for(pid_t pid, pid_t tid, uint8_t kind, uint8_t flags, int32_t arg0, int64_t arg1,
              uint32_t arg2, const char *path1, const char *path2);
/* A WARN record: path1 = the message, arg0 = how many events it stands for as lost (0 when it
 * only points out a blind spot).  roar sums arg0 into END's events-lost count. */
void emit_warn(unsigned lost, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send a record on the current connection, if there is one, changing no state at all (no
 * connecting, no HELLO bookkeeping, no lost count): safe in a vfork child. */
void emit_raw(pid_t pid, pid_t tid, uint8_t kind, uint8_t flags, int32_t arg0, int64_t arg1,
              uint32_t arg2, const char *path1, const char *path2);
/* Make sure this process said HELLO (used where the first record is sent for another pid). */
void emit_hello(void);

/* ---- paths.c ---------------------------------------------------------------------------------- */

/* Collapse "//", "." and ".." in an absolute path, in place. */
void path_normalize(char *path);
/* out = absolute, normalised path of `path` relative to dirfd (AT_FDCWD: cwd).  An empty path
 * with allow_empty means dirfd itself.  0, or -1 (out undefined). */
int path_resolve_at(int dirfd, const char *path, char *out, int allow_empty);
/* readlink("/proc/self/fd/N"); 0 if it is an absolute path of a live file, 1 if it is not a
 * file (pipe:, socket:, anon_inode:, a deleted file), -1 on error. */
int path_of_fd(int fd, char *out);
/* realpath() of the directory part, keeping the final component (it may not exist, or be a
 * symlink the call acted on). */
void path_canonical_parent(char *path);
/* realpath() of the whole path when it exists, else path_canonical_parent(). */
void path_canonical_full(char *path);
/* Search $PATH like execvp(3): 0 and the absolute path of the first executable file, or -1. */
int path_search(const char *file, char *out);

/* ---- lexical.c -------------------------------------------------------------------------------- */

struct stat;
/* fstatat(2) of path as an open with (follow ? 0 : O_NOFOLLOW) resolves it, in one call unless
 * the final component is a symlink; *final_plain = 1 when it is not one (or is absent: the open
 * creates it).  0, or -1 with errno. */
int stat_as_open(int dirfd, const char *path, int follow, struct stat *st, int *final_plain);
/* The absolute path a successful open of (dirfd, path) opened, without /proc: 0 and out = the
 * kernel's answer; 1 when it cannot tell (out = the lexical path and *generation the tree's
 * count of directory changes, for lexical_learn); -1 when there is no lexical path.
 * final_plain: the final component is known not to be a symlink. */
int lexical_open_path(int dirfd, const char *path, int final_plain, char *out,
                      uint32_t *generation);
/* The kernel named an open's file: when that is the lexical path, its directory is known. */
void lexical_learn(const char *lexical, const char *kernel, uint32_t generation);
/* This process changed its working directory / renamed or removed a directory. */
void lexical_cwd_changed(void);
void lexical_dirs_changed(void);
void lexical_after_fork(void);

/* What exec would actually run: the binary behind a chain of #! lines. */
struct program_info {
    char file[SHIM_PATH]; /* canonical path of the file given to exec */
    char real[SHIM_PATH]; /* canonical path of the binary that runs (the final interpreter) */
    int is_static;        /* ELF without PT_INTERP: the dynamic loader (and we) never run */
    int is_setid;         /* setuid/setgid: the loader ignores LD_PRELOAD */
};
/* path is absolute.  0, or -1 when it is not an executable regular file (exec will fail). */
int program_inspect(const char *path, struct program_info *info);

/* Decimal digits of v into buf (at least 24 bytes); returns buf. */
char *fmt_long(char *buf, long v);

/* ---- dedupe.c --------------------------------------------------------------------------------- */

/* The access classes (enum dedupe_class) are ext/dedupe_table.h's, shared by every tracer. */
/* Two independent 64-bit hashes of a path (a is never 0). */
void path_hash128(const char *s, size_t n, uint64_t *a, uint64_t *b);
/* 1 the first time this process reports (cls, path), 0 after. */
int dedupe_first(unsigned cls, const char *path);
/* 1 when this process already reported (cls, path); changes nothing. */
int dedupe_seen(unsigned cls, const char *path);
/* Forget path in every class (it was renamed, unlinked or truncated). */
void dedupe_forget(const char *path);
/* Forget everything this process reported: a new unit of work begins. */
void dedupe_reset(void);
void dedupe_after_fork(void);

/* Descriptors opened for writing, for CLOSE records. */
void fdtab_set(int fd, const char *path);
/* Take the path of fd out of the table (caller frees), or NULL. */
char *fdtab_take(int fd);
int fdtab_has(int fd);

/* ---- snapshot.c ------------------------------------------------------------------------------- */

#define ENV_SNAP_DIR "ROAR_PRELOAD_SNAPSHOT_DIR"     /* where saved inputs go */
#define ENV_SNAP_STATE "ROAR_PRELOAD_SNAPSHOT_STATE" /* the tree's shared per-path state file */

enum snapshot_how {
    SNAPSHOT_COPY, /* the data will change in place: copy it */
    SNAPSHOT_LINK, /* only the name will go: a hard link keeps the data */
};

/* Read the environment (constructor).  Snapshots stay off unless both variables are set. */
void snapshot_init(void);
int snapshot_enabled(void);
/* A process read path's existing content (OPEN for reading, READ, EXEC). */
void snapshot_note_read(const char *path);
/* A process of the job wrote or replaced path: later changes are to the job's own data. */
void snapshot_note_write(const char *path);
/* path (canonical) is about to be changed: save it first if the job read it (or, with
 * also_unread, if nobody touched it yet: an O_RDWR open keeps and reads the old content). */
void snapshot_before_change(const char *path, enum snapshot_how how, int also_unread);
/* The same for a path as the program gave it (dirfd-relative); follow: the call follows a
 * final symlink.  Its one stat (stat_as_open) also says whether the path exists, which the caller
 * may need too: 1 it exists, 0 it does not (ENOENT), -1 unknown (snapshots off, or another
 * error); and, when final_plain is not NULL, whether the final component is not a symlink. */
int snapshot_before_change_at(int dirfd, const char *path, int follow, enum snapshot_how how,
                              int also_unread, int *final_plain);

/* ---- files.c / exec.c ------------------------------------------------------------------------- */

/* Not a record flag (report_open takes it out): the look before the open found the final
 * component not to be a symlink, so the open's path needs no /proc (lexical.c). */
#define SHIM_OPEN_FINAL_PLAIN 0x80000000u
/* Report the OPEN of a successful open-family call; open_info = its ROAR_OPEN_* flags (arg2),
 * with SHIM_OPEN_FINAL_PLAIN. */
void report_open(int fd, int flags, uint32_t open_info, int dirfd, const char *path);
/* A CLOSE record if fd was open for writing. */
void report_close(int fd);
/* The exit hook: EXIT for this process, once. */
void report_exit(int status);
/* The constructor's check for an exec no wrapper reported (the root, system(3), static parents). */
void report_unseen_exec(void);

#endif /* ROAR_PRELOAD_SHIM_H */
