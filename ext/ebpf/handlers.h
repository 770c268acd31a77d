/*
 * handlers.h -- turning what the kernel half reports (struct rb_event) into wire records
 * (ext/events.h), the way roar-ptrace's exit handlers do (ext/ptrace/sc_*.c).
 */
#ifndef ROAR_EBPF_HANDLERS_H
#define ROAR_EBPF_HANDLERS_H

#include <linux/types.h>
#include <sys/types.h>

#include "bpf_event.h"
#include "skip_reads.h"

/* Read-only opens not to report (skip_reads.h), filled by main.c from the options. */
extern struct roar_skip_reads skip_reads;

/* Fill the kernel half's per-syscall table: fn(nr, spec) once per syscall it must capture. */
void handlers_each_spec(void (*fn)(__u32 nr, const struct sc_spec *spec, void *ctx), void *ctx);

/* The root command starts (before anything of it is reported) in working directory cwd. */
void handlers_root(pid_t pid, const char *cwd);

/* One event from the ring buffer. */
void handle_event(const struct rb_event *ev);

/* The root process's first exec was reported: its trace is not empty. */
int handlers_root_exec_seen(void);

#endif /* ROAR_EBPF_HANDLERS_H */
