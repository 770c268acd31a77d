// SPDX-License-Identifier: GPL-2.0
/*
 * roar.bpf.c -- the kernel half of roar-ebpf: which syscalls the traced process tree makes, with
 * their arguments, path strings and results, sent to the loader (main.c, handlers.c) through a ring buffer.
 *
 * Filtering happens here, so untraced processes pay one array lookup per syscall and nothing
 * more: `traced` holds the thread group ids of the tree (the loader puts the root in before it
 * execs; sched_process_fork adds each child of a traced process), `specs` says per syscall number
 * what to capture (the loader fills it from its table, so this file knows no syscall numbers).
 *
 * A syscall is captured at sys_enter (its arguments, the path strings it passed) into a per-thread
 * map entry and reported at sys_exit when it succeeded, the way ptrace sees a syscall at its entry
 * and exit stops.  When the call opened a file, sys_exit also looks at the new descriptor's
 * struct file: whether the open created it (FMODE_CREATED), and its name, walked up its dentries
 * (kernel_name); a chdir's new directory is named the same way.
 *
 * Only raw tracepoints are used (no fentry, no BTF-typed tracepoints, no tracefs): they are the
 * program type that kernels restricting BPF tracing (virtual machines, hardened configs) still
 * offer, and attaching them by name needs no tracefs mount.
 *
 * Nothing is dropped silently: when the ring buffer is full, `lost` counts the event.
 *
 * Built with clang -target bpf against a vmlinux.h generated from the running kernel's BTF
 * (CO-RE: field offsets are relocated when the loader loads it).
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf_event.h"

char LICENSE[] SEC("license") = "GPL"; /* bpf_probe_read_user_str and the ring buffer are GPL-only */

#define FMODE_CREATED 0x100000 /* include/linux/fs.h: the open created the file */
#define CLONE_VFORK 0x00004000
#define SIGNAL_GROUP_EXIT 0x00000004

/* Where a table syscall stands for the thread making it. */
struct task_state {
    struct rb_event ev;
    __u8 active;      /* between sys_enter and sys_exit of a table syscall */
    __u16 spec_flags; /* SPEC_* of the syscall in progress */
    __u8 path_arg1;   /* its path arguments (SPEC_NO_ARG: none) */
    __u8 path_arg2;
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 24); /* the loader may change it before loading (--ring-bytes) */
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32);  /* tgid */
    __type(value, __u8);
} traced SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, RB_MAX_NR);
    __type(key, __u32);
    __type(value, struct sc_spec);
} specs SEC(".maps");

/* [0]: events the ring buffer had no room for; [1]: processes the traced map had no room for. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} lost SEC(".maps");

/* tid -> its syscall in progress; removed when the thread exits. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC); /* an entry is 12 KiB: allocate only what is used */
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, struct task_state);
} states SEC(".maps");

/* A zeroed entry to create states' entries from (too large for the BPF stack). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct task_state);
} blank SEC(".maps");

static __always_inline void count_lost(__u32 which)
{
    __u64 *n = bpf_map_lookup_elem(&lost, &which);
    if (n)
        *n += 1;
}

/*
 * Whether to wake the loader for this record.  Waking it for each one costs the traced thread an
 * irq_work and a wake-up per syscall and makes the two ping-pong between the CPUs; the loader
 * drains the ring every few milliseconds anyway (main.c), so it is woken only when the ring is a
 * quarter full, before it can overflow.
 */
