/*
 * Copying one open file into another as cheaply as the filesystem allows: a reflink (FICLONE),
 * else copy_file_range(2), else read/write.  Shared by both tracers' snapshot code, which must keep
 * a read file's content before the job changes it.  Raw syscalls for copy_file_range: the preload
 * shim interposes the libc wrapper, and its own copies must never be reported as the job's I/O.
 */
#ifndef ROAR_COPY_BYTES_H
#define ROAR_COPY_BYTES_H

#include <errno.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* Copy all of src into out (both open, out empty).  Returns 1 on success, 0 with errno set. */
static inline int roar_copy_bytes(int src, int out)
{
    if (ioctl(out, FICLONE, src) == 0)
        return 1;
    int use_cfr = 1;
    for (;;) {
        ssize_t n;
        if (use_cfr) {
            n = (ssize_t)syscall(SYS_copy_file_range, src, NULL, out, NULL, (size_t)1 << 30, 0u);
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                          errno == EOPNOTSUPP)) {
                use_cfr = 0;
                continue;
            }
        } else {
            char buf[65536];
            n = read(src, buf, sizeof buf);
            for (ssize_t done = 0; n > 0 && done < n;) {
                ssize_t w = write(out, buf + done, (size_t)(n - done));
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    n = -1;
                    break;
                }
                done += w;
            }
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0;
    }
}

#endif /* ROAR_COPY_BYTES_H */
