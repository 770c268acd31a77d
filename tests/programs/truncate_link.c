/*
 * truncate_link.c -- path-changing calls that are not opens.
 *
 * Exercises: TRUNCATE from truncate(2) (through a symlink: the record names the target) and from
 * ftruncate(2) (path from the descriptor); LINK; UNLINK of a symlink (the link itself, not its
 * target); the dedupe reset: DIR/f.txt opened read-only, truncated, then opened read-only again
 * gives two OPEN records, while a plain second open gives none.
 *
 * Run: truncate_link DIR    (DIR/f.txt must exist with some content)
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char f[4096], l[4096], h[4096];
    if (argc != 2)
        return 2;
    snprintf(f, sizeof f, "%s/f.txt", argv[1]);
    snprintf(l, sizeof l, "%s/sym", argv[1]);
    snprintf(h, sizeof h, "%s/hard.txt", argv[1]);
    close(open(f, O_RDONLY));
    close(open(f, O_RDONLY));                  /* deduped */
    if (symlink("f.txt", l) != 0 || truncate(l, 3) != 0)
        return 1;
    close(open(f, O_RDONLY));                  /* reported again */
    int fd = open(f, O_RDWR);
    if (fd < 0 || ftruncate(fd, 1) != 0)
        return 1;
    close(fd);
    if (link(f, h) != 0 || unlink(l) != 0)
        return 1;
    return 0;
}
