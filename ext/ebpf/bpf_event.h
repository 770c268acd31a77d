/*
 * bpf_event.h -- what the kernel half of roar-ebpf (roar.bpf.c) hands the loader (loader.c)
 * through the ring buffer, and the per-syscall table the loader hands the kernel half.
 *
 * Why not the wire format itself: the kernel half cannot resolve relative paths, dirfds or
 * symlinks the way records need them, and it should not decide dedupe or the skip-reads rule.
 * It sends raw facts (a syscall's arguments and result, the path strings it passed, what the
 * new descriptor of an open is) and the loader turns them into ext/events.h records.
 *
 * Included by both halves, so only fixed-width kernel types (__u32, ...) and no headers: the
 * BPF side gets them from vmlinux.h, the loader from <linux/types.h>.
 */
#ifndef ROAR_EBPF_BPF_EVENT_H
#define ROAR_EBPF_BPF_EVENT_H

/* One path as the kernel half reads it, NUL included. */
#define RB_PATH_MAX 4096
/* Syscall numbers the table covers (both supported architectures stay below this). */
#define RB_MAX_NR 512

enum rb_kind {
    RB_SYSCALL = 1,     /* a table syscall finished: nr, args, ret, paths */
    RB_FORK = 2,        /* tgid/tid = parent, args[0] = child tid, info: RB_F_* */
    RB_EXIT = 3,        /* the last thread of tgid ended: args[0] = raw wait status */
    RB_THREAD_EXIT = 4, /* one thread (tid) of a still-running process ended */
    RB_FOREIGN = 5,     /* the process made a syscall of another ABI (32-bit, x32): nr */
};

/* rb_event.info bits. */
#define RB_I_KNAME 0x01         /* path1 is the kernel's name for the file (or the new working
                                   directory): its components, last first, each NUL-terminated */
#define RB_I_NOT_FILE 0x02      /* the descriptor is no file of a mount (pipe, socket, ...) */
#define RB_I_CREATED 0x08       /* the open created the file (FMODE_CREATED) */
#define RB_I_THREAD 0x40        /* fork: the child is a thread of the parent's process */
#define RB_I_VFORK 0x80         /* fork: vfork or CLONE_VFORK */
#define RB_I2_SHARE_FILES 0x01  /* fork: the child shares the parent's descriptor table */
#define RB_I2_SHARE_FS 0x02     /* fork: the child shares the parent's working directory */

struct rb_event {
    __u16 size;  /* bytes sent: the fixed part and len1 + len2 */
    __u8 kind;   /* enum rb_kind */
    __u8 info;   /* RB_I_* */
    __s32 tgid;
    __s32 tid;
    __s32 nr;    /* syscall number (RB_SYSCALL) */
    __s64 ret;
    __u64 args[6];
    __u64 aux;   /* openat2: open_how.flags; clone3: clone_args.flags; exec: the thread id
                    before the exec (a thread that execs takes the process id) */
    __u16 len1;  /* bytes of path1 in data, NUL included (0: none) */
    __u16 len2;  /* bytes of path2 following it */
    __u8 info2;  /* RB_I2_* */
    __u8 pad[3];
    char data[3 * RB_PATH_MAX]; /* path1, path2, and room for the kernel half's scratch work */
};

#define RB_EVENT_FIXED ((unsigned long)&((struct rb_event *)0)->data)

/* sc_spec.flags: what the kernel half does for one syscall number. */
#define SPEC_TRACE 0x01       /* capture it at entry, report it at exit */
#define SPEC_ANY_RESULT 0x02  /* report it even when it failed (close releases anyway) */
#define SPEC_OPENAT2 0x04     /* aux = open_how.flags read from args[2] */
#define SPEC_EXEC 0x08        /* an exec: reported by sched_process_exec, path2 = interpreter */
#define SPEC_VFORK 0x10       /* vfork(2): a child made now shares memory until it execs */
#define SPEC_CLONE 0x20       /* clone(2): CLONE_VFORK in args[0] */
#define SPEC_CLONE3 0x40      /* clone3(2): CLONE_VFORK in clone_args.flags at args[0] */
#define SPEC_NO_REPORT 0x80   /* captured only for the fork that follows (clone, vfork) */
#define SPEC_OPEN 0x100       /* the result is a new descriptor: report RB_I_CREATED and its
                                 kernel name (RB_I_KNAME) */
#define SPEC_CWD 0x200        /* the call changed the working directory: its kernel name */

#define SPEC_NO_ARG 0xff

struct sc_spec {
    __u16 flags;     /* SPEC_* */
    __u8 path_arg1;  /* argument holding the first path, or SPEC_NO_ARG */
    __u8 path_arg2;  /* argument holding the second path, or SPEC_NO_ARG */
    __u8 filter_arg; /* SPEC_NO_ARG, or the argument that must equal one of filter_vals */
    __u8 pad[3];
    __u32 filter_vals[3];
};

#endif /* ROAR_EBPF_BPF_EVENT_H */
