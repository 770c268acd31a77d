/*
 * openat_dirfd.c -- *at() calls relative to a directory descriptor and to the working directory.
 *
 * Exercises: OPEN paths taken from /proc/<tid>/fd (openat with a dirfd and "../" in the name),
 * RENAME/LINK/UNLINK paths resolved against a dirfd and against AT_FDCWD after chdir (CHDIR),
 * unlinkat(AT_REMOVEDIR) producing no record, and O_PATH opens producing no OPEN.
 *
 * Run: openat_dirfd DIR   (DIR must contain sub/ and sub/in.txt)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (dir < 0)
        return 1;
    int p = open(argv[1], O_PATH);            /* no record */
    int in = openat(dir, "sub/../sub/in.txt", O_RDONLY);
    int out = openat(dir, "out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (p < 0 || in < 0 || out < 0 || write(out, "x", 1) != 1)
        return 1;
    close(out);
    if (renameat(dir, "out.txt", dir, "sub/moved.txt") != 0)
        return 1;
    if (linkat(dir, "sub/moved.txt", dir, "hard.txt", 0) != 0)
        return 1;
    if (unlinkat(dir, "hard.txt", 0) != 0)
        return 1;
    if (mkdirat(dir, "emptydir", 0755) != 0 || unlinkat(dir, "emptydir", AT_REMOVEDIR) != 0)
        return 1;                              /* rmdir: no record */
    if (fchdir(dir) != 0 || chdir("sub") != 0)
        return 1;
    if (unlink("moved.txt") != 0)              /* relative to the new cwd */
        return 1;
    return 0;
}
