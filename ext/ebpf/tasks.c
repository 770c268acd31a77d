/*
 * tasks.c -- see tasks.h.
 */
#include "tasks.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdtable.h"
#include "log.h"

#define NBUCKETS 4096 /* power of two */

static struct task *buckets[NBUCKETS];
static uint64_t next_instance = 1;

static struct task **slot(pid_t tid)
{
    return &buckets[(unsigned)tid & (NBUCKETS - 1)];
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        log_error("out of memory");
        exit(125);
    }
    return p;
}

static struct proc *proc_new(pid_t tgid)
{
    struct proc *p = xcalloc(1, sizeof *p);
    p->tgid = tgid;
    p->instance = next_instance++;
    return p;
}

static struct cwd *cwd_new(const char *path)
{
    struct cwd *c = xcalloc(1, sizeof *c);
    c->refs = 1;
    snprintf(c->path, sizeof c->path, "%s", path);
    return c;
}

static void cwd_unref(struct cwd *c)
{
    if (c && --c->refs == 0)
        free(c);
}

static struct task *task_new(pid_t tid, struct proc *proc)
{
    struct task *t = xcalloc(1, sizeof *t);
    t->tid = tid;
    t->proc = proc;
    proc->refs++;
    struct task **s = slot(tid);
    t->next = *s;
    *s = t;
    return t;
}

struct task *task_find(pid_t tid)
{
    for (struct task *t = *slot(tid); t; t = t->next)
        if (t->tid == tid)
            return t;
    return NULL;
}

struct task *task_add_root(pid_t pid, const char *cwd)
{
    struct task *t = task_new(pid, proc_new(pid));
    t->files = fdt_new();
    t->writes = fdt_new();
    t->cwd = cwd_new(cwd);
    if (!t->files || !t->writes) {
        log_error("out of memory");
        exit(125);
    }
    return t;
}

struct task *task_get(pid_t tgid, pid_t tid)
{
    struct task *t = task_find(tid);
    if (t)
        return t;
    struct task *leader = task_find(tgid);
    if (leader) {
        t = task_new(tid, leader->proc);
        t->files = fdt_ref(leader->files);
        t->writes = fdt_ref(leader->writes);
        t->cwd = leader->cwd;
        t->cwd->refs++;
        return t;
    }
    /* Its fork was lost (the ring buffer was full): start from what /proc says now. */
    char link[64], dir[ROAR_PATH_BUF];
    snprintf(link, sizeof link, "/proc/%d/cwd", (int)tid);
    ssize_t n = readlink(link, dir, sizeof dir - 1);
    dir[n > 0 ? n : 0] = '\0';
    t = task_new(tid, proc_new(tgid));
    t->files = fdt_new();
    t->writes = fdt_new();
    t->cwd = cwd_new(n > 0 ? dir : "/");
    return t;
}

struct task *task_fork(struct task *parent, pid_t child, int thread, int share_files,
                       int share_fs)
{
    struct task *old = task_find(child);
    if (old)
        task_remove(old); /* a stale entry: its exit was lost */
    struct task *c = task_new(child, thread ? parent->proc : proc_new(child));
    c->files = share_files ? fdt_ref(parent->files) : fdt_copy(parent->files);
    c->writes = share_files ? fdt_ref(parent->writes) : fdt_copy(parent->writes);
    if (share_fs) {
        c->cwd = parent->cwd;
        c->cwd->refs++;
    } else {
        c->cwd = cwd_new(parent->cwd->path);
    }
    if (!c->files || !c->writes) {
        log_error("out of memory");
        exit(125);
    }
    return c;
}

void task_remove(struct task *t)
{
    struct task **s = slot(t->tid);
    while (*s && *s != t)
        s = &(*s)->next;
    if (*s)
        *s = t->next;
    if (t->files)
        fdt_unref(t->files);
    if (t->writes)
        fdt_unref(t->writes);
    cwd_unref(t->cwd);
    free(t->truncated_name);
    if (--t->proc->refs == 0)
        free(t->proc);
    free(t);
}

struct task *task_exec(struct task *t, pid_t tid)
{
    if (t->tid != tid) {
        /* A thread exec'd and took the process id; the old leader's entry (if any) is gone. */
        struct task *leader = task_find(tid);
        if (leader)
            task_remove(leader);
        struct task **s = slot(t->tid);
        while (*s && *s != t)
            s = &(*s)->next;
        if (*s)
            *s = t->next;
        t->tid = tid;
        s = slot(tid);
        t->next = *s;
        *s = t;
    }
    t->proc->instance = next_instance++; /* a new program: its accesses are new facts */
    return t;
}

void task_unshare_files(struct task *t)
{
    if (fdt_shared(t->files)) {
        struct fdtable *copy = fdt_copy(t->files);
        fdt_unref(t->files);
        t->files = copy;
    }
    if (fdt_shared(t->writes)) {
        struct fdtable *copy = fdt_copy(t->writes);
        fdt_unref(t->writes);
        t->writes = copy;
    }
    if (!t->files || !t->writes) {
        log_error("out of memory");
        exit(125);
    }
}

void task_unshare_cwd(struct task *t)
{
    if (t->cwd->refs > 1) {
        struct cwd *copy = cwd_new(t->cwd->path);
        cwd_unref(t->cwd);
        t->cwd = copy;
    }
}

void task_each_process(void (*fn)(pid_t tgid))
{
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct task *t = buckets[b]; t; t = t->next)
            fn(t->proc->tgid); /* once per thread: killing a process twice is harmless */
}