static __always_inline __u64 wake_flags(void)
{
    __u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    __u64 size = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
    return avail >= size / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline int is_traced(__u32 tgid)
{
    return bpf_map_lookup_elem(&traced, &tgid) != NULL;
}

static __always_inline __u64 syscall_arg(struct pt_regs *regs, int i)
{
#if defined(__TARGET_ARCH_x86)
    switch (i) {
    case 0: return BPF_CORE_READ(regs, di);
    case 1: return BPF_CORE_READ(regs, si);
    case 2: return BPF_CORE_READ(regs, dx);
    case 3: return BPF_CORE_READ(regs, r10);
    case 4: return BPF_CORE_READ(regs, r8);
    default: return BPF_CORE_READ(regs, r9);
    }
#elif defined(__TARGET_ARCH_arm64)
    switch (i) { /* CO-RE relocates constant indexes only */
    case 0: return BPF_CORE_READ(regs, regs[0]);
    case 1: return BPF_CORE_READ(regs, regs[1]);
    case 2: return BPF_CORE_READ(regs, regs[2]);
    case 3: return BPF_CORE_READ(regs, regs[3]);
    case 4: return BPF_CORE_READ(regs, regs[4]);
    default: return BPF_CORE_READ(regs, regs[5]);
    }
#else
#error "roar-ebpf supports x86_64 and aarch64"
#endif
}

/* Read the path string at user address addr into ev->data at offset off; its length or 0. */
static __always_inline __u16 read_user_path(struct rb_event *ev, __u32 off, __u64 addr)
{
    if (off > RB_PATH_MAX)
        off = RB_PATH_MAX;
    long n = bpf_probe_read_user_str(&ev->data[off], RB_PATH_MAX, (const void *)addr);
    return n > 0 ? (__u16)n : 0;
}

static __always_inline struct task_state *state_of(__u32 tid, int create)
{
    struct task_state *st = bpf_map_lookup_elem(&states, &tid);
    if (st || !create)
        return st;
    __u32 zero = 0;
    struct task_state *b = bpf_map_lookup_elem(&blank, &zero);
    if (!b || bpf_map_update_elem(&states, &tid, b, BPF_NOEXIST) < 0)
        return NULL;
    return bpf_map_lookup_elem(&states, &tid);
}

/* Processes already told they make syscalls of another ABI (one RB_FOREIGN each). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, __u8);
} foreign_seen SEC(".maps");

#define TS_COMPAT 0x0002            /* arch/x86: a 32-bit syscall is in progress */
#define X32_SYSCALL_BIT 0x40000000

/*
 * A syscall of another ABI (32-bit code, x32) has other numbers: the table does not apply, so it
 * is not decoded, and the loader warns once per process (of the traced tree) that its files are
 * not seen.  1 when the current syscall is one.
 */
static __always_inline int foreign_syscall(long id, __u32 tgid)
{
#if defined(__TARGET_ARCH_x86)
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    if (!(id & X32_SYSCALL_BIT) && !(BPF_CORE_READ(task, thread_info.status) & TS_COMPAT))
        return 0;
    __u8 one = 1;
    if (bpf_map_update_elem(&foreign_seen, &tgid, &one, BPF_NOEXIST) < 0)
        return 1; /* said already */
    struct rb_event *ev = bpf_ringbuf_reserve(&events, RB_EVENT_FIXED, 0);
    if (!ev) {
        count_lost(0);
        return 1;
    }
    __builtin_memset(ev, 0, RB_EVENT_FIXED);
    ev->size = (__u16)RB_EVENT_FIXED;
    ev->kind = RB_FOREIGN;
    ev->tgid = (__s32)tgid;
    ev->tid = (__s32)bpf_get_current_pid_tgid();
    ev->nr = (__s32)id;
    bpf_ringbuf_submit(ev, 0);
    return 1;
#else
    (void)id;
    (void)tgid;
    return 0;
#endif
}

SEC("raw_tp/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    if (id & X32_SYSCALL_BIT) {
        if (is_traced(pid_tgid >> 32))
            foreign_syscall(id, pid_tgid >> 32);
        return 0;
    }
    /* The cheapest test first: every process on the machine passes through here. */
    if (id < 0 || id >= RB_MAX_NR)
        return 0;
    __u32 nr = (__u32)id;
    struct sc_spec *spec = bpf_map_lookup_elem(&specs, &nr);
    if (!spec || !(spec->flags & SPEC_TRACE))
        return 0;
    if (!is_traced(pid_tgid >> 32))
        return 0;
    /* A 32-bit process soon makes a call whose number is in the table (i386 3, read, is
     * x86_64's close): that is where it is caught. */
    if (foreign_syscall(id, pid_tgid >> 32))
        return 0;
    if (spec->filter_arg < 6) {
        __u32 v = (__u32)syscall_arg(regs, spec->filter_arg);
        if (v != spec->filter_vals[0] && v != spec->filter_vals[1] && v != spec->filter_vals[2])
            return 0;
    }
    struct task_state *st = state_of((__u32)pid_tgid, 1);
    if (!st) {
        count_lost(0);
        return 0;
    }
    struct rb_event *ev = &st->ev;
    ev->kind = RB_SYSCALL;
    ev->info = 0;
    ev->info2 = 0;
    ev->nr = (__s32)nr;
    ev->tgid = (__s32)(pid_tgid >> 32);
    ev->tid = (__s32)pid_tgid;
    for (int i = 0; i < 6; i++)
        ev->args[i] = syscall_arg(regs, i);
    ev->aux = 0;
    ev->len1 = 0;
    ev->len2 = 0;
    if (spec->path_arg1 < 6)
        ev->len1 = read_user_path(ev, 0, ev->args[spec->path_arg1 & 7]);
    /* The second name goes after the first: when the first is not read yet (see
     * retry_unread_paths), both are read at sys_exit. */
    if (spec->path_arg2 < 6 && (spec->path_arg1 >= 6 || ev->len1 > 0))
        ev->len2 = read_user_path(ev, ev->len1, ev->args[spec->path_arg2 & 7]);
    if (spec->flags & (SPEC_OPENAT2 | SPEC_CLONE3)) {
        /* struct open_how and struct clone_args both start with __u64 flags */
        __u64 flags = 0;
        const void *at = (const void *)ev->args[spec->flags & SPEC_OPENAT2 ? 2 : 0];
        bpf_probe_read_user(&flags, sizeof flags, at);
        ev->aux = flags;
    } else if (spec->flags & SPEC_EXEC) {
        ev->aux = (__u32)pid_tgid; /* a thread that execs becomes the leader: remember who */
    }
    st->spec_flags = spec->flags;
    st->path_arg1 = spec->path_arg1;
    st->path_arg2 = spec->path_arg2;
    st->active = 1;
    return 0;
}

