/*
 * preload_spawn.c -- posix_spawnp and execle with a scrubbed environment.
 *
 * Exercises: the shim keeps LD_PRELOAD and ROAR_PRELOAD_SOCK alive across an exec whose caller
 * passes an environment without them; posix_spawn's child is reported (FORK + EXEC) by its
 * parent.  The spawned `sh -c 'cat IN > OUT1'` and the exec'd `cat IN2` (stdout onto OUT2) must
 * both be traced.
 *
 * Run: preload_spawn IN OUT1 OUT2   (exit status: cat's)
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: preload_spawn IN OUT1 OUT2\n");
        return 2;
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cat '%s' > '%s'", argv[1], argv[2]);
    char *child_argv[] = {"sh", "-c", cmd, NULL};
    char *scrubbed[] = {"PATH=/usr/bin:/bin", NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "sh", NULL, NULL, child_argv, scrubbed) != 0)
        return 1;
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;

    int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || dup2(out, 1) < 0)
        return 1;
    close(out);
    execle("/bin/cat", "cat", argv[1], (char *)NULL, scrubbed);
    return 127;
}
