/*
 * paths.h -- turning what a tracee passed into the absolute, lexically normalised path that a
 * record carries (events.h: "Paths are absolute and lexically normalised").
 *
 * Why lexical first and realpath() only on the parent: the final component of a path given to
 * rename/unlink/link may not exist any more when we look (or may be a symlink that the call acted
 * on, not its target), so only the directory part can be canonicalised safely.  Calls that follow
 * symlinks (truncate, execve, linkat with AT_SYMLINK_FOLLOW) use path_canonical_full().
 *
 * All functions work in place on a buffer of ROAR_PATH_BUF bytes.
 */
#ifndef ROAR_PTRACE_PATHS_H
#define ROAR_PTRACE_PATHS_H

#include <stddef.h>
#include <sys/types.h>

/* Collapse "//", "." and ".." in an absolute path; ".." at the root stays at the root. */
void path_normalize(char *path);

/* out = base + "/" + rel (rel relative), normalised.  Returns 0, or -1 if it did not fit. */
int path_join(char *out, size_t size, const char *base, const char *rel);

/*
 * "/proc/self/..." and "/proc/thread-self/..." mean the tracee, not us: rewrite them to
 * "/proc/<tgid>/..." and "/proc/<tgid>/task/<tid>/..." before anything is resolved by the tracer.
 */
void path_fix_proc_self(char *path, size_t size, pid_t tgid, pid_t tid);

/* Replace the directory part by its realpath() when that exists; keep the final component. */
void path_canonical_parent(char *path, size_t size);

/* realpath() of the whole path when it exists, else path_canonical_parent(). */
void path_canonical_full(char *path, size_t size);

/* 1 if path is absolute (starts with '/'), which is what every record path must be. */
static inline int path_is_absolute(const char *path)
{
    return path[0] == '/';
}

#endif /* ROAR_PTRACE_PATHS_H */
