"""The run cache's storage: job outputs kept by content under ``.roar/cache/``, put back on demand.

Layout: ``.roar/cache/blake3/<first 2 hex>/<the other 62>``, one file per distinct content. Files
go in and come out by the first of ``cache.type`` the filesystem allows: ``reflink`` (a
copy-on-write clone: instant, no space, independent afterwards), ``hardlink`` (instant, shared:
an in-place edit of the output would change the cached copy too, so every restore re-checks the
digest) or ``copy``. Entries are written under a temporary name and renamed, so a reader never
sees half a file; a restore always verifies the content before handing it out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

FICLONE = 0x40049409  # ioctl: clone a whole file (btrfs, XFS with reflink, bcachefs, ...)
LINK_TYPES = ("reflink", "hardlink", "copy")


@dataclass(frozen=True, slots=True)
class GcSummary:
    removed: int
    freed_bytes: int
    kept: int
    kept_bytes: int


def entry_path(cache_dir: Path, digest: str) -> Path:
    return cache_dir / "blake3" / digest[:2] / digest[2:]


def _reflink(source: Path, target: Path) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())


def place(source: Path, target: Path, methods: Sequence[str]) -> str:
    """Make ``target`` have ``source``'s content by the first method that works; returns it.

    ``target`` appears whole or not at all (a temporary name in its directory, then a rename).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".roar-cache-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        for method in methods:
            try:
                if method == "reflink":
                    _reflink(source, tmp)
                elif method == "hardlink":
                    tmp.unlink()
                    os.link(source, tmp)
                elif method == "copy":
                    shutil.copyfile(source, tmp)
                else:
                    continue
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                tmp.touch()
                continue
            if method != "hardlink":
                shutil.copymode(source, tmp)
            os.replace(tmp, target)
            return method
        raise OSError(f"none of {', '.join(methods)} could place {target}")
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def store(cache_dir: Path, files: Iterable[tuple[Path, str]], methods: Sequence[str]) -> int:
    """Keep each (file, digest) in the cache unless already there; returns how many were added."""
    added = 0
    for path, digest in files:
        entry = entry_path(cache_dir, digest)
        if entry.exists():
            continue
        try:
            place(path, entry, methods)
        except OSError:
            continue  # the cache is an optimisation: an output it cannot keep is simply not kept
        added += 1
    return added


def restore(cache_dir: Path, digest: str, target: Path, methods: Sequence[str]) -> bool:
    """Put the cached content ``digest`` at ``target``, checked; False if not cached (or bad)."""
    from roar.hashing import digest_file

    entry = entry_path(cache_dir, digest)
    if not entry.is_file():
        return False
    try:
        _, digests = digest_file(str(entry))
    except OSError:
        return False
    if digests.get("blake3") != digest:
        # Changed behind the cache's back (a hard-linked output edited in place): drop it.
        with contextlib.suppress(OSError):
            entry.unlink()
        return False
    place(entry, target, methods)
    return True


def gc(cache_dir: Path, keep: set[str], *, max_bytes: int | None = None) -> GcSummary:
    """Remove entries whose digest is not in ``keep``; then, over ``max_bytes``, the least
    recently used of the rest."""
    entries: list[tuple[float, int, Path, str]] = []
    root = cache_dir / "blake3"
    removed = freed = 0
    for sub in sorted(root.glob("??")) if root.is_dir() else []:
        for entry in sub.iterdir():
            if entry.name.startswith("."):
                continue
            digest = sub.name + entry.name
            try:
                st = entry.stat()
            except OSError:
                continue
            if digest not in keep:
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
                    freed += st.st_size
                continue
            entries.append((st.st_atime, st.st_size, entry, digest))
    total = sum(size for _, size, _, _ in entries)
    kept = list(entries)
    if max_bytes is not None and total > max_bytes:
        kept = []
        for atime, size, entry, digest in sorted(entries, key=lambda e: e[0]):  # oldest first
            if total > max_bytes:
                try:
                    entry.unlink()
                except OSError:
                    pass
                else:
                    removed += 1
                    freed += size
                    total -= size
                    continue
            kept.append((atime, size, entry, digest))
    return GcSummary(removed, freed, len(kept), sum(size for _, size, _, _ in kept))
