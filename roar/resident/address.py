"""Where the resident roar listens, and whether this `roar` may talk to it.

The socket's name is a fingerprint of everything that decides what code the resident process
runs: the interpreter, its import path, roar's version and every file of the installed package
(path, size, mtime). Editing or reinstalling roar therefore never reaches an old resident
process; it simply goes unused and exits when idle. The directory is the user's alone (0700,
checked), because whoever can connect can run commands as the user.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import zlib

# `typing` and `collections.abc` cost ~9 ms to import, more than a resident `roar run` spends
# before its command starts: this module is on that path, so they are for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# Plain strings, not pathlib: this runs before every `roar run`, where importing pathlib alone
# would cost several milliseconds.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


class UnsafeDirectory(Exception):
    """The socket directory exists but someone else could use it."""


def socket_dir(env: Mapping[str, str] | None = None) -> str:
    """``$XDG_RUNTIME_DIR/roar``, else ``$TMPDIR/roar-<uid>`` (``/tmp`` by default)."""
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "roar")
    return os.path.join(env.get("TMPDIR") or "/tmp", f"roar-{os.getuid()}")


def ensure_private(directory: str) -> str:
    """Create ``directory`` 0700, or check that an existing one is ours and closed to others."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise UnsafeDirectory(f"{directory} is not a directory only this user can enter")
    return directory


def fingerprint(package: str = _PACKAGE) -> str:
    """16 hex digits naming this interpreter, import path, roar installation (``package``) and
    the namespaces it runs in."""
    parts = [sys.executable, sys.version, repr(sys.path), package, _namespaces()]
    stack = [package]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif not entry.name.endswith(".pyc"):
                    info = entry.stat()
                    parts.append(f"{entry.path}\0{info.st_size}\0{info.st_mtime_ns}")
    parts[5:] = sorted(parts[5:])
    text = "\n".join(parts).encode("utf-8", "surrogateescape")
    # Two CRCs over different orders: 64 bits, enough to tell installations apart, and zlib is
    # already loaded where hashlib would cost an import on every `roar run`.
    return f"{zlib.crc32(text):08x}{zlib.crc32(text[::-1]):08x}"


def _namespaces() -> str:
    """The namespaces and root directory this process sees: a container or a chroot that shares
    `/tmp` with the host gets a resident roar of its own, one that sees its files."""
    seen = []
    for kind in ("mnt", "pid", "user", "net", "ipc", "uts", "cgroup"):
        try:
            seen.append(os.readlink(f"/proc/self/ns/{kind}"))
        except OSError:
            seen.append(kind)
    root = os.stat("/")
    seen.append(f"{root.st_dev}:{root.st_ino}")
    return " ".join(seen)


def socket_path(env: Mapping[str, str] | None = None) -> str:
    return os.path.join(socket_dir(env), f"{fingerprint()}.sock")
