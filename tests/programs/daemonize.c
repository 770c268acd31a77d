/*
 * daemonize.c -- a grandchild that outlives its parent and the root, then writes a file.
 *
 * Exercises: the tracer waits for the whole tree, not just the root; FORK/EXIT for a double fork;
 * records from a process whose parent is already gone.
 *
 * Run: daemonize FILE    (returns at once; FILE appears ~300 ms later)
 */
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid > 0)
        return 0; /* the root exits without waiting */
    setsid();
    if (fork() != 0)
        _exit(0); /* the middle process exits too */
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "late\n", 5) != 5)
        _exit(1);
    close(fd);
    _exit(0);
}
