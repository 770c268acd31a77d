/*
 * copy_calls.c -- data moved between descriptors without read(2)/write(2).
 *
 * Exercises: READ/WRITE records for sendfile(2), copy_file_range(2) and splice(2) (through a
 * pipe: the pipe end produces nothing, the file ends do), deduplicated per process.
 *
 * Run: copy_calls DIR    (DIR/src.txt must exist; writes DIR/dst1.txt, dst2.txt, dst3.txt)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <unistd.h>

static int open_at(const char *dir, const char *name, int flags)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return open(path, flags, 0644);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int src = open_at(argv[1], "src.txt", O_RDONLY);
    int d1 = open_at(argv[1], "dst1.txt", O_WRONLY | O_CREAT | O_TRUNC);
    int d2 = open_at(argv[1], "dst2.txt", O_WRONLY | O_CREAT | O_TRUNC);
    int d3 = open_at(argv[1], "dst3.txt", O_WRONLY | O_CREAT | O_TRUNC);
    if (src < 0 || d1 < 0 || d2 < 0 || d3 < 0)
        return 1;
    off_t off = 0;
    if (sendfile(d1, src, &off, 4) < 0)
        return 1;
    loff_t in_off = 0;
    if (copy_file_range(src, &in_off, d2, NULL, 4, 0) < 0)
        return 1;
    int p[2];
    loff_t sp_off = 0;
    if (pipe(p) != 0 || splice(src, &sp_off, p[1], NULL, 4, 0) < 0 ||
        splice(p[0], NULL, d3, NULL, 4, 0) < 0)
        return 1;
    return 0;
}
