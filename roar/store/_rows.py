"""The store's plain parts: row shapes, SQL fragments, decoders (no I/O)."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import msgspec

from roar.core.fspath import from_stored, loaded_tree, stored_tree, to_stored
from roar.errors import StoreError
from roar.models import ETAG_PREFIX, FileDigest, NewJob, format_step_ref

_T = TypeVar("_T")
# How the stored form's NUL looks inside a JSON column.
STORED_PREFIX_JSON = "\\u0000"

BUSY_TIMEOUT_MS = 60_000

_LABEL_COLUMNS = {"dag": "session_id", "job": "job_id", "artifact": "artifact_id"}
_METADATA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class LabelVersion(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    document: dict[str, Any]
    origin: str
    created_at: float


class StoredSession(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    hash: str
    created_at: float
    is_active: bool


def _new_session_hash() -> str:
    return secrets.token_hex(32)


def _usage(row: Sequence[Any]) -> dict[str, Any]:
    ref = format_step_ref(int(row[3]), build=row[4] == "build")
    return {
        "path": from_stored(row[1]), "job_uid": row[2], "step_ref": ref,
        "command": from_stored(row[5]),
        "session_hash": row[6],
    }  # fmt: skip


def _normalised(files: Sequence[FileDigest]) -> list[FileDigest]:
    """Files as the store gives them back: one per (path, content), sorted, blake3 in hashes."""
    unique = {(f.path, f.hash): f for f in files}
    return [_normalised_file(unique[key]) for key in sorted(unique)]


def _normalised_file(f: FileDigest) -> FileDigest:
    """``f`` with ``hashes`` as the store gives them back: ``f`` itself when they already are
    (blake3 in them, in algorithm order: every file a traced job hashed)."""
    hashes = f.hashes
    if (
        hashes.get("blake3") == f.hash
        and not f.hash.startswith(ETAG_PREFIX)
        and (len(hashes) == 1 or list(hashes) == sorted(hashes))
    ):
        return f
    return FileDigest(
        path=f.path, hash=f.hash, size=f.size, hashes=dict(_digests(f)), byte_ranges=f.byte_ranges
    )


def _extra_digests(f: FileDigest) -> list[tuple[str, str]]:
    """The (algorithm, digest) pairs of ``f`` besides its blake3, in algorithm order."""
    if len(f.hashes) == ("blake3" in f.hashes) and not f.hash.startswith(ETAG_PREFIX):
        return []  # most files: blake3 alone
    return [(alg, digest) for alg, digest in _digests(f) if alg != "blake3"]


def _digests(f: FileDigest) -> list[tuple[str, str]]:
    pairs = dict(f.hashes)
    if f.hash.startswith(ETAG_PREFIX):
        pairs.setdefault("etag", f.hash[len(ETAG_PREFIX) :])
    else:
        pairs["blake3"] = f.hash
    return sorted(pairs.items())


def _source(path: str, url: str | None = None) -> tuple[str | None, str | None]:
    """(source type, source URL) of an artifact at ``path``, downloaded from ``url`` if given."""
    scheme, sep, _ = (url or path).partition("://")
    return (scheme, url or path) if sep else (None, None)


def _ranges(f: FileDigest) -> str | None:
    return json.dumps([list(r) for r in f.byte_ranges]) if f.byte_ranges else None


def _session(row: Sequence[Any]) -> StoredSession:
    return StoredSession(
        id=int(row[0]), hash=str(row[1]), created_at=float(row[2]), is_active=bool(row[3])
    )


def _chunks(items: Sequence[Any], size: int = 900) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement knows the grammar)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def _json_list(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    try:
        decoded = json.loads(value)
    except ValueError:
        return []
    return [str(item) for item in decoded] if isinstance(decoded, list) else []


def _metadata_column(keys: Sequence[str] | None) -> str:
    """The SELECT expression for a job's metadata: all of it, none, or the values of some
    top-level keys as a JSON array (picked out by SQLite, so the rest never leaves the database;
    ``json_extract`` with two or more paths always answers with an array)."""
    if keys is None:
        return "j.metadata"
    if not keys:
        return "'{}'"
    return f"json_extract(j.metadata, {', '.join('?' * max(2, len(keys)))})"


def _metadata_params(keys: Sequence[str] | None) -> tuple[str, ...]:
    if not keys:
        return ()
    for key in keys:
        if not _METADATA_KEY.fullmatch(key):
            raise ValueError(f"not a metadata key: {key!r}")
    paths = tuple(f"$.{key}" for key in keys)
    return paths * 2 if len(paths) == 1 else paths


def _guarded(decode: Callable[[str], _T]) -> Callable[[str], _T]:
    """A decoder of a stored JSON column that reports a damaged value as a StoreError."""

    def run(text: str) -> _T:
        try:
            return decode(text)
        except (msgspec.DecodeError, ValueError, TypeError) as exc:
            raise StoreError(
                f"a stored record is damaged ({exc}); restore .roar/roar.db from a backup"
            ) from exc

    return run


def _storable(new: NewJob) -> NewJob:
    """``new`` with every string SQLite cannot hold (non-UTF-8 file names, arguments, values) in
    the lossless stored form of roar.core.fspath; the same job when there are none."""
    return msgspec.structs.replace(
        new,
        command=to_stored(new.command),
        argv=[to_stored(a) for a in new.argv],
        cwd=to_stored(new.cwd),
        git=msgspec.structs.replace(
            new.git,
            repo=None if new.git.repo is None else to_stored(new.git.repo),
            branch=None if new.git.branch is None else to_stored(new.git.branch),
            remote_url=None if new.git.remote_url is None else to_stored(new.git.remote_url),
        ),
        inputs=[_storable_file(f) for f in new.inputs],
        outputs=[_storable_file(f) for f in new.outputs],
        env={to_stored(k): to_stored(v) for k, v in new.env.items()},
        metadata=stored_tree(new.metadata),
        sources={to_stored(k): v for k, v in new.sources.items()},
        composites=[
            msgspec.structs.replace(
                c,
                path=to_stored(c.path),
                components=[
                    msgspec.structs.replace(m, relpath=to_stored(m.relpath)) for m in c.components
                ],
            )
            for c in new.composites
        ],
    )


def _storable_file(f: FileDigest) -> FileDigest:
    path = to_stored(f.path)
    return f if path is f.path else msgspec.structs.replace(f, path=path)


def _decode_metadata(text: str, keys: Sequence[str] | None) -> dict[str, Any]:
    if STORED_PREFIX_JSON in text:  # a non-UTF-8 string was stored: decode it back
        return loaded_tree(_decode_metadata_plain(text, keys))  # type: ignore[no-any-return]
    return _decode_metadata_plain(text, keys)


def _decode_metadata_plain(text: str, keys: Sequence[str] | None) -> dict[str, Any]:
    if keys is None:
        return _decode_object(text)
    if not keys:
        return {}
    # A key the job's metadata does not have comes back as null: leave it out.
    return {k: v for k, v in zip(keys, _decode_values(text), strict=False) if v is not None}


_decode_argv = _guarded(msgspec.json.Decoder(list[str]).decode)
_decode_object = _guarded(msgspec.json.Decoder(dict[str, Any]).decode)
_decode_values = _guarded(msgspec.json.Decoder(list[Any]).decode)
_json_loads: Callable[[str], Any] = _guarded(json.loads)
