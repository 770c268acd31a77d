/*
 * getenv_reads.c -- environment lookups through C getenv and secure_getenv.
 *
 * Exercises: the preload shim's getenv/secure_getenv (ENV records; ptrace cannot see lookups).
 * Each NAME is looked up 1000 times with getenv and once with secure_getenv: one ENV record per
 * NAME that is set (its value), none for one that is not.  Then a vfork child looks up
 * GETENV_VFORK and GETENV_VFORK_ONLY and exits: no record from it (it would carry the parent's
 * pid), and its lookup must not stop the parent's own lookup of GETENV_VFORK right after from
 * being reported.  Then a fork child looks up the first NAME again: a new process, so a second
 * record for it, under the child's pid.
 *
 * Run: getenv_reads OUT NAME...    (OUT gets "NAME=value" or "NAME unset" per NAME; exit 0)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: getenv_reads OUT NAME...\n");
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror("fopen");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        const char *value = NULL;
        for (int round = 0; round < 1000; round++)
            value = getenv(argv[i]);
        const char *secure = secure_getenv(argv[i]);
        if ((value == NULL) != (secure == NULL) || (value && strcmp(value, secure) != 0)) {
            fprintf(stderr, "getenv and secure_getenv disagree on %s\n", argv[i]);
            return 1;
        }
        if (value)
            fprintf(out, "%s=%s\n", argv[i], value);
        else
            fprintf(out, "%s unset\n", argv[i]);
    }
    if (fclose(out) != 0) {
        perror("fclose");
        return 1;
    }

    pid_t child = vfork();
    if (child == 0) {
        volatile const char *seen = getenv("GETENV_VFORK");
        seen = getenv("GETENV_VFORK_ONLY");
        (void)seen;
        _exit(0);
    }
    if (child < 0 || waitpid(child, NULL, 0) != child) {
        perror("vfork");
        return 1;
    }
    if (!getenv("GETENV_VFORK"))
        return 3; /* the test sets it */

    child = fork();
    if (child == 0) {
        volatile const char *again = getenv(argv[2]);
        (void)again;
        _exit(0);
    }
    int status;
    if (child < 0 || waitpid(child, &status, 0) != child) {
        perror("fork");
        return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
