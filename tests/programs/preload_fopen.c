/*
 * preload_fopen.c -- stdio streams: fopen for reading, fopen for writing, freopen, fclose.
 *
 * Exercises: libc opens a FILE through its internal __open, never through the PLT, so the preload
 * shim must wrap fopen/freopen/fclose themselves.  Expect OPEN IN (read), OPEN OUT (write,
 * O_TRUNC), OPEN LOG (append), CLOSE records for OUT and LOG, and no record at all for the
 * descriptor that fdopen wraps.  Built with -static it is also the "static program" that auto
 * mode hands to ptrace.
 *
 * Run: preload_fopen IN OUT LOG    (OUT = IN upper-cased; one line appended to LOG; exit 0)
 */
#include <ctype.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: preload_fopen IN OUT LOG\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    FILE *out = fopen(argv[2], "w");
    if (!in || !out) {
        perror("fopen");
        return 1;
    }
    int c;
    while ((c = fgetc(in)) != EOF)
        fputc(toupper(c), out);
    fclose(in);
    fclose(out);

    /* stdout redirected onto LOG with freopen, then a stream over a dup'd descriptor. */
    FILE *log = freopen(argv[3], "a", stdout);
    if (!log) {
        perror("freopen");
        return 1;
    }
    printf("copied %s\n", argv[1]);
    fflush(log);
    FILE *again = fdopen(dup(fileno(log)), "a");
    if (again)
        fclose(again);
    fclose(log);
    return 0;
}
