/*
 * threads.c -- files opened by threads, and an exec from a non-leader thread.
 *
 * Exercises: FORK with ROAR_FORK_THREAD; OPEN records whose pid is the thread group id and whose
 * tid is the calling thread; a shared descriptor table (a file opened for writing by one thread
 * and closed by another gives a CLOSE); exec from a secondary thread (the kernel hands it the
 * leader's tid: EXEC pid == tid == the process id, exactly one EXIT for the process).
 *
 * Run: threads DIR [exec]   (writes DIR/t0.txt and DIR/t1.txt; with "exec", a thread then execs
 *                            /bin/true)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *dir;
static int shared_fd = -1;

static void *writer(void *arg)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/t%ld.txt", dir, (long)arg);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0 && write(fd, "t\n", 2) == 2 && arg == (void *)0)
        shared_fd = fd; /* closed by main */
    else if (fd >= 0)
        close(fd);
    return NULL;
}

static void *execer(void *arg)
{
    (void)arg;
    execl("/bin/true", "true", (char *)NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    dir = argv[1];
    pthread_t th[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, writer, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    if (shared_fd < 0)
        return 1;
    close(shared_fd);
    if (argc > 2 && strcmp(argv[2], "exec") == 0) {
        pthread_t e;
        pthread_create(&e, NULL, execer, NULL);
        pthread_join(e, NULL); /* never returns: the exec replaces the process */
        return 1;
    }
    return 0;
}
