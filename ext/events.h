/*
 * roar tracer event wire format, version 1 -- the single source of truth.
 *
 * Every tracer backend (ptrace, preload, later eBPF) writes the same records to a descriptor that
 * roar owns (a pipe).  A record is one fixed 32-byte header followed by `len1` bytes of the first
 * path and `len2` bytes of the second path (no NUL terminators).  A record is never larger than
 * ROAR_EVT_MAX_RECORD (== PIPE_BUF on Linux) so that a single write(2) of it is atomic even when many
 * processes share the pipe (the preload backend).  Integers are in the host's byte order: the
 * producer and the consumer always run on the same machine.
 *
 * Paths are absolute and lexically normalised.  When a path does not fit, it is cut and the record
 * carries ROAR_EVF_TRUNCATED; the reader reports that as a warning instead of guessing.  (ENV
 * records carry a name and a value instead of paths; there only the value is ever cut.)
 *
 * roar/tracing/wire.py mirrors these constants; tests/unit/test_wire_constants.py keeps them equal.
 * ext/README.md explains each record kind in prose.
 */
#ifndef ROAR_EVENTS_H
#define ROAR_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define ROAR_EVT_VERSION 1
#define ROAR_EVT_HEADER_SIZE 32
#define ROAR_EVT_MAX_RECORD 4096

/* Record kinds (uint8). */
#define ROAR_EVK_HELLO 1    /* a writer starts: arg0 = format version, path1 = backend name */
#define ROAR_EVK_OPEN 2     /* successful open: arg0 = open(2) flags, arg1 = resulting fd, path1,
                               arg2 = ROAR_OPEN_* flags */
#define ROAR_EVK_EXEC 3     /* successful exec: path1 = file passed to execve, path2 = real binary */
#define ROAR_EVK_FORK 4     /* pid = parent, arg0 = child pid, arg2 = ROAR_FORK_* flags */
#define ROAR_EVK_EXIT 5     /* a process (thread group) ended: arg0 = raw wait(2) status */
#define ROAR_EVK_RENAME 6   /* successful rename: path1 = old, path2 = new, arg0 = renameat2 flags */
#define ROAR_EVK_LINK 7     /* successful hard link: path1 = existing, path2 = new name */
#define ROAR_EVK_UNLINK 8   /* successful unlink of path1 */
#define ROAR_EVK_TRUNCATE 9 /* truncate/ftruncate of path1 to arg1 bytes */
#define ROAR_EVK_READ 10    /* data read through a descriptor without a visible open (sendfile, ...) */
#define ROAR_EVK_WRITE 11   /* data written through a descriptor without a visible open */
#define ROAR_EVK_CHDIR 12   /* the process changed its working directory to path1 */
#define ROAR_EVK_WARN 13    /* the tracer could not see something: path1 = one-line message,
                               arg0 = how many events this warning stands for as lost (or 0) */
#define ROAR_EVK_END 14     /* the tracer is done: arg0 = root's raw wait status, arg1 = events lost */
#define ROAR_EVK_CLOSE 15   /* a descriptor opened for writing was closed: arg1 = fd, path1 */
#define ROAR_EVK_SNAPSHOT 16 /* path1's content as the job first read it, saved at path2 just
                                before the job overwrote, truncated, renamed over or unlinked it */
#define ROAR_EVK_ENV 17     /* a process looked up an environment variable that is set: path1 =
                               its name, path2 = the value it saw (a cut value: TRUNCATED) */

/* Header flags (uint8). */
#define ROAR_EVF_TRUNCATED 0x01 /* a path (or an ENV value) was cut to fit the record */

/* ROAR_EVK_OPEN arg2 flags.  Both tracers decide CREATED for every open with O_CREAT (before the
 * call runs, they look whether the path exists); it is never set without O_CREAT. */
#define ROAR_OPEN_CREATED 0x01 /* the file did not exist just before this open: the open created it */

/* ROAR_EVK_FORK arg2 flags. */
#define ROAR_FORK_THREAD 0x01 /* the child shares the parent's address space (a thread) */
#define ROAR_FORK_VFORK 0x02  /* vfork / CLONE_VFORK */

struct roar_evt_header {
    uint16_t size;  /* whole record in bytes, header included */
    uint8_t kind;   /* ROAR_EVK_* */
    uint8_t flags;  /* ROAR_EVF_* */
    int32_t pid;    /* thread group id of the process the event belongs to */
    int32_t tid;    /* thread id that made the call */
    int32_t arg0;   /* kind-specific, see above */
    int64_t arg1;   /* kind-specific, see above */
    uint32_t arg2;  /* kind-specific, see above */
    uint16_t len1;  /* bytes of path1 following the header */
    uint16_t len2;  /* bytes of path2 following path1 */
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct roar_evt_header) == ROAR_EVT_HEADER_SIZE, "header must be 32 bytes");
#endif

/* Fit two paths into one record: each keeps what it needs if that is at most half the room, the
 * longer ones share the rest.  Returns nonzero when a path was cut (set ROAR_EVF_TRUNCATED). */
static inline int roar_evt_fit(size_t *len1, size_t *len2)
{
    const size_t room = ROAR_EVT_MAX_RECORD - ROAR_EVT_HEADER_SIZE;
    if (*len1 + *len2 <= room)
        return 0;
    const size_t half = room / 2;
    if (*len1 <= half)
        *len2 = room - *len1;
    else if (*len2 <= half)
        *len1 = room - *len2;
    else
        *len1 = *len2 = half;
    return 1;
}

#endif /* ROAR_EVENTS_H */
