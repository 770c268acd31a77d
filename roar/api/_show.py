"""What `roar show REF` shows, as data: a job, an artifact, a session, or the active session.

The payloads are the public ``--json`` contracts of ``roar show`` (keys are only ever added);
the CLI prints them as JSON or as text, the library returns them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec

from roar.errors import NotFoundError, UsageError
from roar.models import FileDigest, Job

if TYPE_CHECKING:
    from roar.core.context import RoarContext
    from roar.store import Store

ShownKind = Literal["job", "artifact", "session", "active-session"]


class Shown(msgspec.Struct, frozen=True, kw_only=True):
    """One thing `show` found: its kind, its JSON payload, and the job itself for a job."""

    kind: ShownKind
    payload: dict[str, Any]
    job: Job | None = None
    labels: dict[str, Any] = {}


async def show(store: Store, ctx: RoarContext, ref: str | None) -> Shown:
    """Resolve ``ref`` as a job, then an artifact (path or hash prefix), then a session."""
    from roar.api._queries import current_dag, resolve_artifact, resolve_job, resolve_session

    if ref is None:
        session = await store.active_session()
        dag = await current_dag(store)
        return Shown(
            kind="active-session",
            payload={
                "session_hash": session.hash if session else None,
                "created_at": session.created_at if session else None,
                "total_steps": dag.total_steps,
                "stale_count": dag.stale_count,
                "steps": [
                    {
                        "step_number": n.step_number,
                        "job_uid": n.job_uid,
                        "command": n.command,
                        "state": n.state,
                        "is_build": n.is_build,
                    }
                    for n in dag.nodes
                ],
            },
        )
    try:
        job = await resolve_job(store, ref)
    except NotFoundError:
        if ref.startswith("@"):
            raise
    else:
        job_id = await store.job_id(job.job_uid)
        labels = (await store.current_labels("job", [job_id])).get(job_id, {})
        payload = job_json(job)
        payload["labels"] = labels
        payload["composites"] = [
            {"path": c.path, "hash": c.hash, "size": c.size, "role": c.role,
             "components": [{"relpath": m.relpath, "hash": m.hash, "size": m.size}
                            for m in c.components]}
            for c in await store.job_composites(job.job_uid)
        ]  # fmt: skip
        payload["datasets_read"] = await _datasets_read(store, job)
        return Shown(kind="job", payload=payload, job=job, labels=labels)
    try:
        artifact_id, shown = await resolve_artifact(store, ctx.project, ref)
    except NotFoundError:
        try:
            session = await resolve_session(store, ref)
        except (NotFoundError, UsageError):
            raise NotFoundError(
                f"no job, artifact or session matches {ref!r} (see 'roar log')"
            ) from None
        jobs = await store.session_jobs(session.id)
        return Shown(
            kind="session",
            payload={
                "session_hash": session.hash,
                "created_at": session.created_at,
                "is_active": session.is_active,
                "jobs": [job_json(j) for j in jobs],
            },
        )
    record = await store.artifact_record(artifact_id)
    record["path"] = shown
    labels = (await store.current_labels("artifact", [artifact_id])).get(artifact_id, {})
    record["labels"] = labels
    return Shown(kind="artifact", payload=record, labels=labels)


async def _datasets_read(store: Store, job: Job) -> list[dict[str, Any]]:
    """The composites (datasets) some of whose files the job read: a job reading one file of a
    dataset is linked to the dataset."""
    containing = await store.composites_containing([f.hash for f in job.inputs])
    datasets: dict[str, dict[str, Any]] = {}
    for f in job.inputs:
        for digest, path, relpath in containing.get(f.hash, []):
            entry = datasets.setdefault(digest, {"hash": digest, "path": path, "files": []})
            if relpath not in entry["files"]:
                entry["files"].append(relpath)
    return list(datasets.values())


def job_json(job: Job) -> dict[str, Any]:
    """The public JSON contract of a job (keys are only ever added)."""
    return {
        "job_uid": job.job_uid,
        "step_number": job.step_number,
        "step_ref": job.step_ref,
        "job_type": job.job_type,
        "command": job.command,
        "argv": job.argv,
        "cwd": job.cwd,
        "started_at": job.started_at,
        "duration_seconds": job.duration_seconds,
        "exit_code": job.exit_code,
        "signal": job.signal,
        "git": {
            "commit": job.git.commit,
            "branch": job.git.branch,
            "dirty": job.git.dirty,
            "repo": job.git.repo,
            "remote_url": job.git.remote_url,
        },
        "inputs": [_file_json(f) for f in job.inputs],
        "outputs": [_file_json(f) for f in job.outputs],
        "session_hash": job.session_hash,
        "step_identity": job.step_identity,
        "tracer": job.tracer,
        "env": job.env,
        "metadata": job.metadata,
    }


def _file_json(f: FileDigest) -> dict[str, object]:
    return {
        "path": f.path,
        "hash": f.hash,
        "size": f.size,
        "hashes": f.hashes,
        "byte_ranges": [list(r) for r in f.byte_ranges],
    }
