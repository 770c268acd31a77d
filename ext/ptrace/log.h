/*
 * log.h -- diagnostics on stderr.
 *
 * Why not records: log lines are for a person debugging the tracer (--verbose), while WARN records
 * are for roar.  Everything here goes to stderr with a "roar-ptrace: " (or "roar-ebpf: ") prefix so it can be told
 * apart from the traced program's own output, which shares the terminal.
 */
#ifndef ROAR_PTRACE_LOG_H
#define ROAR_PTRACE_LOG_H

extern int log_verbose_enabled;
/* The prefix of every line: the program's name ("roar-ptrace"; roar-ebpf, which shares this
 * file, sets its own). */
extern const char *log_program;

/* Printed only with --verbose: unhandled syscall stops and tracer decisions. */
void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Always printed: things the user must see (cannot execute, tracer failures). */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define VLOG(...)                                                                                  \
    do {                                                                                           \
        if (log_verbose_enabled)                                                                   \
            log_verbose(__VA_ARGS__);                                                              \
    } while (0)

#endif /* ROAR_PTRACE_LOG_H */
