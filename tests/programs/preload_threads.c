/*
 * preload_threads.c -- many threads opening, writing and reading files at the same time.
 *
 * Exercises: the shim's thread safety (dedupe table, descriptor table, one shared connection):
 * each of N threads reads IN and writes DIR/thread_<i>.txt, with no record lost or torn.  Expect
 * OPEN IN (read) and OPEN DIR/thread_<i>.txt (write) for every i, all with the process's pid and
 * the calling thread's tid.
 *
 * Run: preload_threads IN DIR N    (exit 0)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *in_path;
static const char *dir;

static void *work(void *arg)
{
    long i = (long)arg;
    char buf[256];
    int in = open(in_path, O_RDONLY);
    ssize_t n = in >= 0 ? read(in, buf, sizeof buf) : -1;
    if (in >= 0)
        close(in);
    char path[4096];
    snprintf(path, sizeof path, "%s/thread_%ld.txt", dir, i);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || n < 0 || write(fd, buf, (size_t)n) != n)
        return (void *)1;
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: preload_threads IN DIR N\n");
        return 2;
    }
    in_path = argv[1];
    dir = argv[2];
    long n = atol(argv[3]);
    pthread_t threads[256];
    if (n < 1 || n > 256)
        return 2;
    for (long i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, work, (void *)i);
    int failed = 0;
    for (long i = 0; i < n; i++) {
        void *r;
        pthread_join(threads[i], &r);
        failed |= r != NULL;
    }
    return failed;
}
