"""`roar export`: which jobs a reference covers, in PROV-JSON or OpenLineage."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Literal

from roar.errors import NotFoundError, UsageError
from roar.models import Job

if TYPE_CHECKING:
    from roar.core.context import RoarContext
    from roar.store import Store

ExportFormat = Literal["prov-json", "openlineage"]
FORMATS: tuple[ExportFormat, ...] = ("prov-json", "openlineage")


async def export_text(store: Store, ctx: RoarContext, ref: str | None, fmt: ExportFormat) -> str:
    """PROV-JSON (one document) or OpenLineage (one RunEvent per line) for ``ref``."""
    from roar._version import __version__
    from roar.lineage.export import openlineage_events, prov_document

    jobs = await jobs_for(store, ctx, ref)
    if fmt == "prov-json":
        return json.dumps(prov_document(jobs), indent=2, sort_keys=True) + "\n"
    if fmt == "openlineage":
        events = openlineage_events(
            jobs,
            namespace=f"roar/{ctx.project.root.name}",
            host=socket.gethostname(),
            producer=f"https://pypi.org/project/roar/{__version__}",
            version=__version__,
        )
        return "".join(json.dumps(event, sort_keys=True) + "\n" for event in events)
    raise UsageError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")


async def jobs_for(store: Store, ctx: RoarContext, ref: str | None) -> list[Job]:
    """No ref: the active session. A session hash: that session. A job or an artifact: it and
    everything upstream of it (the jobs that made what it read, transitively)."""
    from roar.api._queries import resolve_artifact, resolve_job, resolve_session
    from roar.lineage.export import upstream_jobs

    if ref is None:
        session = await store.active_session()
        if session is None:
            raise UsageError("no active session to export (roar run starts one)")
        return await store.session_jobs(session.id)
    target: Job | None = None
    try:
        target = await resolve_job(store, ref)
    except NotFoundError:
        if ref.startswith("@"):
            raise
    if target is None:
        try:
            artifact_id, _shown = await resolve_artifact(store, ctx.project, ref)
        except NotFoundError:
            try:
                session = await resolve_session(store, ref)
            except (NotFoundError, UsageError):
                raise NotFoundError(f"no job, artifact or session matches {ref!r}") from None
            return await store.session_jobs(session.id)
        makers = (await store.artifact_record(artifact_id))["produced_by"]
        if not makers:
            raise UsageError(f"{ref} was not produced by a recorded job: nothing to export")
        target = await store.job_by_uid(str(makers[-1]["job_uid"]))
    (session,) = await store.sessions_by_hash_prefix(target.session_hash)
    made_by: dict[str, Job] = {}
    for job in await store.session_jobs(session.id):
        if job.started_at <= target.started_at:
            for out in job.outputs:
                made_by[out.hash] = job
    return upstream_jobs(target, made_by)
