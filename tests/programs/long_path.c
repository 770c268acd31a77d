/*
 * long_path.c -- a path too long for one record.
 *
 * Exercises: ROAR_EVF_TRUNCATED on an OPEN whose path (about 4070 bytes) does not fit in a record
 * (at most 4064 bytes of paths), and END's count of lost/truncated events.
 *
 * Run: long_path DIR    (creates nested 200-byte directories under DIR and a file at the bottom)
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char name[201];
    if (argc != 2 || chdir(argv[1]) != 0)
        return 2;
    memset(name, 'd', 200);
    name[200] = '\0';
    size_t total = strlen(argv[1]);
    while (total + 201 < 4070) {
        if (mkdir(name, 0755) != 0 || chdir(name) != 0)
            return 1;
        total += 201;
    }
    char file[256];
    size_t rest = 4070 - total - 1;
    if (rest > sizeof file - 1)
        rest = sizeof file - 1;
    memset(file, 'f', rest);
    file[rest] = '\0';
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    return fd >= 0 ? 0 : 1;
}
