/*
 * sc_changes.c -- rename, link, unlink and truncate: the paths read before the call changes
 * them, the records emitted once it succeeded.
 */
#include "handlers.h"

/* ---- rename / link / unlink / truncate -------------------------------------------------------- */

int enter_rename_common(struct thread *t)
{
    /* The file replaced at the new name loses its last name here (EXCHANGE keeps both). */
    if (t->sc.ok2 && !(t->sc.aux & RENAME_EXCHANGE))
        save_before(t, t->path2, 0, SNAPSHOT_LINK, 0);
    return SC_NEED_EXIT;
}

LEGACY_SYSCALL int enter_rename(struct thread *t)
{
    resolve_arg(t, 1, AT_FDCWD, t->sc.args[0], 0);
    resolve_arg(t, 2, AT_FDCWD, t->sc.args[1], 0);
    t->sc.aux = 0;
    return enter_rename_common(t);
}

int enter_renameat(struct thread *t)
{
    resolve_arg(t, 1, ARG_INT(t, 0), t->sc.args[1], 0);
    resolve_arg(t, 2, ARG_INT(t, 2), t->sc.args[3], 0);
    t->sc.aux = 0;
    return enter_rename_common(t);
}

int enter_renameat2(struct thread *t)
{
    resolve_arg(t, 1, ARG_INT(t, 0), t->sc.args[1], 0);
    resolve_arg(t, 2, ARG_INT(t, 2), t->sc.args[3], 0);
    t->sc.aux = (int64_t)(uint32_t)t->sc.args[4];
    return enter_rename_common(t);
}

void exit_rename(struct thread *t, int64_t rval)
{
    (void)rval;
    if (!t->sc.ok1 || !t->sc.ok2) {
        unresolved(t, "rename");
        return;
    }
    /* Canonicalise the directories only: the old name is gone now, the new one may be a link. */
    path_canonical_parent(t->path1, ROAR_PATH_BUF);
    path_canonical_parent(t->path2, ROAR_PATH_BUF);
    snapshot_note_write(t->path2);
    emit_namespace(t, ROAR_EVK_RENAME, (int32_t)t->sc.aux, 0, t->path1, t->path2);
}

LEGACY_SYSCALL int enter_link(struct thread *t)
{
    resolve_arg(t, 1, AT_FDCWD, t->sc.args[0], 0);
    resolve_arg(t, 2, AT_FDCWD, t->sc.args[1], 0);
    t->sc.aux = 0; /* link(2) does not follow a symlink in oldpath on Linux */
    return SC_NEED_EXIT;
}

int enter_linkat(struct thread *t)
{
    int flags = ARG_INT(t, 4);
    resolve_arg(t, 1, ARG_INT(t, 0), t->sc.args[1], (flags & AT_EMPTY_PATH) != 0);
    resolve_arg(t, 2, ARG_INT(t, 2), t->sc.args[3], 0);
    t->sc.aux = flags;
    return SC_NEED_EXIT;
}

void exit_link(struct thread *t, int64_t rval)
{
    (void)rval;
    if (!t->sc.ok1 || !t->sc.ok2) {
        unresolved(t, "link");
        return;
    }
    if (t->sc.aux & AT_SYMLINK_FOLLOW)
        path_canonical_full(t->path1, ROAR_PATH_BUF);
    else
        path_canonical_parent(t->path1, ROAR_PATH_BUF);
    path_canonical_parent(t->path2, ROAR_PATH_BUF);
    snapshot_note_write(t->path2);
    emit_namespace(t, ROAR_EVK_LINK, 0, 0, t->path1, t->path2);
}

int enter_unlink_common(struct thread *t)
{
    if (t->sc.ok1)
        save_before(t, t->path1, 0, SNAPSHOT_LINK, 0);
    return SC_NEED_EXIT;
}

LEGACY_SYSCALL int enter_unlink(struct thread *t)
{
    resolve_arg(t, 1, AT_FDCWD, t->sc.args[0], 0);
    return enter_unlink_common(t);
}

int enter_unlinkat(struct thread *t)
{
    if (ARG_INT(t, 2) & AT_REMOVEDIR)
        return SC_DONE; /* rmdir: no file content goes away */
    resolve_arg(t, 1, ARG_INT(t, 0), t->sc.args[1], 0);
    return enter_unlink_common(t);
}

void exit_unlink(struct thread *t, int64_t rval)
{
    (void)rval;
    if (!t->sc.ok1) {
        unresolved(t, "unlink");
        return;
    }
    path_canonical_parent(t->path1, ROAR_PATH_BUF);
    emit_namespace(t, ROAR_EVK_UNLINK, 0, 0, t->path1, NULL);
}

int enter_truncate(struct thread *t)
{
    resolve_arg(t, 1, AT_FDCWD, t->sc.args[0], 0);
    if (t->sc.ok1)
        save_before(t, t->path1, 1, SNAPSHOT_COPY, 0);
    return SC_NEED_EXIT;
}

int enter_ftruncate(struct thread *t)
{
    char *path = snapshot_enabled() ? thread_path(t, 1) : NULL;
    if (path && proc_fd_path(t->tid, ARG_INT(t, 0), path, ROAR_PATH_BUF) > 0 &&
        path_is_absolute(path))
        save_before(t, path, 1, SNAPSHOT_COPY, 0);
    return SC_NEED_EXIT;
}

void exit_truncate(struct thread *t, int64_t rval)
{
    (void)rval;
    if (!t->sc.ok1) {
        unresolved(t, "truncate");
        return;
    }
    path_canonical_full(t->path1, ROAR_PATH_BUF); /* truncate(2) follows symlinks */
    snapshot_note_write(t->path1);
    emit_namespace(t, ROAR_EVK_TRUNCATE, 0, (int64_t)t->sc.args[1], t->path1, NULL);
}

void exit_ftruncate(struct thread *t, int64_t rval)
{
    (void)rval;
    char *path = thread_path(t, 1);
    if (!path || proc_fd_path(t->tid, ARG_INT(t, 0), path, ROAR_PATH_BUF) < 0) {
        unresolved(t, "ftruncate");
        return;
    }
    if (!path_is_absolute(path))
        return;
    path_normalize(path);
    snapshot_note_write(path);
    emit_namespace(t, ROAR_EVK_TRUNCATE, 0, (int64_t)t->sc.args[1], path, NULL);
}
