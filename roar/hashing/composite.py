"""The digest of a composite artifact (a directory or an object prefix), as the reference forms it.

Leaves are (normalised POSIX relative path, component algorithm, hex digest). The preimage is the
domain line ``roar:blake3-tree:v1`` followed, for leaves sorted by the UTF-8 bytes of their path,
by ``relpath NUL <algorithm>:<hex> LF``; its BLAKE3 is the composite's digest, recorded under the
algorithm ``composite-blake3``. Sizes and modes are not part of it; boilerplate files
(``.gitignore``, ``README.md``, ...) are left out of the identity unless nothing else is there.
"""

from __future__ import annotations

from collections.abc import Iterable

import blake3

ALGORITHM = "composite-blake3"
DOMAIN = b"roar:blake3-tree:v1\n"
BOILERPLATE = frozenset({".gitattributes", ".gitignore", "README.md", "LICENSE", ".DS_Store"})


class CompositeError(ValueError):
    """A leaf path that cannot be part of a composite (empty, ``..``, duplicated)."""


def normalise_relpath(path: str) -> str:
    """Backslashes to slashes, no leading ``./`` or ``/``; ``..`` and empty paths refused."""
    text = path.replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    text = text.lstrip("/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise CompositeError(f"{path!r} cannot be a component path")
    return "/".join(parts)


def identity_leaves(leaves: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(relpath, blake3) pairs that make the identity: boilerplate dropped unless it is all."""
    normalised = [(normalise_relpath(path), digest.lower()) for path, digest in leaves]
    seen: set[str] = set()
    for path, _ in normalised:
        if path in seen:
            raise CompositeError(f"component path {path!r} appears twice")
        seen.add(path)
    kept = [leaf for leaf in normalised if leaf[0].rsplit("/", 1)[-1] not in BOILERPLATE]
    return kept or normalised


def composite_digest(leaves: Iterable[tuple[str, str]]) -> str:
    """The ``composite-blake3`` digest of (relpath, blake3 hex) leaves."""
    hasher = blake3.blake3(DOMAIN)
    for path, digest in sorted(identity_leaves(leaves), key=lambda leaf: leaf[0].encode()):
        hasher.update(path.encode() + b"\0blake3:" + digest.encode() + b"\n")
    return hasher.hexdigest()
