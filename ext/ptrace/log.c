/*
 * log.c -- see log.h.  One fprintf per line so lines from the tracer do not interleave mid-line
 * with each other (stderr is unbuffered).
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

int log_verbose_enabled = 0;
const char *log_program = "roar-ptrace";

static void vlog_line(const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "%s: %s\n", log_program, line);
}

void log_verbose(const char *fmt, ...)
{
    if (!log_verbose_enabled)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog_line(fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_line(fmt, ap);
    va_end(ap);
}
