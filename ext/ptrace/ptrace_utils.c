/*
 * ptrace_utils.c -- see ptrace_utils.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <unistd.h>

#include "ptrace_utils.h"

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif

/*
 * Our own copy of struct ptrace_syscall_info (linux/ptrace.h, Linux 5.3): glibc's <sys/ptrace.h>
 * and <linux/ptrace.h> cannot both be included, and older headers lack it.  The kernel copies
 * min(size we pass, its size) bytes, so the layout is all that matters.
 */
struct roar_ptrace_syscall_info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t stack_pointer;
    union {
        struct {
            uint64_t nr;
            uint64_t args[6];
        } entry;
        struct {
            int64_t rval;
            uint8_t is_error;
        } exit;
        struct {
            uint64_t nr;
            uint64_t args[6];
            uint32_t ret_data;
        } seccomp;
    };
};

int use_syscall_info = 1;

static int sc_info_from_kernel(pid_t tid, struct sc_info *info)
{
    struct roar_ptrace_syscall_info si;
    memset(&si, 0, sizeof si);
    long n = ptrace((enum __ptrace_request)PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof si, &si);
    if (n <= 0)
        return -1;
    info->op = si.op;
    info->arch = si.arch;
    switch (si.op) {
    case SC_OP_ENTRY:
        info->nr = (long)si.entry.nr;
        memcpy(info->args, si.entry.args, sizeof info->args);
        break;
    case SC_OP_SECCOMP:
        info->nr = (long)si.seccomp.nr;
        memcpy(info->args, si.seccomp.args, sizeof info->args);
        break;
    case SC_OP_EXIT:
        info->rval = si.exit.rval;
        info->is_error = si.exit.is_error;
        break;
    default:
        break;
    }
    return 0;
}

static int sc_info_from_regs(pid_t tid, int seccomp_stop, struct sc_info *info)
{
    struct user_regs_struct regs;
    struct iovec iov = {.iov_base = &regs, .iov_len = sizeof regs};
    if (ptrace(PTRACE_GETREGSET, tid, (void *)1 /* NT_PRSTATUS */, &iov) < 0)
        return -1;
    info->arch = ROAR_AUDIT_ARCH;
#if defined(__x86_64__)
    info->nr = (long)regs.orig_rax;
    info->args[0] = regs.rdi;
    info->args[1] = regs.rsi;
    info->args[2] = regs.rdx;
    info->args[3] = regs.r10;
    info->args[4] = regs.r8;
    info->args[5] = regs.r9;
    info->rval = (int64_t)regs.rax;
    int at_entry = (int64_t)regs.rax == -ENOSYS;
#elif defined(__aarch64__)
    info->nr = (long)regs.regs[8];
    for (int i = 0; i < 6; i++)
        info->args[i] = regs.regs[i];
    info->rval = (int64_t)regs.regs[0];
    int at_entry = regs.regs[7] == 0;
#endif
    if (seccomp_stop)
        info->op = SC_OP_SECCOMP;
    else
        info->op = at_entry ? SC_OP_ENTRY : SC_OP_EXIT;
    info->is_error = info->op == SC_OP_EXIT && info->rval < 0 && info->rval > -4096;
    return 0;
}

int sc_info_get(pid_t tid, int seccomp_stop, struct sc_info *info)
{
    memset(info, 0, sizeof *info);
    if (use_syscall_info) {
        if (sc_info_from_kernel(tid, info) == 0)
            return 0;
        if (errno != EIO && errno != EINVAL)
            return -1; /* ESRCH: the tracee is gone */
        use_syscall_info = 0; /* kernel < 5.3: registers from now on */
    }
    return sc_info_from_regs(tid, seccomp_stop, info);
}

static ssize_t read_peekdata(pid_t tid, uint64_t addr, void *buf, size_t len)
{
    size_t done = 0;
    unsigned char *out = buf;
    while (done < len) {
        uint64_t word_addr = (addr + done) & ~(uint64_t)(sizeof(long) - 1);
        size_t skip = (size_t)(addr + done - word_addr);
        errno = 0;
        long word = ptrace(PTRACE_PEEKDATA, tid, (void *)word_addr, NULL);
        if (errno != 0)
            return done > 0 ? (ssize_t)done : -1;
        size_t take = sizeof(long) - skip;
        if (take > len - done)
            take = len - done;
        memcpy(out + done, (unsigned char *)&word + skip, take);
        done += take;
    }
    return (ssize_t)done;
}

static int vm_readv_works = 1;

ssize_t tracee_read(pid_t tid, uint64_t addr, void *buf, size_t len)
{
    if (vm_readv_works) {
        struct iovec local = {.iov_base = buf, .iov_len = len};
        struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
        ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
        if (n >= 0)
            return n;
        if (errno != EPERM && errno != ENOSYS)
            return -1;
        vm_readv_works = 0;
    }
    return read_peekdata(tid, addr, buf, len);
}

ssize_t tracee_read_string(pid_t tid, uint64_t addr, char *buf, size_t size, int *truncated)
{
    /*
     * Read page by page: a string that ends just before an unmapped page must not fail because
     * we asked for bytes past its end.
     */
    const uint64_t page = 4096;
    size_t got = 0;
    if (addr == 0) {
        errno = EFAULT;
        return -1;
    }
    while (got < size - 1) {
        uint64_t at = addr + got;
        size_t chunk = (size_t)(page - (at % page));
        if (chunk > size - 1 - got)
            chunk = size - 1 - got;
        ssize_t n = tracee_read(tid, at, buf + got, chunk);
        if (n <= 0)
            return -1; /* unreadable before any NUL: not a string we can report */
        char *nul = memchr(buf + got, '\0', (size_t)n);
        if (nul)
            return nul - buf;
        got += (size_t)n;
    }
    buf[size - 1] = '\0';
    if (truncated)
        *truncated = 1;
    return (ssize_t)(size - 1);
}

ssize_t proc_readlink(pid_t tid, const char *what, char *buf, size_t size)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/%d/%s", (int)tid, what);
    ssize_t n = readlink(link, buf, size - 1);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

ssize_t proc_fd_path(pid_t tid, int fd, char *buf, size_t size)
{
    char what[32];
    snprintf(what, sizeof what, "fd/%d", fd);
    ssize_t n = proc_readlink(tid, what, buf, size);
    static const char deleted[] = " (deleted)";
    const size_t dlen = sizeof deleted - 1;
    if (n > (ssize_t)dlen && buf[0] == '/' && strcmp(buf + n - dlen, deleted) == 0) {
        char link[64];
        struct stat st;
        snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)tid, fd);
        if (stat(link, &st) == 0 && st.st_nlink == 0) {
            n -= (ssize_t)dlen;
            buf[n] = '\0';
        }
    }
    return n;
}

pid_t proc_tgid(pid_t tid)
{
    char name[64];
    char line[256];
    snprintf(name, sizeof name, "/proc/%d/status", (int)tid);
    FILE *f = fopen(name, "re");
    if (!f)
        return -1;
    pid_t tgid = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Tgid:", 5) == 0) {
            tgid = (pid_t)strtol(line + 5, NULL, 10);
            break;
        }
    }
    fclose(f);
    return tgid;
}

int same_files(pid_t a, pid_t b)
{
#ifdef SYS_kcmp
    long r = syscall(SYS_kcmp, a, b, KCMP_FILES, 0, 0);
    if (r == 0)
        return 1;
    if (r > 0)
        return 0;
#else
    (void)a;
    (void)b;
#endif
    return -1;
}