/* Directory levels a kernel name may have; deeper ones are left to the loader. */
#define NAME_DEPTH 48

/*
 * The kernel's own name for (dentry, vfsmount), as /proc/<pid>/fd/<fd> would give it but from
 * the global root, put in place of path1 as its components, last first, each NUL-terminated
 * ("c\0b\0a\0" for /a/b/c), which the loader turns around.  Walking up d_parent, and across
 * mount points to the mount's parent, needs no helper that raw tracepoints lack (bpf_d_path).
 * The walk writes after path1 (the calls named here pass no path2), so path1 stays as the call
 * passed it when the name is too deep or too long: then the loader resolves that one.
 */
struct name_walk {
    struct rb_event *ev;
    struct dentry *d;
    struct vfsmount *vmnt;
    struct mount *mnt;
    __u32 off;  /* bytes of components written to the scratch space */
    int done;   /* 1: reached the root; -1: gave up; -2: not a file of any mount namespace */
};

/* One step up (bpf_loop verifies it once, where an unrolled walk would be too big to verify). */
static long name_step(__u64 index, void *ctx)
{
    struct name_walk *w = ctx;
    (void)index;
    /* Local copies: CO-RE relocates kernel types, and struct name_walk is ours. */
    struct dentry *d = w->d;
    struct vfsmount *vmnt = w->vmnt;
    struct mount *mnt = w->mnt;
    struct dentry *root = BPF_CORE_READ(vmnt, mnt_root);
    struct dentry *parent = BPF_CORE_READ(d, d_parent);
    if (d == root || d == parent) {
        struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
        if (up == mnt || d != root) {
            /* The top: a namespace's root mount, or a kernel-internal one (pipes, sockets,
             * anonymous inodes), which belongs to no namespace: then there is no file name. */
            __u64 ns = (__u64)BPF_CORE_READ(mnt, mnt_ns);
            w->done = ns && ns < (__u64)-4095 ? 1 : -2;
            return 1;
        }
        w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
        w->mnt = up;
        w->vmnt = (void *)up + bpf_core_field_offset(struct mount, mnt);
        return 0;
    }
    __u32 off = w->off;
    if (off >= RB_PATH_MAX) {
        w->done = -1;
        return 1;
    }
    /* a component may start near the end of the first page of scratch: two pages of room */
    char *scratch = &w->ev->data[RB_PATH_MAX];
    const unsigned char *name = BPF_CORE_READ(d, d_name.name);
    long n = bpf_probe_read_kernel_str(&scratch[off & (RB_PATH_MAX - 1)], RB_PATH_MAX, name);
    if (n <= 0) {
        w->done = -1;
        return 1;
    }
    w->off = off + (__u32)n;
    w->d = parent;
    return 0;
}

