/*
 * rename_over.c -- the atomic-save pattern: write DIR/target.tmp, then rename it over DIR/target.
 *
 * Exercises: OPEN with O_WRONLY|O_CREAT|O_TRUNC, CLOSE of a written descriptor, RENAME with both
 * paths absolute, and the dedupe reset (the second round re-creates target.tmp, so its OPEN must be
 * reported again after the RENAME forgot it).
 *
 * Run: rename_over DIR    (DIR/target is replaced twice)
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char tmp[4096], target[4096];
    if (argc != 2)
        return 2;
    snprintf(tmp, sizeof tmp, "%s/target.tmp", argv[1]);
    snprintf(target, sizeof target, "%s/target", argv[1]);
    for (int round = 0; round < 2; round++) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "data\n", 5) != 5 || close(fd) != 0)
            return 1;
        if (rename(tmp, target) != 0)
            return 1;
    }
    return 0;
}
