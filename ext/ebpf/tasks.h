/*
 * tasks.h -- the loader's view of the traced tree: one `struct task` per thread, grouped into
 * `struct proc` (thread group), each with the state the kernel half cannot give a record.
 *
 * Why the loader keeps a working directory and descriptor tables: records are built after the
 * fact, from the ring buffer, when the process may have changed directory, closed the descriptor
 * or exited, so /proc cannot be asked.  The kernel names every file an open opens (bpf_d_path),
 * but a rename, link, unlink, truncate or chdir passes names relative to the working directory
 * or a dirfd, and sendfile & co. pass descriptors.  So, like the kernel:
 *   - the working directory is per fs_struct: shared by threads (CLONE_FS), copied on fork;
 *   - descriptor tables (ext/ptrace/fdtable.c) are shared with CLONE_FILES, copied on fork,
 *     unshared and stripped of close-on-exec descriptors on exec.
 * `files` holds every descriptor opened by name (for dirfds, fchdir and sendfile), `writes` the
 * ones opened for writing (for CLOSE records, as roar-ptrace sends them).
 */
#ifndef ROAR_EBPF_TASKS_H
#define ROAR_EBPF_TASKS_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h" /* ext/ptrace: ROAR_PATH_BUF */

struct fdtable;

struct cwd {
    int refs;
    char path[ROAR_PATH_BUF];
};

struct proc {
    pid_t tgid;
    uint64_t instance;   /* new for each process and each exec: the dedupe key */
    int refs;            /* threads pointing here */
    int warned_io_uring; /* a WARN about io_uring was sent */
};

struct task {
    struct task *next; /* hash chain */
    pid_t tid;
    struct proc *proc;
    struct fdtable *files;
    struct fdtable *writes;
    struct cwd *cwd;
    /* With snapshots, the file a truncate(2) of this thread acts on, named while the call
     * waited for the snapshot check (unotify.c): exact even if a symlink on the way is gone by
     * the time the loader sees the call's event.  Taken by the TRUNCATE record. */
    char *truncated_name;
};

/* The root command, whose working directory is ours when it starts. */
struct task *task_add_root(pid_t pid, const char *cwd);
/* The thread tid, or NULL. */
struct task *task_find(pid_t tid);
/*
 * The thread tid of process tgid, created when its fork was not seen (it was lost): it then
 * joins tgid's tables when another thread of tgid is known, else starts from /proc.
 */
struct task *task_get(pid_t tgid, pid_t tid);
/* A fork: the child's entry, sharing or copying the parent's state as the flags say. */
struct task *task_fork(struct task *parent, pid_t child, int thread, int share_files,
                       int share_fs);
/* The thread ended (its process may go on). */
void task_remove(struct task *t);
/* An exec by thread `former` that now has the process id `tid`: the entry moves there. */
struct task *task_exec(struct task *t, pid_t tid);
/* Give t tables / a working directory of its own if shared (exec, unshare). */
void task_unshare_files(struct task *t);
void task_unshare_cwd(struct task *t);
/* Every live process id, for killing the tree (calls fn once per process). */
void task_each_process(void (*fn)(pid_t tgid));

#endif /* ROAR_EBPF_TASKS_H */
