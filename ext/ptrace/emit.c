/*
 * emit.c -- see emit.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"
#include "log.h"

static int event_fd = -1;
static int broken;              /* the descriptor failed: count instead of writing */
static unsigned char buffer[ROAR_EVT_MAX_RECORD];
static size_t used;             /* bytes queued in buffer */
static unsigned queued;         /* records queued in buffer */
static int64_t lost;

int emit_init(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0)
        return -1;
    /* The traced program must not inherit (and keep open, or write to) roar's pipe. */
    if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        return -1;
    event_fd = fd;
    return 0;
}

void emit_flush(void)
{
    size_t done = 0;
    if (broken) {
        lost += queued;
        used = 0;
        queued = 0;
        return;
    }
    while (done < used) {
        ssize_t n = write(event_fd, buffer + done, used - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* roar went away (EPIPE) or the fd is bad: keep tracing, stop writing. */
            log_error("cannot write events: %s", strerror(errno));
            broken = 1;
            lost += queued;
            break;
        }
        done += (size_t)n;
    }
    used = 0;
    queued = 0;
}

void emit_count_lost(unsigned n)
{
    lost += n;
}

int64_t emit_lost(void)
{
    return lost;
}

void emit_record(uint8_t kind, uint8_t flags, pid_t pid, pid_t tid, int32_t arg0, int64_t arg1,
                 uint32_t arg2, const char *path1, const char *path2)
{
    size_t len1 = path1 ? strlen(path1) : 0;
    size_t len2 = path2 ? strlen(path2) : 0;
    if (roar_evt_fit(&len1, &len2))
        flags |= ROAR_EVF_TRUNCATED;
    if (flags & ROAR_EVF_TRUNCATED)
        lost++;
    size_t size = ROAR_EVT_HEADER_SIZE + len1 + len2;
    if (used + size > sizeof buffer)
        emit_flush();
    struct roar_evt_header h = {
        .size = (uint16_t)size,
        .kind = kind,
        .flags = flags,
        .pid = pid,
        .tid = tid,
        .arg0 = arg0,
        .arg1 = arg1,
        .arg2 = arg2,
        .len1 = (uint16_t)len1,
        .len2 = (uint16_t)len2,
    };
    memcpy(buffer + used, &h, sizeof h);
    if (len1)
        memcpy(buffer + used + sizeof h, path1, len1);
    if (len2)
        memcpy(buffer + used + sizeof h + len1, path2, len2);
    used += size;
    queued++;
}

void emit_warn(pid_t pid, pid_t tid, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    VLOG("warning (pid %d): %s", (int)pid, msg);
    emit_record(ROAR_EVK_WARN, 0, pid, tid, 0, 0, 0, msg, NULL);
}

/* ---- dedupe: ext/dedupe_table.h, one table for every traced process -------------------------- */

static void *dd_alloc(size_t bytes)
{
    return calloc(1, bytes);
}

static void dd_free(void *memory, size_t bytes)
{
    (void)bytes;
    free(memory);
}

static struct roar_dd_table dedupe = {
    .max_cap = (size_t)1 << 24, .alloc = dd_alloc, .release = dd_free};

int dedupe_first(uint64_t instance, unsigned cls, const char *path)
{
    return roar_dd_first(&dedupe, instance, cls, path);
}

int dedupe_reset_mark(const char *path)
{
    static const char *prefix;
    static size_t len;
    static int read_env;
    if (!read_env) {
        read_env = 1;
        prefix = getenv("ROAR_PRELOAD_DEDUPE_RESET_UNDER");
        len = prefix && prefix[0] == '/' ? strlen(prefix) : 0;
    }
    return len && strncmp(path, prefix, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

void dedupe_forget_instance(uint64_t instance)
{
    roar_dd_forget_instance(&dedupe, instance);
}

void dedupe_forget(const char *path)
{
    roar_dd_forget_path(&dedupe, path);
}
