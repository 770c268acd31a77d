/*
 * skip_reads.c -- read-only opens under a "skip" directory, some of which must still be reported.
 *
 * Exercises: the tracers' skip-reads rule (ext/skip_reads.h) with SYS as the skip prefix and
 * SYS/keep as a keep prefix.  Left out: plain reads under SYS (absolute, relative to the working
 * directory, relative to a dirfd, with "sub/.." in the name), a symlink in PROJ that leads into
 * SYS, a name under SYS that does not exist (the open fails), and a read-only O_DIRECTORY open.
 * Reported: reads under SYS/keep, of a ".so" and a "/site-packages/" file, an O_RDWR open, a
 * symlink in SYS that leads to PROJ (with PROJ's path), "dir-link/../x.txt" where dir-link leads
 * to PROJ/dir (the kernel opens PROJ/x.txt, although SYS/x.txt exists too), a symlink in SYS to
 * /proc/self/fd/N where N is an O_PATH descriptor of PROJ/magic.txt (a magic link: only the
 * traced process itself can follow it to its file), and a plain read in PROJ.
 *
 * Run: skip_reads SYS PROJ   (the layout of tests/conftest.py skip_reads_layout; the program
 *                             makes SYS/magic-link itself)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static const char *in(const char *dir, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Open and close; 0 when the open succeeded. */
static int touch(int dirfd, const char *path, int flags)
{
    int fd = openat(dirfd, path, flags);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *sys = argv[1], *proj = argv[2];
    static const char *const reads[][2] = {
        {"s", "plain.txt"},
        {"s", "keep/kept.txt"},
        {"s", "libfoo.so.1"},
        {"s", "py/site-packages/mod.py"},
        {"s", "out-link"},          /* -> PROJ/target.txt */
        {"p", "in-link"},           /* -> SYS/hidden.txt */
        {"s", "sub/../plain2.txt"}, /* SYS/plain2.txt */
        {"s", "dir-link/../x.txt"}, /* PROJ/x.txt */
        {"p", "plain.txt"},
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        if (touch(AT_FDCWD, in(reads[i][0][0] == 's' ? sys : proj, reads[i][1]), O_RDONLY) < 0)
            return 1;
    }
    if (touch(AT_FDCWD, in(sys, "rw.txt"), O_RDWR) < 0)
        return 1;
    if (touch(AT_FDCWD, in(sys, "missing.txt"), O_RDONLY) == 0)
        return 1;

    /* A descriptor number no tracer has open: followed by the tracer, the link would not exist. */
    int handle = fcntl(open(in(proj, "magic.txt"), O_PATH), F_DUPFD, 900);
    char target[64];
    snprintf(target, sizeof target, "/proc/self/fd/%d", handle);
    if (handle < 0 || symlink(target, in(sys, "magic-link")) < 0 ||
        touch(AT_FDCWD, in(sys, "magic-link"), O_RDONLY) < 0)
        return 1;

    int dir = open(sys, O_RDONLY | O_DIRECTORY);
    if (dir < 0 || touch(dir, "dirfd.txt", O_RDONLY) < 0)
        return 1;
    if (chdir(sys) < 0 || touch(AT_FDCWD, "rel.txt", O_RDONLY) < 0)
        return 1;
    return 0;
}
