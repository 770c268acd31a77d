"""Looking things up in the store by the references users type."""

from __future__ import annotations

import re

from roar.errors import NotFoundError, UsageError
from roar.lineage.dag import DagView, project_dag
from roar.lineage.refs import parse_step_ref
from roar.models import Job
from roar.store import Store, StoredSession

_HEX = re.compile(r"[0-9a-fA-F]+")


async def active_session_or_none(store: Store) -> StoredSession | None:
    return await store.active_session()


async def resolve_job(store: Store, ref: str) -> Job:
    """``@N``, ``@BN`` (latest execution of that step in the active session) or a job uid/prefix."""
    step = parse_step_ref(ref)
    if step is not None:
        session = await store.active_session()
        jobs = (
            []
            if session is None
            else await store.step_jobs(session.id, step.number, build=step.build)
        )
        if not jobs:
            raise NotFoundError(f"no step {step} in this session")
        return jobs[-1]
    if _HEX.fullmatch(ref):
        matches = await store.jobs_by_uid_prefix(ref.lower())
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(j.job_uid for j in matches[:10])
            raise UsageError(f"job prefix {ref} is ambiguous: {names}")
    raise NotFoundError(f"no job or step matches {ref!r}")


async def current_dag(store: Store, *, expanded: bool = False) -> DagView:
    session = await store.active_session()
    if session is None:
        return project_dag([], session_hash=None, expanded=expanded)
    jobs = await store.session_jobs(session.id)
    return project_dag(jobs, session_hash=session.hash, expanded=expanded)
