/*
 * create_flags.c -- opens with O_CREAT of files that exist and of files that do not.
 *
 * Exercises: ROAR_OPEN_CREATED on OPEN records, set exactly when the open created the file, for
 * every way of asking: open/openat (a dirfd, the working directory after chdir, an absolute
 * path), O_RDWR|O_CREAT, O_WRONLY|O_CREAT|O_APPEND, O_CREAT|O_TRUNC, O_CREAT|O_EXCL, O_NOFOLLOW,
 * creat(2), fopen "a+"; a dangling symlink (the open creates its target); and "link/../x.txt"
 * where link is a symlink to a directory, so the kernel creates sub/x.txt although a lexical
 * reading ("x.txt") names a file that exists.
 *
 * Run: create_flags DIR   (DIR must hold existing.txt, existing_aplus.txt, existing_append.txt,
 *                          x.txt, sub/old_rel.txt, sub/deep/, link -> sub/deep and
 *                          dangling -> target.txt; none of the new_* files, target.txt or
 *                          sub/x.txt)
 *
 * Expect CREATED on: new_rdwr.txt new_excl.txt new_trunc.txt new_creat.txt new_aplus.txt
 * new_nofollow.txt target.txt sub/x.txt sub/new_rel.txt; not on: existing.txt
 * existing_aplus.txt existing_append.txt sub/old_rel.txt.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int check(int fd)
{
    return fd >= 0 && write(fd, "x", 1) == 1;
}

int main(int argc, char **argv)
{
    char path[4096];
    if (argc != 2)
        return 2;
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (dir < 0)
        return 1;
    int ok = 1;
    ok &= check(openat(dir, "new_rdwr.txt", O_RDWR | O_CREAT, 0644));
    ok &= check(openat(dir, "existing.txt", O_RDWR | O_CREAT, 0644));
    snprintf(path, sizeof path, "%s/new_excl.txt", argv[1]);
    ok &= check(open(path, O_RDWR | O_CREAT | O_EXCL, 0644));
    ok &= check(openat(dir, "new_trunc.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ok &= check(openat(dir, "existing_append.txt", O_WRONLY | O_CREAT | O_APPEND, 0644));
    ok &= check(openat(dir, "new_nofollow.txt", O_RDWR | O_CREAT | O_NOFOLLOW, 0644));
    snprintf(path, sizeof path, "%s/new_creat.txt", argv[1]);
    ok &= check(creat(path, 0644));
    const char *aplus[] = {"new_aplus.txt", "existing_aplus.txt"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", argv[1], aplus[i]);
        FILE *f = fopen(path, "a+");
        ok &= f != NULL && fputs("x", f) >= 0 && fflush(f) == 0;
    }
    ok &= check(openat(dir, "dangling", O_RDWR | O_CREAT, 0644));      /* creates target.txt */
    ok &= check(openat(dir, "link/../x.txt", O_RDWR | O_CREAT, 0644)); /* creates sub/x.txt */
    if (fchdir(dir) != 0 || chdir("sub") != 0)
        return 1;
    ok &= check(open("new_rel.txt", O_RDWR | O_CREAT, 0644));
    ok &= check(open("old_rel.txt", O_RDWR | O_CREAT, 0644));
    return ok ? 0 : 1;
}
