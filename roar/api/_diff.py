"""`roar diff A B`: why two results differ, root cause first.

A and B are jobs (``@N``, uid) or artifacts (path, hash prefix; compared through the jobs that
produced them). The two jobs are compared (:mod:`roar.lineage.diff`); when an input differs
and both versions were produced by recorded jobs, those jobs are compared in turn, upstream
until the difference no longer comes from an input: that is the root cause, shown first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import msgspec

from roar.errors import NotFoundError, UsageError
from roar.lineage.diff import JobDiff, diff_jobs, unified
from roar.models import Job

if TYPE_CHECKING:
    from roar.core.context import RoarContext
    from roar.store import Store

_MAX_DEPTH = 32
_MAX_TEXT = 512 * 1024


class DiffReport(msgspec.Struct, frozen=True, kw_only=True):
    """``diffs`` runs from the root cause (upstream) to the two jobs asked about."""

    a: str
    b: str
    identical: bool
    root_cause: str | None
    diffs: list[JobDiff]


async def diff(store: Store, ctx: RoarContext, a_ref: str, b_ref: str) -> DiffReport:
    a, b = await _job_for(store, ctx, a_ref), await _job_for(store, ctx, b_ref)
    chain: list[JobDiff] = []
    seen: set[tuple[str, str]] = set()
    pair: tuple[Job, Job] | None = (a, b)
    while pair is not None and len(chain) < _MAX_DEPTH:
        left, right = pair
        seen.add((left.job_uid, right.job_uid))
        found = await _with_text(ctx, diff_jobs(left, right), left, right)
        chain.append(found)
        pair = await _upstream_pair(store, found, seen)
    chain.reverse()  # root cause first
    return DiffReport(
        a=a_ref,
        b=b_ref,
        identical=all(d.identical for d in chain),
        root_cause=_root_cause(chain),
        diffs=chain,
    )


async def _job_for(store: Store, ctx: RoarContext, ref: str) -> Job:
    from roar.api._queries import resolve_artifact, resolve_job

    try:
        return await resolve_job(store, ref)
    except NotFoundError:
        if ref.startswith("@"):
            raise
    try:
        artifact_id, shown = await resolve_artifact(store, ctx.project, ref)
    except NotFoundError:
        raise NotFoundError(f"no job or artifact matches {ref!r} (see 'roar log')") from None
    record = await store.artifact_record(artifact_id)
    makers = record["produced_by"]
    if not makers:
        raise UsageError(f"{shown} was not produced by a recorded job: nothing to compare")
    return await store.job_by_uid(str(makers[-1]["job_uid"]))


async def _upstream_pair(
    store: Store, found: JobDiff, seen: set[tuple[str, str]]
) -> tuple[Job, Job] | None:
    """The jobs that made the two versions of a differing input, if both were recorded.

    Only when the inputs are all this pair differs in: a change of its own (parameters, code,
    environment) is already a cause at this level. (Other commits alone are not: the code the
    jobs read is compared file by file.)
    """
    if found.parameters or found.code or found.environment:
        return None
    for change in found.inputs:
        if change.a_hash is None or change.b_hash is None:
            continue
        makers = await store.producers([change.a_hash, change.b_hash])
        left, right = makers.get(change.a_hash), makers.get(change.b_hash)
        if left and right and left != right and (left, right) not in seen:
            return await store.job_by_uid(left), await store.job_by_uid(right)
    return None


async def _with_text(ctx: RoarContext, found: JobDiff, a: Job, b: Job) -> JobDiff:
    """Unified diffs for changed text files tracked in git, from each job's commit."""
    code = []
    for change in found.code:
        text = None
        if change.a_hash and change.b_hash:
            left = await _content(ctx, a, change.path, change.a_hash)
            right = await _content(ctx, b, change.path, change.b_hash)
            if left is not None and right is not None:
                text = unified(left, right, change.path) or None
        code.append(msgspec.structs.replace(change, text_diff=text))
    return msgspec.structs.replace(found, code=code)


async def _content(ctx: RoarContext, job: Job, path: str, digest: str) -> str | None:
    """The text ``job`` read at ``path``: from its commit, else the file if unchanged since."""
    import blake3

    from roar.core.git import run_git_bytes

    candidates: list[bytes] = []
    if job.git.commit:
        code, data = await run_git_bytes(ctx.project.root, "show", f"{job.git.commit}:./{path}")
        if code == 0:
            candidates.append(data)
    current = ctx.project.root / path
    try:
        if current.is_file() and current.stat().st_size <= _MAX_TEXT:
            candidates.append(await anyio.Path(current).read_bytes())
    except OSError:
        pass
    for data in candidates:
        if len(data) <= _MAX_TEXT and blake3.blake3(data).hexdigest() == digest:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def _root_cause(chain: list[JobDiff]) -> str | None:
    if not chain or chain[0].identical:
        return None
    first = chain[0]
    where = f"{first.a} vs {first.b}"
    if first.parameters:
        shown = ", ".join(f"{c.name}: {c.a} -> {c.b}" for c in first.parameters[:3])
        return f"{where}: parameters differ ({shown})"
    if first.code:
        return f"{where}: code differs ({', '.join(c.path for c in first.code[:3])})"
    if first.commit:
        return f"{where}: run at other commits ({first.commit.a} -> {first.commit.b})"
    if first.environment:
        shown = ", ".join(f"{c.name}: {c.a} -> {c.b}" for c in first.environment[:3])
        return f"{where}: environment differs ({shown})"
    shown = ", ".join(c.path for c in first.inputs[:3])
    return f"{where}: inputs differ ({shown}) and were not made by recorded jobs"
