"""`roar register`: publish a lineage to a registry (the protocol's session flow).

What goes: the jobs a target covers (the active session; a session; a job or an artifact with
everything upstream of it), each session they belong to, every artifact they read or wrote, and
the edges. Before anything leaves the machine, commands, metadata and git URLs pass through the
secret filter (``registration.omit.enabled``, on by default); the caller decides what to do when
it changed something. Calls, in an order that keeps references valid: sessions, jobs, artifacts,
then inputs and outputs per job (at most 100 a call). Registering the same lineage again is a
no-op on the server (its inserts are idempotent).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from roar.core.context import RoarContext
from roar.models import FileDigest, Job
from roar.recording.secrets import redact_argv, redact_env, redact_text
from roar.registry._wire import wire_artifact, wire_job, wire_link

LINKS_PER_CALL = 100
JOBS_PER_CALL = 500


@dataclass
class Publication:
    """What `roar register` would send: per session, its git state and jobs; the artifacts."""

    sessions: dict[str, dict[str, Any]]
    jobs: dict[str, list[tuple[Job, dict[str, Any]]]]
    artifacts: list[tuple[FileDigest, str]]  # each with the first session that has it
    redactions: list[str] = field(default_factory=list)  # what the secret filter changed

    @property
    def job_count(self) -> int:
        return sum(len(j) for j in self.jobs.values())


def prepare(ctx: RoarContext, jobs: list[Job]) -> Publication:
    """The payloads for ``jobs``, secrets filtered (pure, apart from reading the config)."""
    filtering = ctx.config.get_bool("registration.omit.enabled")
    sessions: dict[str, dict[str, Any]] = {}
    by_session: dict[str, list[tuple[Job, dict[str, Any]]]] = defaultdict(list)
    artifacts: dict[str, tuple[FileDigest, str]] = {}
    redactions: list[str] = []
    for job in jobs:
        command, metadata, remote = job.command, dict(job.metadata), job.git.remote_url
        if filtering:
            command = " ".join(redact_argv(job.argv)) if job.argv else redact_text(command)
            metadata = _filtered(metadata)
            remote = redact_text(remote) if remote else remote
            clean_job = Job(**{**_fields(job), "env": redact_env(job.env)})
            if command != job.command:
                redactions.append(f"{job.step_ref} command")
            if metadata != job.metadata:
                redactions.append(f"{job.step_ref} metadata")
            if clean_job.env != job.env:
                redactions.append(f"{job.step_ref} variables")
            job = clean_job
        if remote != job.git.remote_url:
            redactions.append(f"{job.step_ref} git remote")
        git = {**_fields(job.git), "remote_url": remote}
        job = Job(**{**_fields(job), "git": type(job.git)(**git)})
        sessions.setdefault(
            job.session_hash,
            {
                "hash": job.session_hash,
                "git_repo": remote,
                "git_commit": job.git.commit,
                "git_branch": job.git.branch,
            },
        )
        by_session[job.session_hash].append(
            (job, wire_job(job, session_hash=job.session_hash, command=command, metadata=metadata))
        )
        for f in [*job.inputs, *job.outputs]:
            artifacts.setdefault(f.hash, (f, job.session_hash))
    return Publication(sessions, dict(by_session), list(artifacts.values()), redactions)


async def publish(client: Any, publication: Publication) -> dict[str, int]:
    """Send ``publication``; returns counts of what the server created."""
    await client.get("/api/v1/health")
    counts = {"sessions": 0, "jobs": 0, "artifacts": 0, "links": 0}
    for digest, session in publication.sessions.items():
        answer = await client.post("/api/v1/sessions", session)
        counts["sessions"] += 1 if isinstance(answer, dict) and answer.get("created") else 0
        jobs = [payload for _, payload in publication.jobs[digest]]
        for start in range(0, len(jobs), JOBS_PER_CALL):
            await client.post(
                f"/api/v1/sessions/{digest}/jobs/batch",
                {"jobs": jobs[start : start + JOBS_PER_CALL]},
            )
        counts["jobs"] += len(jobs)
    payloads = [wire_artifact(f, session) for f, session in publication.artifacts]
    for start in range(0, len(payloads), JOBS_PER_CALL):
        answer = await client.post(
            "/api/v1/artifacts/batch", {"artifacts": payloads[start : start + JOBS_PER_CALL]}
        )
        if isinstance(answer, dict):
            counts["artifacts"] += int(answer.get("created") or 0)
    for digest, jobs_here in publication.jobs.items():
        for job, _ in jobs_here:
            for side, files in (("inputs", job.inputs), ("outputs", job.outputs)):
                links = [wire_link(f) for f in files]
                for start in range(0, len(links), LINKS_PER_CALL):
                    await client.post(
                        f"/api/v1/sessions/{digest}/jobs/{job.job_uid}/{side}",
                        {"artifacts": links[start : start + LINKS_PER_CALL]},
                    )
                counts["links"] += len(links)
    return counts


def _fields(struct: Any) -> dict[str, Any]:
    import msgspec

    return (
        {name: getattr(struct, name) for name in struct.__struct_fields__}
        if isinstance(struct, msgspec.Struct)
        else {}
    )


# A version pin ("2.40.0", "1:1.2.13.dfsg-1", "v3"): never a secret, even under a name that
# looks like one (the google-auth package, python-keycloak...), as the reference rules it.
_VERSION_PIN = re.compile(r"^(?:\d+:)?v?\d+(?:\.\d+)*(?:[.+\-~][0-9A-Za-z.+\-~]*)?$")


def _filtered(value: Any) -> Any:
    """Metadata with credential-looking strings redacted, credential-named keys hidden."""
    from roar.recording.secrets import REDACTED, is_credential_name

    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if isinstance(k, str)
                and is_credential_name(k)
                and isinstance(v, str)
                and not _VERSION_PIN.match(v)
                else _filtered(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_filtered(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def describe(publication: Publication) -> str:
    return (
        f"{publication.job_count} job(s) in {len(publication.sessions)} session(s), "
        f"{len(publication.artifacts)} artifact(s)"
    )
