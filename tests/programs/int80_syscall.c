/*
 * int80_syscall.c -- 32-bit syscalls from a 64-bit program (int $0x80 on x86_64).
 *
 * Exercises: a tracer must not decode a 32-bit syscall with the 64-bit table (i386 3 is read,
 * x86_64 3 is close) and says once per process that it cannot see them (a WARN record).
 *
 * Run: int80_syscall    (exit status 0 when the three i386 read(-1, 0, 0) calls got EBADF; 77
 *                       where there is no int $0x80; 1 when the kernel runs no 32-bit syscalls)
 */
int main(void)
{
#if defined(__x86_64__)
    long r = 0;
    for (int i = 0; i < 3; i++)
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(3L), "b"(-1L), "c"(0L), "d"(0L) : "memory");
    return r == -9 ? 0 : 1; /* -EBADF */
#else
    return 77;
#endif
}