static __always_inline void kernel_name(struct rb_event *ev, struct dentry *d, struct vfsmount *vmnt)
{
    struct name_walk w = {
        .ev = ev,
        .d = d,
        .vmnt = vmnt,
        .mnt = (void *)vmnt - bpf_core_field_offset(struct mount, mnt),
        .off = 0,
        .done = 0,
    };
    bpf_loop(NAME_DEPTH, name_step, &w, 0);
    if (w.done == -2) {
        ev->info |= RB_I_NOT_FILE;
        return;
    }
    if (w.done != 1 || w.off >= RB_PATH_MAX)
        return; /* deeper than we walk, or too long: the loader resolves the name passed */
    __u32 len = w.off;
    asm volatile("" : "+r"(len)); /* keep the mask below: the verifier needs it on this register */
    len &= RB_PATH_MAX - 1;
    if (len > 0 && bpf_probe_read_kernel(ev->data, len, &ev->data[RB_PATH_MAX]) < 0)
        return;
    ev->len1 = (__u16)len;
    ev->len2 = 0;
    ev->info |= RB_I_KNAME;
}

/* What the new descriptor fd of the current task is: created by this open, and its kernel
 * name. */
static __always_inline void open_result(struct rb_event *ev, long fd)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
    struct file *file = NULL;
    if (!fds || bpf_probe_read_kernel(&file, sizeof file, &fds[fd & 0xfffff]) < 0 || !file)
        return;
    if (BPF_CORE_READ(file, f_mode) & FMODE_CREATED)
        ev->info |= RB_I_CREATED;
    kernel_name(ev, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt));
}

/* The working directory the current task has now. */
static __always_inline void cwd_result(struct rb_event *ev)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    kernel_name(ev, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt));
}

/*
 * bpf_probe_read_user_str cannot fault a page in: a name in memory the process has not touched
 * yet (a string constant on a page never read) comes back empty at sys_enter.  The call itself
 * copied the name by now, faulting the page in, so read it again from the same address.
 */
static __always_inline void retry_unread_paths(struct task_state *st)
{
    struct rb_event *ev = &st->ev;
    if (st->path_arg1 < 6 && ev->len1 == 0)
        ev->len1 = read_user_path(ev, 0, ev->args[st->path_arg1 & 7]);
    if (st->path_arg2 < 6 && ev->len2 == 0)
        ev->len2 = read_user_path(ev, ev->len1, ev->args[st->path_arg2 & 7]);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
    (void)regs;
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    struct task_state *st = state_of((__u32)pid_tgid, 0);
    if (!st || !st->active)
        return 0;
    st->active = 0;
    if (st->spec_flags & (SPEC_NO_REPORT | SPEC_EXEC))
        return 0; /* a successful exec was reported by sched_process_exec */
    if (ret < 0 && !(st->spec_flags & SPEC_ANY_RESULT))
        return 0;
    struct rb_event *ev = &st->ev;
    ev->tgid = (__s32)(pid_tgid >> 32);
    ev->tid = (__s32)pid_tgid;
    ev->ret = ret;
    retry_unread_paths(st);
    if (st->spec_flags & SPEC_OPEN)
        open_result(ev, ret);
    else if (st->spec_flags & SPEC_CWD)
        cwd_result(ev);
    __u32 n = (__u32)ev->len1 + ev->len2;
    if (n > 2 * RB_PATH_MAX)
        n = 2 * RB_PATH_MAX;
    __u32 size = (__u32)RB_EVENT_FIXED + n;
    ev->size = (__u16)size;
    if (bpf_ringbuf_output(&events, ev, size, wake_flags()) < 0)
        count_lost(0);
    return 0;
}

/* A small record (no paths): fork and exit. */
static __always_inline struct rb_event *reserve_small(void)
{
    struct rb_event *ev = bpf_ringbuf_reserve(&events, RB_EVENT_FIXED, 0);
    if (!ev) {
        count_lost(0);
        return NULL;
    }
    ev->size = (__u16)RB_EVENT_FIXED;
    ev->info = 0;
    ev->info2 = 0;
    ev->nr = -1;
    ev->ret = 0;
    ev->aux = 0;
    ev->len1 = 0;
    ev->len2 = 0;
    for (int i = 0; i < 6; i++)
        ev->args[i] = 0;
    return ev;
}

