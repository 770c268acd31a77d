"""Bringing a standalone proxy daemon's events into the store when the daemon stops.

An event whose request named a recorded job (``Roar-Job-Id``) is attached to that job; the rest
become one job per proxy session (``roar proxy (session …)``), visible in `roar log`, `show` and
`dag` like any other. The events file is renamed before it is read, so a second stop (or a crash
half-way) never ingests the same events twice.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from roar.core.context import RoarContext
from roar.errors import NotFoundError
from roar.lineage.identity import step_identity
from roar.models import GitInfo, NewJob
from roar.recording.s3 import s3_edges

if TYPE_CHECKING:
    from roar.proxy._event import S3Event


@dataclass(frozen=True, slots=True)
class IngestSummary:
    events: int
    attached_to: tuple[str, ...]  # uids of existing jobs that gained S3 edges
    session_jobs: tuple[str, ...]  # uids of the proxy-session jobs created


async def ingest_daemon_events(ctx: RoarContext) -> IngestSummary:
    from roar.proxy.ingest import events_path, read_events

    source = events_path(ctx.project.root)
    if not source.exists():
        return IngestSummary(0, (), ())
    claimed = source.with_name(f"{source.name}.{int(time.time())}.ingesting")
    os.replace(source, claimed)
    events = read_events(claimed)
    by_job: dict[str, list[S3Event]] = defaultdict(list)
    by_session: dict[str, list[S3Event]] = defaultdict(list)
    attached: list[str] = []
    created: list[str] = []
    async with ctx.store() as store:
        for event in events:
            if event.job_id:
                by_job[event.job_id].append(event)
            else:
                by_session[event.session_id or "daemon"].append(event)
        for job_uid, job_events in by_job.items():
            inputs, outputs, _ = s3_edges(job_events)
            try:
                await store.add_edges(job_uid, inputs, outputs)
                attached.append(job_uid)
            except NotFoundError:
                by_session["unknown-job"].extend(job_events)
        for session, session_events in by_session.items():
            inputs, outputs, deleted = s3_edges(session_events)
            if not inputs and not outputs and not deleted:
                continue
            stamps = [e.timestamp for e in session_events]
            command = f"roar proxy (session {session})"
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
            created.append(uid)
    os.replace(claimed, claimed.with_suffix(".ingested"))
    return IngestSummary(len(events), tuple(attached), tuple(created))
