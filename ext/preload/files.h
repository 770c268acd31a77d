/*
 * files.h -- what the file wrappers (files.c: open, stdio; changes.c: rename, link, unlink,
 * truncate, copies, close/dup, chdir) share: the record helpers and the definitions older
 * headers lack.
 */
#ifndef ROAR_PRELOAD_FILES_H
#define ROAR_PRELOAD_FILES_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim.h"

#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define FDTAB_SCAN_LIMIT 65535u

void unresolved(const char *what);
void report_rename(int olddir, const char *oldpath, int newdir, const char *newpath,
                   unsigned flags);
void report_link(int olddir, const char *oldpath, int newdir, const char *newpath,
                 int flags);
void report_unlink(int dirfd, const char *path);
void report_truncate_path(const char *path, int64_t length);
void report_truncate_fd(int fd, int64_t length);
void report_fd_data(uint8_t kind, unsigned cls, int fd);
void before_change(int dirfd, const char *path, int follow, enum snapshot_how how);

#endif
