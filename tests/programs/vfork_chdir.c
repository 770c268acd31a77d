/*
 * vfork_chdir.c -- a vfork child that closes a descriptor, changes directory and opens a file
 * before exiting, in its parent's memory; then the parent opens a file by a relative path.  The
 * preload shim caches the working directory per process, and names an opened file by the
 * descriptor's /proc entry: neither may be the parent's for the child, nor the child's for the
 * parent (the child's file gets the number of a descriptor the parent still has open).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, "x", 1);
    close(fd);
    return n == 1 ? 0 : -1;
}

int main(void)
{
    /* Both directories become known to the shim (lexical.c), and the working directory cached. */
    if (write_file("parent-before.txt") < 0 || write_file("sub/parent-before.txt") < 0)
        return 10;
    int kept = open("kept.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (kept < 0)
        return 14;
    pid_t pid = vfork();
    if (pid == 0) {
        close(kept); /* the child's own table: its next open takes this number */
        if (chdir("sub") != 0)
            _exit(2);
        _exit(write_file("newdir/child.txt") < 0 ? 3 : 0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 11;
    if (write(kept, "k", 1) != 1 || close(kept) != 0 || write_file("parent-after.txt") < 0)
        return 12;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 13;
}
