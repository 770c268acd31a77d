/*
 * vfork_exec.c -- vfork(2) followed by exec in the child (what posix_spawn and some shells do).
 *
 * Exercises: FORK with ROAR_FORK_VFORK, EXEC in the child while the parent is suspended, the
 * child's exit status reaching the parent.
 *
 * Run: vfork_exec    (exit status: that of `sh -c "exit 3"`, i.e. 3)
 */
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    pid_t pid = vfork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exit 3", (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return 1;
    return WEXITSTATUS(status);
}
