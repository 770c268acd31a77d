/*
 * sigstop.c -- job control through the tracer: a child stops itself with SIGSTOP, the parent sees
 * it stopped (waitpid WUNTRACED), continues it with SIGCONT, and the child then writes a file.
 * Also a signal with a handler (SIGUSR1) must be delivered, not swallowed.
 *
 * Exercises: group-stop handling (PTRACE_LISTEN: the tracee must really stay stopped and the real
 * parent must be told), signal injection at signal-delivery-stops.
 *
 * Run: sigstop FILE    (exit 0 when all of the above happened; FILE holds "ok")
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
    (void)sig;
    got_usr1 = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    unlink(argv[1]);
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    if (!got_usr1)
        return 3;
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGSTOP);
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        _exit(fd >= 0 && write(fd, "ok\n", 3) == 3 ? 0 : 1);
    }
    int status;
    if (waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status) ||
        WSTOPSIG(status) != SIGSTOP)
        return 4;
    /* It must still be stopped: the file must not exist yet. */
    usleep(100 * 1000);
    if (access(argv[1], F_OK) == 0) {
        kill(pid, SIGKILL); /* do not leave it stopped forever */
        return 5;
    }
    kill(pid, SIGCONT);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 6;
    return 0;
}
