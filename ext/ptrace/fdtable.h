/*
 * fdtable.h -- which descriptors of a process were opened for writing, and on what path.
 *
 * Why: roar wants a CLOSE record when a descriptor that wrote a file is closed (the file may be
 * complete then).  The kernel does not tell a tracer which file a close(2) closes once it is
 * closed, so we keep our own table, mirroring the kernel's rules:
 *   - fork copies the table; CLONE_FILES (threads) shares it; unshare(CLONE_FILES) copies it;
 *   - execve drops the close-on-exec descriptors (after unsharing, as the kernel does);
 *   - dup/dup2/dup3/fcntl(F_DUPFD*) copy an entry; dup2/dup3 over a tracked descriptor close it;
 *   - close/close_range remove entries; fcntl(F_SETFD)/ioctl(FIOCLEX) change close-on-exec.
 * Only descriptors we saw opened with write access are kept, so the table stays small and is a
 * sorted array.  Path strings are reference counted so that copying a table on fork is cheap.
 */
#ifndef ROAR_PTRACE_FDTABLE_H
#define ROAR_PTRACE_FDTABLE_H

#include <stddef.h>

struct fdtable;

struct fdtable *fdt_new(void);
struct fdtable *fdt_copy(const struct fdtable *t);
struct fdtable *fdt_ref(struct fdtable *t);
void fdt_unref(struct fdtable *t);
/* More than one thread or process uses this table. */
int fdt_shared(const struct fdtable *t);

/* Path of a tracked descriptor, or NULL. */
const char *fdt_get(const struct fdtable *t, int fd);
/* Track fd (replacing any entry). */
void fdt_set(struct fdtable *t, int fd, const char *path, int cloexec);
/* Stop tracking fd; 1 if it was tracked. */
int fdt_remove(struct fdtable *t, int fd);
/* newfd becomes a copy of oldfd's entry (or untracked if oldfd is not tracked). */
void fdt_dup(struct fdtable *t, int oldfd, int newfd, int cloexec);
void fdt_set_cloexec(struct fdtable *t, int fd, int cloexec);

/*
 * Remove every tracked fd in [lo, hi] (only close-on-exec ones if only_cloexec), calling
 * closed(ctx, fd, path) for each before it goes.  With mark_cloexec, mark them instead.
 */
void fdt_close_range(struct fdtable *t, unsigned lo, unsigned hi, int only_cloexec,
                     int mark_cloexec, void (*closed)(void *ctx, int fd, const char *path),
                     void *ctx);

#endif /* ROAR_PTRACE_FDTABLE_H */
