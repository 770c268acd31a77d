"""Looking things up in the store by the references users type."""

from __future__ import annotations

import os
import re

import anyio.to_thread

from roar.core.project import Project
from roar.errors import NotFoundError, UsageError
from roar.lineage.dag import DagView, LabelSet, project_dag
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
        # SQLite integers stop at 2**63 - 1: a larger step number cannot exist.
        jobs = (
            []
            if session is None or step.number >= 2**63
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


async def current_dag(
    store: Store, *, expanded: bool = False, show_artifacts: bool = True
) -> DagView:
    """The current DAG of the active session, with labels."""
    session = await store.active_session()
    if session is None:
        return project_dag([], session_hash=None, expanded=expanded)
    jobs = await store.session_jobs(session.id, metadata_keys=())  # the DAG needs none
    session_doc, job_docs, artifact_docs = await store.session_label_documents(session.id)
    return project_dag(
        jobs,
        session_hash=session.hash,
        expanded=expanded,
        show_artifacts=show_artifacts,
        labels=LabelSet(session=session_doc, jobs=job_docs, artifacts=artifact_docs),
    )


async def resolve_session(store: Store, ref: str) -> StoredSession:
    """``current`` (the active session) or a session hash prefix."""
    if ref == "current":
        session = await store.active_session()
        if session is None:
            raise NotFoundError("no active session (run 'roar run ...' first)")
        return session
    if not _HEX.fullmatch(ref):
        raise UsageError(f"{ref!r} is not 'current' or a session hash prefix")
    matches = await store.sessions_by_hash_prefix(ref)
    if not matches:
        raise NotFoundError(f"no session matches {ref}")
    if len(matches) > 1:
        names = ", ".join(s.hash[:16] for s in matches[:10])
        raise UsageError(f"session prefix {ref} is ambiguous: {names}")
    return matches[0]


async def resolve_artifact(store: Store, project: Project, ref: str) -> tuple[int, str]:
    """An artifact by path (its current content, else what was last recorded there) or by a
    digest prefix; returns (artifact id, shown name)."""
    if "://" in ref:  # an object URL (s3://bucket/key): recorded by that name
        artifact = await store.latest_artifact_at_path(ref)
        if artifact is not None:
            return artifact, ref
        raise NotFoundError(f"roar has no record of {ref}")
    absolute = project.absolute(ref)
    shown = project.display_path(absolute)
    if os.path.isfile(absolute):
        from roar.hashing import digest_file

        _, digests = await anyio.to_thread.run_sync(digest_file, absolute)
        artifact = await store.artifact_id_for_digest(digests["blake3"])
        if artifact is not None:
            return artifact, shown
    artifact = await store.latest_artifact_at_path(shown)
    if artifact is not None:
        return artifact, shown
    if _HEX.fullmatch(ref) and len(ref) >= 4:
        matches = await store.artifacts_by_digest_prefix(ref)
        if len(matches) == 1:
            return matches[0][0], matches[0][1]
        if len(matches) > 1:
            names = ", ".join(digest[:16] for _, digest in matches[:10])
            raise UsageError(f"hash prefix {ref} is ambiguous: {names}")
    raise NotFoundError(f"roar has no record of {ref}")


async def resolve_label_target(
    store: Store, project: Project, entity: str, ref: str
) -> tuple[int, str]:
    """(row id, display name) of a label target: ``dag``, ``job`` or ``artifact``."""
    if entity == "dag":
        session = await resolve_session(store, ref)
        return session.id, f"dag {session.hash[:12]}"
    if entity == "job":
        job = await resolve_job(store, ref)
        return await store.job_id(job.job_uid), f"job {job.step_ref} ({job.job_uid})"
    if entity == "artifact":
        artifact, shown = await resolve_artifact(store, project, ref)
        return artifact, f"artifact {shown}"
    raise UsageError(f"unknown label target type {entity!r} (dag, job or artifact)")
