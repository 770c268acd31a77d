/*
 * paths.c -- the absolute, lexically normalised paths that records carry (events.h).
 *
 * Successful opens take the kernel's word: readlink("/proc/self/fd/N") has resolved the
 * directory descriptor, the working directory, "..", and symlinks exactly.  Calls that name a path
 * without leaving a descriptor (rename, link, unlink, truncate) are resolved lexically against
 * their directory descriptor or the working directory, then, like the ptrace tracer does,
 * canonicalised on the directory part only: the final component may be gone (unlink, the old name
 * of a rename) or be a symlink the call acted on rather than its target.
 *
 * program_inspect() answers, before an exec, what will really run: it follows "#!" lines to the
 * final interpreter and reads that ELF file's program headers.  No PT_INTERP means a static
 * binary: the dynamic loader never runs, so neither does this shim, and the program's own file
 * accesses are invisible (exec.c warns).  The same goes for setuid/setgid binaries, for which the
 * loader ignores LD_PRELOAD.
 */
#define _GNU_SOURCE
#include "shim.h"
#include "path_normalize.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

char *fmt_long(char *buf, long v)
{
    char tmp[24];
    int n = 0;
    unsigned long u = v < 0 ? (unsigned long)0 - (unsigned long)v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int i = 0;
    if (v < 0)
        buf[i++] = '-';
    while (n)
        buf[i++] = tmp[--n];
    buf[i] = '\0';
    return buf;
}

void path_normalize(char *path)
{
    roar_path_normalize(path);
}

static int copy_path(char *out, const char *in)
{
    size_t n = strlen(in);
    if (n >= SHIM_PATH)
        return -1;
    memcpy(out, in, n + 1);
    return 0;
}

/* readlink of a /proc/self entry into out (NUL-terminated); length or -1. */
static ssize_t proc_self_link(const char *what, char *out)
{
    ssize_t n = readlink(what, out, SHIM_PATH - 1);
    if (n <= 0 || n >= SHIM_PATH - 1)
        return -1;
    out[n] = '\0';
    return n;
}

int path_of_fd(int fd, char *out)
{
    if (fd < 0)
        return -1;
    /* "/proc/<pid>/fd/N" rather than "/proc/self/fd/N": one symlink less to follow, which is a
     * sixth of the cost of this call.  The pid is getpid(2)'s, not the cached one: a vfork child
     * has its own descriptor table but its parent's memory (and cached pid). */
    char link[64] = "/proc/";
    fmt_long(link + strlen(link), (long)getpid());
    strcat(link, "/fd/");
    fmt_long(link + strlen(link), fd);
    ssize_t n = proc_self_link(link, out);
    if (n < 0)
        return -1;
    if (out[0] != '/')
        return 1; /* pipe:[..], socket:[..], anon_inode:[..] */
    static const char deleted[] = " (deleted)";
    size_t d = sizeof deleted - 1;
    if ((size_t)n > d && memcmp(out + n - d, deleted, d) == 0)
        return 2;
    return 0;
}

static int base_of(int dirfd, char *out)
{
    if (dirfd == AT_FDCWD) {
        if (!getcwd(out, SHIM_PATH) || out[0] != '/')
            return -1;
        return 0;
    }
    return path_of_fd(dirfd, out) == 0 ? 0 : -1;
}

int path_resolve_at(int dirfd, const char *path, char *out, int allow_empty)
{
    if (!path)
        return -1;
    if (!*path) {
        if (!allow_empty || base_of(dirfd, out) < 0)
            return -1;
        path_normalize(out);
        return 0;
    }
    if (path[0] == '/') {
        if (copy_path(out, path) < 0)
            return -1;
        path_normalize(out);
        return 0;
    }
    char base[SHIM_PATH];
    if (base_of(dirfd, base) < 0)
        return -1;
    size_t b = strlen(base), p = strlen(path);
    if (b + 1 + p >= SHIM_PATH)
        return -1;
    memcpy(out, base, b);
    out[b] = '/';
    memcpy(out + b + 1, path, p + 1);
    path_normalize(out);
    return 0;
}

void path_canonical_parent(char *path)
{
    char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return; /* "/name": the root needs no resolving */
    char dir[SHIM_PATH];
    char real[PATH_MAX];
    size_t dlen = (size_t)(slash - path);
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    if (!realpath(dir, real))
        return;
    size_t r = strlen(real);
    size_t tail = strlen(slash); /* includes the '/' */
    if (r == 1)
        r = 0; /* real is "/" */
    if (r + tail >= SHIM_PATH)
        return;
    memmove(path + r, slash, tail + 1);
    memcpy(path, real, r);
}

void path_canonical_full(char *path)
{
    char real[PATH_MAX];
    if (realpath(path, real) && strlen(real) < SHIM_PATH) {
        strcpy(path, real);
        return;
    }
    path_canonical_parent(path);
}

