/*
 * config.h -- architecture detection for roar-ptrace.
 *
 * Why one header: everything that differs between the architectures we build on (the audit arch
 * the seccomp filter checks, where the syscall number and arguments sit in the register set when
 * PTRACE_GET_SYSCALL_INFO is missing) lives here, so the rest of the tracer is arch-neutral.
 * x86_64 is the primary target and is tested; aarch64 must compile (the register fallback is the
 * only arch-specific code path).  Anything else fails at compile time with a plain reason.
 */
#ifndef ROAR_PTRACE_CONFIG_H
#define ROAR_PTRACE_CONFIG_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <linux/audit.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"

#if defined(__x86_64__)
#define ROAR_ARCH_NAME "x86_64"
#define ROAR_AUDIT_ARCH AUDIT_ARCH_X86_64
/* x32 syscalls arrive with this bit set in the number and the x86_64 audit arch. */
#define ROAR_X32_SYSCALL_BIT 0x40000000
#elif defined(__aarch64__)
#define ROAR_ARCH_NAME "aarch64"
#define ROAR_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "roar-ptrace supports x86_64 and aarch64 Linux only"
#endif

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "roar-ptrace assumes a little-endian host (seccomp argument offsets)"
#endif

/* The record buffer must hold at least one maximal record. */
_Static_assert(ROAR_EVT_MAX_RECORD >= ROAR_EVT_HEADER_SIZE + 2, "record size too small");
_Static_assert(offsetof(struct roar_evt_header, arg1) == 16, "arg1 must be 8-aligned at 16");

/* Paths we read from the tracee or /proc: PATH_MAX plus room for joining a base directory. */
#define ROAR_PATH_BUF 8192

#endif /* ROAR_PTRACE_CONFIG_H */
