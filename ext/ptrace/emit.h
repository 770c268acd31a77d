/*
 * emit.h -- writing wire records (ext/events.h) to roar's event descriptor.
 *
 * Why batching: a traced build can produce hundreds of thousands of records, and one write(2) per
 * record would cost more than the tracing itself.  Only this tracer writes to the descriptor, so
 * records are packed into one buffer of ROAR_EVT_MAX_RECORD bytes (a single write of that size to
 * a pipe is still atomic) and flushed when the next record would not fit and whenever the tracer
 * is about to block in waitpid(), so roar never waits on events that sit in our buffer.
 *
 * Why dedupe here: a program that opens the same file a thousand times (a loader probing, a log
 * reopened per line) would otherwise send a thousand identical OPEN records.  An OPEN is dropped
 * when the same process instance already reported the same path with the same access class.  Any
 * RENAME/LINK/UNLINK/TRUNCATE of a path forgets that path, so a file that is re-created afterwards
 * is reported again.
 */
#ifndef ROAR_PTRACE_EMIT_H
#define ROAR_PTRACE_EMIT_H

#include <stdint.h>
#include <sys/types.h>

#include "dedupe_table.h"
#include "events.h"

/* Take ownership of descriptor fd (marks it close-on-exec).  Returns 0 or -1 (errno set). */
int emit_init(int fd);

/* Queue one record.  path1 may be "" and path2 NULL; paths that do not fit are cut (TRUNCATED). */
void emit_record(uint8_t kind, uint8_t flags, pid_t pid, pid_t tid, int32_t arg0, int64_t arg1,
                 uint32_t arg2, const char *path1, const char *path2);

/* A WARN record whose path1 is the formatted one-line message (also logged with --verbose). */
void emit_warn(pid_t pid, pid_t tid, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write out everything queued.  Handles EINTR and partial writes. */
void emit_flush(void);

/* Count events that could not be reported (unresolvable paths); reported in END's arg1. */
void emit_count_lost(unsigned n);
/* Events lost or truncated so far. */
int64_t emit_lost(void);

/* Access classes for dedupe: enum dedupe_class and dedupe_open_class(), in dedupe_table.h. */

/*
 * 1 the first time (instance, cls, path) is seen (and remembers it), 0 after.  `instance` is a
 * process instance number: a new process or an exec starts a new one, so pid reuse cannot
 * swallow records.
 */
int dedupe_first(uint64_t instance, unsigned cls, const char *path);

/* Forget every entry for path (all instances, all classes). */
void dedupe_forget(const char *path);
/*
 * ROAR_PRELOAD_DEDUPE_RESET_UNDER (the same setting the preload shim reads): 1 when an open of
 * `path` marks a unit of work (a Ray task) beginning or ending, after which the process's dedupe
 * starts afresh (dedupe_forget_instance) so the next one's reads are reported too.
 */
int dedupe_reset_mark(const char *path);
/* Forget everything one process image reported: a new unit of work (a Ray task) begins. */
void dedupe_forget_instance(uint64_t instance);

#endif /* ROAR_PTRACE_EMIT_H */
