"""Can a recorded execution stand in for running its command again? The run cache's rule.

One rule for ``roar run @N`` (earlier executions in the project's own store) and ``roar
reproduce`` (the recorded steps, replayed in place or in a clone): the execution is reusable
when every input it read has its recorded content now (scripts are inputs, so code is
covered) and every output it wrote is present with the content it wrote — the step is
*skipped*. Outputs missing or changed come back from the content-addressed cache when it is
enabled and holds them — the step is *restored*. Anything else (an input changed, an S3 input
that cannot be checked without running, an output the cache does not hold) and the step
*runs*.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio.to_thread

from roar.models import FileDigest, Job

if TYPE_CHECKING:
    from roar.hashing import Hasher

Decision = Literal["run", "skipped", "restored"]


@dataclass(frozen=True, slots=True)
class OutputCache:
    """Where kept outputs live (``.roar/cache/`` of a project) and how they are put back."""

    directory: Path
    methods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reuse:
    """What was decided, against which recorded job, and why."""

    decision: Decision
    job: Job | None = None
    reason: str = ""
    restored: list[str] = field(default_factory=list)
    # The first input whose content differs (set when that is why the step runs).
    changed_input: str = ""


def _local(files: Sequence[FileDigest]) -> list[FileDigest]:
    return [f for f in files if not f.path.startswith("s3://")]


async def changed(
    hasher: Hasher, files: Sequence[FileDigest], locate: Callable[[str], str]
) -> list[str]:
    """The recorded paths of ``files`` whose content at ``locate(path)`` is not the recorded one."""
    located = {f.path: locate(f.path) for f in files}
    results = await hasher.hash_many(located.values())
    stale = []
    for f in files:
        result = results.get(located[f.path])
        if result is None or result.error or result.digests.get("blake3") != f.hash:
            stale.append(f.path)
    return stale


async def check(
    job: Job, hasher: Hasher, locate: Callable[[str], str], cache: OutputCache | None
) -> Reuse:
    """Skip, restore or run ``job``'s command, its files found at ``locate(recorded path)``.

    Restoring writes files (only outputs the cache holds, each checked against its digest);
    nothing else is changed.
    """
    if any(f.path.startswith("s3://") for f in job.inputs):
        return Reuse("run", job, "it reads S3 objects, which are not checked without running")
    if any(f.hash.startswith("etag:") for f in job.inputs):
        return Reuse("run", job, "an input is known only by its S3 ETag")
    inputs_changed = await changed(hasher, job.inputs, locate)
    if inputs_changed:
        return Reuse(
            "run",
            job,
            f"{inputs_changed[0]} changed since {job.step_ref} ({job.job_uid}) ran",
            changed_input=inputs_changed[0],
        )
    outputs = _local(job.outputs)
    stale = await changed(hasher, outputs, locate)
    if not stale:
        return Reuse("skipped", job, f"inputs and outputs as {job.job_uid} left them")
    if cache is None:
        return Reuse("run", job, f"{stale[0]} is missing or changed, and cache.enabled is off")
    restored: list[str] = []
    for out in outputs:
        if out.path not in stale:
            continue
        ok = await anyio.to_thread.run_sync(_restore, cache, out.hash, Path(locate(out.path)))
        if not ok:
            return Reuse("run", job, f"{out.path} is not in the cache", restored)
        restored.append(out.path)
    return Reuse("restored", job, f"outputs of {job.job_uid} put back", restored)


def _restore(cache: OutputCache, digest: str, target: Path) -> bool:
    from roar.recording.run_cache import restore

    return restore(cache.directory, digest, target, cache.methods)


# -- what the command would see now --------------------------------------------------------------
#
# Equal inputs are not enough for `roar run @N` to skip a step: the command also read variables
# (LR=0.1) and imported packages (numpy 2.4), and neither is an input file (site-packages reads are
# filtered out as "package"). A re-run in another environment may compute other outputs, so the
# recorded execution stands in for it only when both are as they were. (`roar reproduce` asks
# something else: whether the recorded outputs are there, so it does not use these.)


def env_change(
    job: Job, recorded: Mapping[str, object], env: Mapping[str, str], redacted: str
) -> str | None:
    """Why ``env`` differs from what ``job`` read (``recorded``: name -> value, None for unset),
    or None. Values recorded as ``redacted`` (credentials) were never kept, so cannot be
    compared, and are not."""
    for name, value in sorted(recorded.items()):
        if value == redacted or (value is not None and not isinstance(value, str)):
            continue
        now = env.get(name)
        if now != value:
            then = "unset" if value is None else f"{value!r}"
            current = "unset" if now is None else f"{now!r}"
            return f"${name} is {current} now, {then} when {job.step_ref} ({job.job_uid}) ran"
    return None


def package_change(
    job: Job, recorded: Mapping[str, object], installed: Mapping[str, str | None]
) -> str | None:
    """Why the installed versions differ from the distributions ``job`` imported, or None."""
    for name, version in sorted(recorded.items()):
        if not isinstance(version, str):
            continue
        now = installed.get(name)
        if now != version:
            current = f"{name} {now} is installed" if now else f"{name} is not installed"
            return f"{current} now, {version} when {job.step_ref} ({job.job_uid}) ran"
    return None