/*
 * A successful exec, seen from inside it: the thread that called execve may have had another id
 * (old_pid), under which its entry holds the file name it passed; bprm->interp is what the
 * kernel runs (a script's interpreter, as its #! line names it, else the file itself).
 */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 tgid = BPF_CORE_READ(task, tgid);
    if (!is_traced(tgid))
        return 0;
    __u32 old = (__u32)old_pid;
    struct task_state *st = state_of(old, 0);
    if (!st || !st->active || !(st->spec_flags & SPEC_EXEC)) {
        count_lost(0); /* an exec we did not see enter: say so rather than miss it quietly */
        return 0;
    }
    st->active = 0;
    struct rb_event *ev = &st->ev;
    ev->tgid = (__s32)tgid;
    ev->tid = (__s32)BPF_CORE_READ(task, pid);
    ev->ret = 0;
    ev->aux = old;
    if (ev->len1 == 0) {
        /* The name was on a page not faulted in at sys_enter; the old memory is gone now, but
         * the kernel kept its own copy of it. */
        const char *filename = BPF_CORE_READ(bprm, filename);
        long n = bpf_probe_read_kernel_str(ev->data, RB_PATH_MAX, filename);
        ev->len1 = n > 0 ? (__u16)n : 0;
    }
    __u32 off = ev->len1;
    if (off > RB_PATH_MAX)
        off = RB_PATH_MAX;
    const char *interp = BPF_CORE_READ(bprm, interp);
    long n = bpf_probe_read_kernel_str(&ev->data[off], RB_PATH_MAX, interp);
    ev->len2 = n > 0 ? (__u16)n : 0;
    __u32 total = (__u32)ev->len1 + ev->len2;
    if (total > 2 * RB_PATH_MAX)
        total = 2 * RB_PATH_MAX;
    __u32 size = (__u32)RB_EVENT_FIXED + total;
    ev->size = (__u16)size;
    if (bpf_ringbuf_output(&events, ev, size, wake_flags()) < 0)
        count_lost(0);
    if ((__s32)old != ev->tid)
        bpf_map_delete_elem(&states, &old); /* it goes on under the process id */
    return 0;
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
    __u32 ptgid = BPF_CORE_READ(parent, tgid);
    if (!is_traced(ptgid))
        return 0;
    __u32 ctgid = BPF_CORE_READ(child, tgid);
    int thread = ctgid == ptgid;
    if (!thread) {
        __u8 one = 1;
        if (bpf_map_update_elem(&traced, &ctgid, &one, BPF_ANY) < 0)
            count_lost(1);
    }
    __u8 info = thread ? RB_I_THREAD : 0;
    __u32 ptid = BPF_CORE_READ(parent, pid);
    struct task_state *st = state_of(ptid, 0);
    if (st && st->active) {
        __u16 f = st->spec_flags;
        if ((f & SPEC_VFORK) || ((f & SPEC_CLONE) && (st->ev.args[0] & CLONE_VFORK)) ||
            ((f & SPEC_CLONE3) && (st->ev.aux & CLONE_VFORK)))
            info |= RB_I_VFORK;
    }
    __u8 info2 = 0;
    if (BPF_CORE_READ(child, files) == BPF_CORE_READ(parent, files))
        info2 |= RB_I2_SHARE_FILES;
    if (BPF_CORE_READ(child, fs) == BPF_CORE_READ(parent, fs))
        info2 |= RB_I2_SHARE_FS;
    struct rb_event *ev = reserve_small();
    if (!ev)
        return 0;
    ev->kind = RB_FORK;
    ev->info = info;
    ev->info2 = info2;
    ev->tgid = (__s32)ptgid;
    ev->tid = (__s32)ptid;
    ev->args[0] = (__u64)BPF_CORE_READ(child, pid);
    bpf_ringbuf_submit(ev, wake_flags());
    return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
    __u32 tgid = BPF_CORE_READ(task, tgid);
    if (!is_traced(tgid))
        return 0;
    __u32 tid = BPF_CORE_READ(task, pid);
    bpf_map_delete_elem(&states, &tid);
    /* do_exit() counted this thread out of signal->live before the tracepoint. */
    int live = BPF_CORE_READ(task, signal, live.counter);
    struct rb_event *ev = reserve_small();
    if (ev) {
        ev->tgid = (__s32)tgid;
        ev->tid = (__s32)tid;
        if (live == 0) {
            unsigned int sflags = BPF_CORE_READ(task, signal, flags);
            int status = sflags & SIGNAL_GROUP_EXIT ? BPF_CORE_READ(task, signal, group_exit_code)
                                                     : BPF_CORE_READ(task, exit_code);
            ev->kind = RB_EXIT;
            ev->args[0] = (__u64)(__u32)status;
        } else {
            ev->kind = RB_THREAD_EXIT;
        }
        bpf_ringbuf_submit(ev, wake_flags());
    }
    if (live == 0)
        bpf_map_delete_elem(&traced, &tgid);
    return 0;
}
