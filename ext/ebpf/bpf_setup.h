/*
 * bpf_setup.h -- loading the kernel half (roar.bpf.o) with libbpf, attaching it, and reading
 * its ring buffer and counters.
 *
 * Why load at run time from a file next to the binary rather than embed a skeleton: roar's
 * self-test and the tests point --bpf-object elsewhere to see how a missing or broken object is
 * reported, and the object is rebuilt against each machine's kernel BTF at install time.
 */
#ifndef ROAR_EBPF_BPF_SETUP_H
#define ROAR_EBPF_BPF_SETUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bpf_tracer;

/*
 * Open and load the object at path with a ring buffer of ring_bytes (0: the object's default;
 * else a power of two, at least a page), and fill its syscall table.  NULL on failure, with a
 * one-line reason in err.
 */
struct bpf_tracer *bpf_tracer_load(const char *path, unsigned long ring_bytes, char *err,
                                   size_t errlen);
/* Trace process pid (and, from then on, every child it makes).  0 or -1 (reason in err). */
int bpf_tracer_add(struct bpf_tracer *bt, pid_t pid, char *err, size_t errlen);
/* Attach every program.  0 or -1 (reason in err). */
int bpf_tracer_attach(struct bpf_tracer *bt, char *err, size_t errlen);
/* A descriptor that becomes readable when events are waiting. */
int bpf_tracer_fd(struct bpf_tracer *bt);
/* Hand every waiting event to handle_event().  Returns how many, or -1. */
int bpf_tracer_consume(struct bpf_tracer *bt);
/* Events the ring buffer had no room for (which = 0), processes not traced for want of room in
 * the traced map (which = 1), summed over the CPUs. */
uint64_t bpf_tracer_lost(struct bpf_tracer *bt, unsigned which);
void bpf_tracer_close(struct bpf_tracer *bt);

#endif /* ROAR_EBPF_BPF_SETUP_H */
