/*
 * snapshot.h -- keep the content of a file the job read before the job destroys it.
 *
 * Why: roar records an input by its content *as the job read it*.  When a job reads data.csv
 * and later rewrites it in place, truncates it, renames something over it or deletes it, hashing
 * data.csv after the job would give the wrong digest (or nothing).  The tracer sees each of those
 * calls at its seccomp stop, before the kernel runs it, so it can save the old content first:
 * a hard link when the call only replaces or removes the name (rename over, unlink: the old inode
 * lives on through the link), a copy (reflink when the filesystem can) when the call changes the
 * inode's data (open for writing, truncate).  A SNAPSHOT record then says where the content went:
 * path1 = the input, path2 = the saved file inside --snapshot-dir.  Only the first snapshot of a
 * path is taken: it is the original.
 *
 * The bookkeeping is per path, over the whole traced tree: a path is an input once some process
 * read it before any process of the job wrote it.
 */
#ifndef ROAR_PTRACE_SNAPSHOT_H
#define ROAR_PTRACE_SNAPSHOT_H

#include <sys/types.h>

/* Enable snapshots into dir (must exist).  Returns 0, or -1 (errno set). */
int snapshot_init(const char *dir);
int snapshot_enabled(void);

/* A process read path's existing content (OPEN for reading, READ, EXEC). */
void snapshot_note_read(const char *path);
/* A process of the job wrote or replaced path: later changes are to the job's own data. */
void snapshot_note_write(const char *path);

enum snapshot_how {
    SNAPSHOT_COPY, /* the data will change in place: copy it */
    SNAPSHOT_LINK, /* only the name will go: a hard link keeps the data */
};

/*
 * path (canonical) is about to be changed by pid/tid.  If it is an input not yet saved, save it
 * and emit SNAPSHOT.  With also_unread, a path nobody read yet counts as an input too (an
 * O_RDWR open reads the old content it keeps).  Returns 1 if a snapshot was taken.
 */
int snapshot_before_change(pid_t pid, pid_t tid, const char *path, enum snapshot_how how,
                           int also_unread);

#endif /* ROAR_PTRACE_SNAPSHOT_H */
