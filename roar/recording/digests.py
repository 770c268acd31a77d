"""Settling a job's digests once the command has ended (the *settle digests* phase).

Inputs were hashed as they were first opened and outputs as they were closed, while the command
ran; what is left is hashed now: inputs the job rewrote (from the tracer's snapshot), inputs
that moved, outputs changed since they were closed. The results become :class:`FileDigest` lists.
"""

from __future__ import annotations

import contextlib
import functools
import os

import anyio
import anyio.to_thread

from roar.core.context import RoarContext
from roar.hashing import Hasher, HashResult, file_key
from roar.hashing._progress import show_progress
from roar.models import FileDigest
from roar.recording.semantics import Accesses
from roar.recording.staging import file_digest
from roar.recording.warnings import RecordWarning


async def collect_digests(
    hasher: Hasher,
    early_results: dict[str, HashResult],
    closed_results: dict[str, HashResult],
    inputs: list[str],
    outputs: list[str],
    accesses: Accesses,
    warnings: list[RecordWarning],
    *,
    progress: bool = False,
) -> dict[tuple[str, str], HashResult]:
    """Digests keyed by (kind, path): inputs as first read, outputs as left on disk."""
    written = set(outputs)
    late: dict[str, str] = {}  # input path -> where to read its content now
    for path in inputs:
        res = early_results.get(path)
        if path in accesses.snapshots:
            # The tracer saved the content before the job changed it: that is the input.
            late[path] = accesses.snapshots[path]
        elif res is None or res.error:
            # A moved input's unchanged content now lives at its destination.
            late[path] = accesses.moved_inputs.get(path, path)
            if path in written:
                warnings.append(
                    RecordWarning(
                        "input-rewritten",
                        f"the digest of input {path} was taken after the job rewrote it",
                        path,
                    )
                )
    # Outputs hashed when they were closed count if the file is still exactly as it was then
    # (a stat each: on a worker thread, while the environment is captured on the loop).
    settled = await anyio.to_thread.run_sync(_unchanged_since_closed, outputs, closed_results)
    remaining = [*late.values(), *(p for p in outputs if p not in settled)]
    total = 0
    for path in remaining:
        with contextlib.suppress(OSError):
            total += os.stat(path).st_size
    start_bytes = hasher.hashed_bytes
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(
                show_progress, total, lambda: hasher.hashed_bytes - start_bytes, enabled=progress
            )
        )
        fresh = await hasher.hash_many(remaining)
        tg.cancel_scope.cancel()
    if settled:
        await hasher.remember(settled.values())
    fresh.update(settled)
    result = {("input", p): early_results[p] for p in inputs if p not in late}
    result.update({("input", p): fresh[src] for p, src in late.items()})
    result.update({("output", p): fresh[p] for p in outputs})
    return result


def _unchanged_since_closed(
    outputs: list[str], closed_results: dict[str, HashResult]
) -> dict[str, HashResult]:
    settled: dict[str, HashResult] = {}
    for path in outputs:
        res = closed_results.get(path)
        if res is not None and res.key is not None:
            try:
                if file_key(os.stat(path)) == res.key:
                    settled[path] = res
            except OSError:
                pass
    return settled


def to_files(
    ctx: RoarContext,
    paths: list[str],
    digests: dict[tuple[str, str], HashResult],
    accesses: Accesses,
    warnings: list[RecordWarning],
    *,
    kind: str,
) -> list[FileDigest]:
    files: list[FileDigest] = []
    parents: set[str] | None = None
    display = ctx.project.display_path
    for path in paths:
        res = digests.get((kind, path))
        if res is None or res.error:
            if parents is None:
                parents = _directories_of(accesses)
            if (
                res is not None
                and res.error != "not a regular file"
                and kind == "input"
                and path not in accesses.outputs
                # Gone, and the job touched files inside it: a directory it read (listing it to
                # remove it: tempfile.TemporaryDirectory's cleanup) and then removed, which the
                # tracers do not report. Not a file whose content was lost.
                and path not in parents
            ):
                warnings.append(
                    RecordWarning(
                        "unhashable-input", f"could not hash input {path}: {res.error}", path
                    )
                )
            continue
        files.append(file_digest(display(path), res))
    files.sort(key=lambda f: f.path)
    return files


def _directories_of(accesses: Accesses) -> set[str]:
    """Every directory that holds a path the job touched (files have no children)."""
    found: set[str] = set()
    for group in (accesses.inputs, accesses.outputs, accesses.discarded_writes, accesses.deleted):
        for path in group:
            parent = os.path.dirname(path)
            while parent and parent not in found and parent != "/":
                found.add(parent)
                parent = os.path.dirname(parent)
    return found