static int is_executable_file(const char *path)
{
    struct stat st;
    return access(path, X_OK) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int path_search(const char *file, char *out)
{
    if (!file || !*file)
        return -1;
    if (strchr(file, '/'))
        return path_resolve_at(AT_FDCWD, file, out, 0);
    const char *search = getenv("PATH");
    if (!search)
        search = "/bin:/usr/bin"; /* glibc's execvp default */
    size_t flen = strlen(file);
    const char *p = search;
    for (;;) {
        const char *end = strchrnul(p, ':');
        size_t dlen = (size_t)(end - p);
        char cand[SHIM_PATH];
        if (dlen + 1 + flen < SHIM_PATH) {
            if (dlen == 0) {
                memcpy(cand, file, flen + 1); /* an empty entry means the working directory */
            } else {
                memcpy(cand, p, dlen);
                cand[dlen] = '/';
                memcpy(cand + dlen + 1, file, flen + 1);
            }
            if (is_executable_file(cand) && path_resolve_at(AT_FDCWD, cand, out, 0) == 0)
                return 0;
        }
        if (!*end)
            return -1;
        p = end + 1;
    }
}

/* ---- program inspection ----------------------------------------------------------------------- */

static ssize_t raw_pread(int fd, void *buf, size_t n, off_t off)
{
    ssize_t r;
    do {
        r = (ssize_t)syscall(SYS_pread64, fd, buf, n, off);
    } while (r < 0 && errno == EINTR);
    return r;
}

/* 1 if the ELF image in fd (first n bytes in head) has a PT_INTERP header, 0 if not, -1 if it
 * cannot be read. */
static int elf_has_interp(int fd, const unsigned char *head, size_t n)
{
    int is64 = head[EI_CLASS] == ELFCLASS64;
    uint64_t phoff;
    uint16_t phentsize, phnum;
    if (is64) {
        Elf64_Ehdr eh;
        if (n < sizeof eh)
            return -1;
        memcpy(&eh, head, sizeof eh);
        phoff = eh.e_phoff;
        phentsize = eh.e_phentsize;
        phnum = eh.e_phnum;
    } else {
        Elf32_Ehdr eh;
        if (n < sizeof eh)
            return -1;
        memcpy(&eh, head, sizeof eh);
        phoff = eh.e_phoff;
        phentsize = eh.e_phentsize;
        phnum = eh.e_phnum;
    }
    size_t need = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    if (phentsize < need)
        return -1;
    for (uint16_t i = 0; i < phnum; i++) {
        uint64_t off = phoff + (uint64_t)i * phentsize;
        unsigned char ph[sizeof(Elf64_Phdr)];
        if (off + need <= n)
            memcpy(ph, head + off, need);
        else if (raw_pread(fd, ph, need, (off_t)off) != (ssize_t)need)
            return -1;
        uint32_t type;
        memcpy(&type, ph, sizeof type); /* p_type is the first field in both classes */
        if (type == PT_INTERP)
            return 1;
    }
    return 0;
}

int program_inspect(const char *path, struct program_info *info)
{
    char cur[SHIM_PATH];
    info->is_static = 0;
    info->is_setid = 0;
    if (copy_path(cur, path) < 0)
        return -1;
    for (int depth = 0; depth < 5; depth++) {
        int fd = (int)syscall(SYS_openat, AT_FDCWD, cur, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            if (fd >= 0)
                syscall(SYS_close, fd);
            if (depth == 0 && (fd >= 0 || errno != EACCES))
                return -1; /* missing or not a regular file: the exec will fail */
            break;         /* an execute-only file or interpreter: exec may still work */
        }
        unsigned char head[4096];
        ssize_t n = raw_pread(fd, head, sizeof head, 0);
        if (n >= 2 && head[0] == '#' && head[1] == '!') {
            syscall(SYS_close, fd);
            size_t i = 2, lim = (size_t)n < 256 ? (size_t)n : 256;
            while (i < lim && (head[i] == ' ' || head[i] == '\t'))
                i++;
            size_t start = i;
            while (i < lim && head[i] != ' ' && head[i] != '\t' && head[i] != '\n' && head[i])
                i++;
            if (i == start)
                break;
            char interp[SHIM_PATH];
            memcpy(interp, head + start, i - start);
            interp[i - start] = '\0';
            if (path_resolve_at(AT_FDCWD, interp, cur, 0) < 0)
                break;
            continue;
        }
        if (n >= EI_NIDENT && memcmp(head, ELFMAG, SELFMAG) == 0) {
            info->is_static = elf_has_interp(fd, head, (size_t)n) == 0;
            info->is_setid = (st.st_mode & (S_ISUID | S_ISGID)) != 0;
        }
        syscall(SYS_close, fd);
        break;
    }
    strcpy(info->file, path);
    path_canonical_full(info->file);
    if (strcmp(cur, path) == 0) {
        strcpy(info->real, info->file); /* no "#!": the file itself runs */
        return 0;
    }
    char real[PATH_MAX];
    if (realpath(cur, real) && strlen(real) < SHIM_PATH)
        strcpy(info->real, real);
    else
        strcpy(info->real, cur);
    return 0;
}
