/*
 * unotify.h -- snapshots (--snapshot-dir) for the eBPF tracer, through seccomp user notification.
 *
 * Why not eBPF: a snapshot must be taken before the call that destroys the content runs (see
 * ext/ptrace/snapshot.h), and a BPF program cannot make a thread wait while another program
 * copies a file.  So the command runs under a seccomp filter that stops only the calls that can
 * destroy a file's content -- an open for writing or truncating, truncate, ftruncate, rename,
 * unlink -- until the loader has looked: it drains the ring buffer first (so every read the job
 * made is known), saves the file through ext/ptrace/snapshot.c if the job read it, and lets the
 * call go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE).  Everything else runs without a stop.
 */
#ifndef ROAR_EBPF_UNOTIFY_H
#define ROAR_EBPF_UNOTIFY_H

#include <stddef.h>
#include <sys/types.h>

struct unotify;
struct bpf_tracer;

/* In the child, before exec: install the filter.  The listener descriptor, or -errno. */
int unotify_install(void);
/* In the loader: take the child's listener (descriptor number child_fd in process pid). */
struct unotify *unotify_open(pid_t pid, int child_fd, char *err, size_t errlen);
int unotify_fd(struct unotify *un);
/* Answer the waiting notification (draining bt's ring buffer first). */
void unotify_handle(struct unotify *un, struct bpf_tracer *bt);

/*
 * The job read path: remember its final component.  A call whose name ends in a component the
 * job never read cannot destroy an input, so it goes on at once, unresolved -- which is what
 * keeps a file storm of new outputs from paying a path lookup per open.
 */
void unotify_note_read(const char *path);

#endif /* ROAR_EBPF_UNOTIFY_H */
