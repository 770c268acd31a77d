/*
 * fd_juggle.c -- descriptor bookkeeping behind CLOSE records.
 *
 * Exercises: CLOSE for a written descriptor closed directly; dup2 onto a tracked descriptor (an
 * implicit close); fcntl(F_DUPFD_CLOEXEC) copies dropped by exec (CLOSE at exec); close_range;
 * no CLOSE for a descriptor opened read-only; fork copies the table (the child closes its copy).
 *
 * Run: fd_juggle DIR    (writes DIR/a.txt, DIR/b.txt, DIR/c.txt; execs /bin/true at the end)
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int open_w(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int a = open_w(argv[1], "a.txt");          /* fd 3 */
    int b = open_w(argv[1], "b.txt");          /* fd 4 */
    int r = open("/dev/null", O_RDONLY);        /* fd 5: read-only, never a CLOSE */
    if (a != 3 || b != 4 || r != 5)
        return 1;
    close(r);
    if (dup2(a, 20) != 20)                     /* 20 -> a.txt */
        return 1;
    close(a);                                  /* CLOSE fd 3 a.txt */
    if (dup2(b, 20) != 20)                     /* implicit CLOSE fd 20 a.txt; 20 -> b.txt */
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(20);                             /* CLOSE fd 20 b.txt in the child */
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    int c = open_w(argv[1], "c.txt");          /* fd 3 again */
    if (c != 3 || fcntl(c, F_DUPFD_CLOEXEC, 30) != 30)
        return 1;
    syscall(SYS_close_range, 20, 20, 0);       /* CLOSE fd 20 b.txt */
    close(b);                                  /* CLOSE fd 4 b.txt */
    execl("/bin/true", "true", (char *)NULL);  /* CLOSE fd 30 c.txt (cloexec); fd 3 stays */
    return 1;
}
