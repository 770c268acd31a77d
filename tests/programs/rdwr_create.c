/*
 * rdwr_create.c -- a read-write open with O_CREAT (no O_EXCL, no O_TRUNC), written at once.
 *
 * Exercises: what SQLite does to a new database and many loggers do to their log.  Whether such
 * an open reads old content depends on whether the file was there: its OPEN record must carry
 * ROAR_OPEN_CREATED exactly when the open created the file.  The program writes MIB MiB right
 * after the open and keeps the file open HOLD_MS milliseconds, so roar, hashing a file it takes
 * for an input as soon as it sees the open, finds it already non-empty: a new file recorded as an
 * input (the "maybe created, was it empty?" guess) shows up as a phantom input.  On an existing
 * file the same writes overwrite the start of its old content, which is a real input.
 *
 * Run: rdwr_create FILE MIB HOLD_MS   (FILE ends up MIB MiB of "0123456789abcdef" repeated,
 *                                      or longer if it was longer; exit 0)
 */
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    long mib = atol(argv[2]);
    long hold_ms = atol(argv[3]);
    static char chunk[1 << 20];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = "0123456789abcdef"[i % 16];
    int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return 1;
    for (long i = 0; i < mib; i++) {
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
            return 1;
    }
    struct timespec ts = {hold_ms / 1000, (hold_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return close(fd) == 0 ? 0 : 1;
}
