"""Operations on sessions (pipelines): list them, describe one, start, switch, and pop the newest
job with the outputs it left unchanged. The CLI asks and prints; these decide and change."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from roar.api._queries import resolve_session
from roar.core.context import RoarContext
from roar.errors import UsageError
from roar.models import Job
from roar.store import StoredSession


async def list_sessions(ctx: RoarContext) -> list[dict[str, Any]]:
    """Every session, oldest first: hash, creation time, whether active, jobs and steps."""
    async with ctx.store() as store:
        sessions = await store.all_sessions()
    return [
        {
            "session_hash": s.hash,
            "created_at": s.created_at,
            "is_active": s.is_active,
            "jobs": jobs,
            "steps": steps,
        }
        for s, jobs, steps in sessions
    ]


async def session_jobs(ctx: RoarContext, ref: str | None) -> tuple[StoredSession, list[Job]]:
    """A session (the active one when ``ref`` is None) and its jobs."""
    async with ctx.store() as store:
        if ref is None:
            session = await store.active_session()
            if session is None:
                raise UsageError("no active session (roar run starts one)")
        else:
            session = await resolve_session(store, ref)
        return session, await store.session_jobs(session.id)


async def active_session(ctx: RoarContext) -> StoredSession | None:
    async with ctx.store() as store:
        return await store.active_session()


async def start_session(ctx: RoarContext) -> StoredSession:
    """A fresh, active session; the current one is kept whole."""
    async with ctx.store() as store:
        return await store.start_new_session()


async def switch_session(ctx: RoarContext, ref: str) -> tuple[StoredSession, int, bool]:
    """Make the session ``ref`` names active: (it, its job count, whether it already was)."""
    async with ctx.store() as store:
        session = await resolve_session(store, ref)
        if not session.is_active:
            await store.activate_session(session.id)
        return session, await store.session_job_count(session.id), session.is_active


async def newest_job(ctx: RoarContext) -> Job:
    async with ctx.store() as store:
        jobs = await store.recent_jobs(1)
    if not jobs:
        raise UsageError("no jobs in this session to pop")
    return jobs[0]


@dataclass(frozen=True)
class PoppedOutput:
    path: str
    deleted: bool  # False: kept, because it changed since the job wrote it


async def pop_job(ctx: RoarContext, job: Job) -> list[PoppedOutput]:
    """Remove ``job`` from the record and delete the outputs it wrote that are still exactly
    what it wrote (inside the project only; S3 objects are never touched)."""
    from roar.hashing import digest_file

    async with ctx.store() as store:
        await store.delete_job(job.job_uid)
    outcome: list[PoppedOutput] = []
    for out in job.outputs:
        path = ctx.project.absolute(out.path)
        if out.path.startswith(("/", "s3://")) or not os.path.isfile(path):
            continue
        try:
            _, digests = digest_file(path)
        except OSError:
            continue
        unchanged = digests["blake3"] == out.hash
        if unchanged:
            os.unlink(path)
        outcome.append(PoppedOutput(out.path, unchanged))
    return outcome
