/*
 * syscalls.h -- the dispatch table: one row per syscall the tracer handles.
 *
 * Why a table (reprozip's syscall_build_table): the same rows drive the seccomp filter (which
 * syscalls stop at all), the dispatch at a stop (entry handler at the seccomp/entry stop, exit
 * handler at the exit stop) and the log names.  A syscall that reaches the tracer without a row
 * is logged (--verbose), so gaps stay visible.
 */
#ifndef ROAR_PTRACE_SYSCALLS_H
#define ROAR_PTRACE_SYSCALLS_H

#include <stdint.h>

#include "skip_reads.h"

struct thread;
struct sock_fprog;

enum sc_next {
    SC_DONE = 0,      /* nothing more to see: resume with PTRACE_CONT */
    SC_NEED_EXIT = 1, /* resume with PTRACE_SYSCALL and call the exit handler at the exit stop */
};

/* At the seccomp (or entry) stop; t->sc holds nr and args.  Returns enum sc_next. */
typedef int (*sc_entry_fn)(struct thread *t);
/* At the exit stop, only when the syscall succeeded (rval >= 0). */
typedef void (*sc_exit_fn)(struct thread *t, int64_t rval);

struct syscall_row {
    long nr;
    const char *name;
    sc_entry_fn entry;
    sc_exit_fn exit;
    /*
     * Optional argument filter for the seccomp program: the syscall only stops when the low 32
     * bits of args[filter_arg] equal one of filter_vals (fcntl and ioctl are frequent and almost
     * always irrelevant).  nfilter == 0 means always stop.
     */
    int filter_arg;
    int nfilter;
    uint32_t filter_vals[4];
};

void syscalls_init(void);

/*
 * Read-only opens not to report (see skip_reads.h), filled by main.c from --skip-reads-under,
 * --keep-reads-under and --keep-reads-containing.  Empty: every open is reported.
 */
extern struct roar_skip_reads skip_reads;

/* Row for nr, or NULL when the tracer does not handle nr. */
const struct syscall_row *syscall_lookup(long nr);

/* Name for logs ("nr 123" style names are produced by the caller when this returns NULL). */
const char *syscall_name(long nr);

/* The seccomp program: TRACE for every row, ALLOW for anything else.  Returns 0 or -1. */
int seccomp_build_filter(struct sock_fprog *prog);

#endif /* ROAR_PTRACE_SYSCALLS_H */
