"""Judging each reproduced output: the same bytes (reproduced), other bytes (recreated), or none.

An output counts only if the step wrote it: a file that already existed and that the step left
alone (same device, inode, size and times) is reported missing rather than reproduced.
"""

from __future__ import annotations

import difflib
import json
import os

import anyio.to_thread
from msgspec.structs import replace

from roar.hashing import FileKey, digest_file, file_key
from roar.models import FileDigest
from roar.reproduce._model import Verdict

MAX_DIFF_BYTES = 1 << 20
DIFF_LINES = 8


def _text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _canonical_json(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def first_differences(old: bytes, new: bytes, *, limit: int = DIFF_LINES) -> list[str]:
    """The first hunk of a line diff between two text (or JSON) documents, at most ``limit``
    lines after its ``@@`` header; [] when either side is binary or they do not differ as text.

    JSON documents are compared in a canonical form (sorted keys, two-space indent), so a change
    of a value shows as that value's line rather than as a rewrapped blob; when the canonical
    forms agree (only formatting differs), the raw text is compared instead.
    """
    a, b = _text(old), _text(new)
    if a is None or b is None:
        return []
    ja, jb = _canonical_json(a), _canonical_json(b)
    if ja is not None and jb is not None and ja != jb:
        a, b = ja, jb
    lines: list[str] = []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0):
        if line.startswith(("--- ", "+++ ")) and not lines:
            continue
        if line.startswith("@@"):
            if lines:
                break
            lines.append(line)
            continue
        lines.append(line)
        if len(lines) > limit:
            lines[-1] = "..."
            break
    return lines


def stat_key(path: str) -> FileKey | None:
    try:
        return file_key(os.stat(path))
    except OSError:
        return None


async def judge(
    expected: FileDigest,
    location: str,
    *,
    step_ref: str,
    before: FileKey | None,
    reference: bytes | None,
    target: bool = False,
) -> Verdict:
    """Compare what the step left at ``location`` with the recorded ``expected`` output."""
    base = not_run(expected, step_ref=step_ref, target=target, why="the step did not write it")
    key = stat_key(location)
    if key is None:
        return base
    if before is not None and key == before:
        return replace(base, note="the step left the existing file untouched")
    try:
        _, digests = await anyio.to_thread.run_sync(digest_file, location)
    except OSError as exc:
        return replace(base, note=f"cannot read it: {exc.strerror or exc}")
    actual = digests["blake3"]
    if actual == expected.hash:
        return replace(base, status="reproduced", actual=actual, note="")
    diff: list[str] = []
    note = ""
    if reference is None:
        note = "the original bytes are not available for a diff"
    elif key[2] <= MAX_DIFF_BYTES:
        new = await anyio.Path(location).read_bytes()
        diff = first_differences(reference, new)
    return replace(base, status="recreated", actual=actual, diff=diff, note=note)


def not_run(expected: FileDigest, *, step_ref: str, target: bool, why: str) -> Verdict:
    return Verdict(
        path=expected.path,
        step_ref=step_ref,
        status="missing",
        expected=expected.hash,
        target=target,
        note=why,
    )
