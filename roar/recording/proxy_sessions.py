"""Bringing a standalone proxy daemon's events into the store, while it runs and when it stops.

An event whose request named a recorded job (``Roar-Job-Id``) is attached to that job; the rest
become one job per proxy session (``roar proxy (session …)``), visible in `roar log`, `show` and
`dag` like any other, and grown in place as later events of the same session arrive.

The daemon appends to ``.roar/proxy-events.jsonl``; every few seconds it (and ``roar proxy
stop``, at the end) *claims* that file by renaming it, records the claimed events, appends them
to the bounded archive ``proxy-events.ingested.jsonl`` (rotated once to ``.1`` at 64 MiB: the
store, not the archive, is the record) and deletes the claim. A claim left by a crash is picked
up by the next ingest. So the events file never grows without bound, and no event is read twice.

An event naming a job that is not in the store yet (a ``roar run`` still running, chained to
the daemon) waits for a later ingest, up to an hour; after that, or at the final ingest when the
daemon stops, it is kept in a session job of its own (``roar proxy (session unknown-job)``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from roar.core.context import RoarContext
from roar.lineage.identity import step_identity
from roar.models import GitInfo, NewJob
from roar.proxy import S3Event
from roar.recording.s3 import s3_edges

if TYPE_CHECKING:
    from roar.store import Store

ARCHIVE_NAME = "proxy-events.ingested.jsonl"
ARCHIVE_MAX_BYTES = 64 * 1024 * 1024
# How long an event may name a job the store does not know yet before it is filed elsewhere.
JOB_WAIT_SECONDS = 3600.0
_CLAIM_SUFFIX = ".ingesting"


class IngestSummary(msgspec.Struct, frozen=True):
    """What one ingest filed (returned by the library's ``Project.record_s3``)."""

    events: int
    attached_to: tuple[str, ...]  # uids of existing jobs that gained S3 edges
    session_jobs: tuple[str, ...]  # uids of the proxy-session jobs created or grown
    deferred: tuple[S3Event, ...] = ()  # events naming a job not recorded yet (not final)


def claim_events(project_root: Path) -> Path | None:
    """Rename the live events file aside (atomically); None if there is nothing to claim.

    The daemon must not be appending while this runs (it holds its append lock around both).
    """
    from roar.proxy.ingest import events_path

    source = events_path(project_root)
    claimed = source.with_name(f"{source.name}.{time.time_ns()}{_CLAIM_SUFFIX}")
    try:
        os.replace(source, claimed)
    except FileNotFoundError:
        return None
    return claimed


def pending_claims(project_root: Path) -> list[Path]:
    """Claimed files not yet ingested (a crash between claim and delete), oldest first."""
    from roar.proxy.ingest import events_path

    name = events_path(project_root).name
    found = (project_root / ".roar").glob(f"{name}.*{_CLAIM_SUFFIX}")
    return sorted(found, key=lambda p: p.name)


async def ingest_daemon_events(ctx: RoarContext) -> IngestSummary:
    """The final ingest (``roar proxy stop``): everything, unknown jobs filed in a session."""
    claim_events(ctx.project.root)
    return await ingest_claims(ctx, pending_claims(ctx.project.root), final=True)


async def ingest_claims(
    ctx: RoarContext, claims: list[Path], *, final: bool, now: float | None = None
) -> IngestSummary:
    """Record the events of ``claims`` in the store, archive them, delete the claims."""
    from roar.proxy.ingest import read_events

    if not claims:
        return IngestSummary(0, (), ())
    events = [event for path in claims for event in read_events(path)]
    summary = await record_events(ctx, events, final=final, now=now)
    deferred = list(summary.deferred)
    waiting = {id(e) for e in deferred}
    _archive(ctx.project.root / ".roar" / ARCHIVE_NAME, [e for e in events if id(e) not in waiting])
    for path in claims:
        with contextlib.suppress(OSError):
            path.unlink()
    return summary


async def record_events(
    ctx: RoarContext, events: list[S3Event], *, final: bool = True, now: float | None = None
) -> IngestSummary:
    """Record proxy events in the store: on their jobs, or on their session's job.

    Not ``final``: events naming a job the store does not know yet (and younger than
    :data:`JOB_WAIT_SECONDS`) are returned in ``deferred`` instead of being filed elsewhere.
    """
    now = time.time() if now is None else now
    by_job: dict[str, list[S3Event]] = defaultdict(list)
    by_session: dict[str, list[S3Event]] = defaultdict(list)
    deferred: list[S3Event] = []
    attached: list[str] = []
    sessions: list[str] = []
    if not events:
        return IngestSummary(0, (), ())
    async with ctx.store() as store:
        for event in events:
            if event.job_id:
                by_job[event.job_id].append(event)
            else:
                by_session[event.session_id or "daemon"].append(event)
        for job_uid, job_events in by_job.items():
            if await _job_known(store, job_uid):
                inputs, outputs, _ = s3_edges(job_events)
                await store.add_edges(job_uid, inputs, outputs)
                attached.append(job_uid)
            elif not final and any(now - e.timestamp < JOB_WAIT_SECONDS for e in job_events):
                deferred.extend(job_events)
            else:
                by_session["unknown-job"].extend(job_events)
        for session, session_events in by_session.items():
            uid = await _record_session(ctx, store, session, session_events)
            if uid is not None:
                sessions.append(uid)
    return IngestSummary(
        len(events) - len(deferred), tuple(attached), tuple(sessions), tuple(deferred)
    )


async def _job_known(store: Store, job_uid: str) -> bool:
    from roar.errors import NotFoundError

    try:
        await store.job_id(job_uid)
    except NotFoundError:
        return False
    return True


async def _record_session(
    ctx: RoarContext, store: Store, session: str, events: list[S3Event]
) -> str | None:
    inputs, outputs, deleted = s3_edges(events)
    if not inputs and not outputs and not deleted:
        return None
    stamps = [e.timestamp for e in events]
    command = f"roar proxy (session {session})"
    existing = await store.job_uid_by_command(command)
    if existing is not None:
        await store.extend_job(existing, inputs, outputs, last_seen=max(stamps), deleted=deleted)
        return existing
    uid = secrets.token_hex(4)
    await store.record_job(
        NewJob(
            job_uid=uid,
            job_type="run",
            command=command,
            argv=["roar", "proxy", "start"],
            cwd=".",
            started_at=min(stamps),
            duration_seconds=max(stamps) - min(stamps),
            exit_code=0,
            signal=None,
            git=GitInfo(),
            inputs=inputs,
            outputs=outputs,
            step_identity=step_identity(
                [f.path for f in inputs],
                [f.path for f in outputs],
                command,
                str(ctx.project.root),
                "",
            ),
            tracer="proxy",
            metadata={"proxy_session": session, "s3_deleted": deleted},
        )
    )
    return uid


def _archive(archive: Path, events: list[S3Event]) -> None:
    """Append the ingested events to the archive, rotating it once it passes its size bound."""
    from roar.proxy import encode_event

    if not events:
        return
    with contextlib.suppress(OSError):
        if archive.stat().st_size >= ARCHIVE_MAX_BYTES:
            os.replace(archive, archive.with_name(archive.name + ".1"))
    data = b"".join(encode_event(e) for e in events)
    fd = os.open(archive, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
