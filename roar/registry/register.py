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

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from roar.core.context import RoarContext
from roar.models import Composite, FileDigest, Job
from roar.registry._wire import wire_artifact, wire_composite, wire_job, wire_link
from roar.registry.client import RegistryError
from roar.registry.omit import Omit

LINKS_PER_CALL = 100
JOBS_PER_CALL = 500


@dataclass
class Publication:
    """What `roar register` would send: per session, its git state and jobs; the artifacts."""

    sessions: dict[str, dict[str, Any]]
    jobs: dict[str, list[tuple[Job, dict[str, Any]]]]
    artifacts: list[tuple[FileDigest, str]]  # each with the first session that has it
    redactions: list[str] = field(default_factory=list)  # what the secret filter changed
    omit: Omit = field(default_factory=Omit)  # the filter, for what is sent later (labels)
    composites: dict[str, list[Composite]] = field(default_factory=dict)  # per session

    @property
    def job_count(self) -> int:
        return sum(len(j) for j in self.jobs.values())


def prepare(ctx: RoarContext, jobs: list[Job]) -> Publication:
    """The payloads for ``jobs``, secrets filtered (pure, apart from reading the config)."""
    filtering = ctx.config.get_bool("registration.omit.enabled")
    base_omit = Omit.from_config(ctx.config) if filtering else Omit()
    sessions: dict[str, dict[str, Any]] = {}
    by_session: dict[str, list[tuple[Job, dict[str, Any]]]] = defaultdict(list)
    artifacts: dict[str, tuple[FileDigest, str]] = {}
    redactions: list[str] = []
    for job in jobs:
        command, metadata, remote = job.command, dict(job.metadata), job.git.remote_url
        if filtering:
            omit = base_omit.with_env(job.env)
            command = omit.argv(job.argv) if job.argv else omit.text(command)
            metadata = _filtered(metadata, omit)
            remote = omit.text(remote) if remote else remote
            clean_job = Job(**{**_fields(job), "env": omit.env(job.env)})
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
    return Publication(sessions, dict(by_session), list(artifacts.values()), redactions, base_omit)


@dataclass
class Outcome:
    """What a registration did: counts, and where each local session was published."""

    flow: str  # "registration-session" or "legacy"
    jobs: int = 0
    artifacts: int = 0  # new on the server
    links: int = 0
    labels: int = 0
    published: dict[str, str] = field(default_factory=dict)  # local session hash -> remote
    urls: dict[str, str] = field(default_factory=dict)


Labels = dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]]


def remote_job_uid(session_hash: str, job_uid: str) -> str:
    """A job's uid within a registration session, as the protocol derives it."""
    return hashlib.sha256(f"{session_hash.lower()}\0{job_uid}".encode()).hexdigest()[:32]


def scope_request(scope: str) -> dict[str, Any] | None:
    if scope == "anonymous":
        return None
    return {"owner_resolution": "current_user", "owner_type": "user", "visibility": scope}


async def publish(
    client: Any, publication: Publication, *, scope: str = "anonymous", labels: Labels | None = None
) -> Outcome:
    """Send ``publication``: through registration sessions when the registry offers them to
    this caller (signed in, or anonymous ones allowed), else the legacy session calls."""
    health = await client.get("/api/v1/health")
    features = (health.get("features") or {}) if isinstance(health, dict) else {}
    staged = features.get("registration_sessions") or {}
    signed_in = client.credentials.kind != "none"
    if scope != "anonymous" and not signed_in:
        raise RegistryError(
            f"a {scope} registration needs a registry identity: roar login (or roar auth key)"
        )
    if isinstance(staged, dict) and (staged.get("anonymous_public") or (signed_in and staged)):
        return await _publish_staged(client, publication, scope, labels or {})
    return await _publish_legacy(client, publication, scope)


async def _publish_legacy(client: Any, publication: Publication, scope: str) -> Outcome:
    outcome = Outcome("legacy")
    for digest, session in publication.sessions.items():
        body = dict(session)
        if (request := scope_request(scope)) is not None:
            body["scope_request"] = request
        answer = await client.post("/api/v1/sessions", body)
        for composite in publication.composites.get(digest, []):
            await client.post("/api/v1/artifacts/composites", wire_composite(composite, digest))
        outcome.published[digest] = digest
        if isinstance(answer, dict) and answer.get("url"):
            outcome.urls[digest] = str(answer["url"])
        jobs = [payload for _, payload in publication.jobs[digest]]
        for start in range(0, len(jobs), JOBS_PER_CALL):
            await client.post(
                f"/api/v1/sessions/{digest}/jobs/batch",
                {"jobs": jobs[start : start + JOBS_PER_CALL]},
            )
        outcome.jobs += len(jobs)
    payloads = [wire_artifact(f, session) for f, session in publication.artifacts]
    for start in range(0, len(payloads), JOBS_PER_CALL):
        answer = await client.post(
            "/api/v1/artifacts/batch", {"artifacts": payloads[start : start + JOBS_PER_CALL]}
        )
        if isinstance(answer, dict):
            outcome.artifacts += int(answer.get("created") or 0)
    for digest, jobs_here in publication.jobs.items():
        for job, _ in jobs_here:
            outcome.links += await _link(
                client, f"/api/v1/sessions/{digest}/jobs/{job.job_uid}", job
            )
    return outcome


async def _link(client: Any, base: str, job: Job) -> int:
    count = 0
    for side, files in (("inputs", job.inputs), ("outputs", job.outputs)):
        links = [wire_link(f) for f in files]
        for start in range(0, len(links), LINKS_PER_CALL):
            await client.post(
                f"{base}/{side}", {"artifacts": links[start : start + LINKS_PER_CALL]}
            )
        count += len(links)
    return count


async def _publish_staged(
    client: Any, publication: Publication, scope: str, labels: Labels
) -> Outcome:
    """The registration-session flow, one registration session per local session: stage the
    jobs, the artifacts and the edges, then finalize; the registry answers with the hash it
    published the lineage under (the same lineage again lands on the same one)."""
    outcome = Outcome("registration-session")
    signed_in = client.credentials.kind != "none"
    for digest, session in publication.sessions.items():
        body: dict[str, Any] = {"client_session_id": f"roar-{digest}"}
        if not signed_in:
            body["mode"] = "anonymous_public"
        opened = await client.post("/api/v1/registration-sessions", body)
        base = f"/api/v1/registration-sessions/{opened['registration_session_id']}"
        client.credentials.registration_token = opened.get("registration_session_token")
        try:
            for composite in publication.composites.get(digest, []):
                await client.post(f"{base}/artifacts/composites", wire_composite(composite, None))
            jobs_here = publication.jobs[digest]
            uid = {job.job_uid: remote_job_uid(digest, job.job_uid) for job, _ in jobs_here}
            jobs = [{**payload, "job_uid": uid[job.job_uid]} for job, payload in jobs_here]
            for start in range(0, len(jobs), JOBS_PER_CALL):
                await client.post(
                    f"{base}/jobs/batch", {"jobs": jobs[start : start + JOBS_PER_CALL]}
                )
            outcome.jobs += len(jobs)
            # Every artifact these jobs touch, wherever it was first seen.
            touched = {f.hash for job, _ in jobs_here for f in [*job.inputs, *job.outputs]}
            entries = [
                wire_artifact(f, digest) for f, _ in publication.artifacts if f.hash in touched
            ]
            for entry in entries:
                entry.pop("session_hash", None)
            for start in range(0, len(entries), JOBS_PER_CALL):
                answer = await client.post(
                    f"{base}/artifacts/batch", {"artifacts": entries[start : start + JOBS_PER_CALL]}
                )
                if isinstance(answer, dict):
                    outcome.artifacts += int(answer.get("created") or 0)
            for job, _ in jobs_here:
                outcome.links += await _link(client, f"{base}/jobs/{uid[job.job_uid]}", job)
            final: dict[str, Any] = {
                "git_repo": session.get("git_repo") or "",
                "git_commit": session.get("git_commit"),
                "git_branch": session.get("git_branch"),
                "expected": {
                    "jobs": len(jobs_here),
                    "inputs": sum(len({f.hash for f in job.inputs}) for job, _ in jobs_here),
                    "outputs": sum(len({f.hash for f in job.outputs}) for job, _ in jobs_here),
                },
            }
            if (request := scope_request(scope)) is not None:
                final["scope_request"] = request
            done = await client.post(f"{base}/finalize", final)
            published = str(
                done.get("published_session_hash")
                or done.get("lineage_published_session_hash")
                or done.get("session_hash")
                or done.get("hash")
            )
            outcome.published[digest] = published
            url = done.get("published_url") or done.get("url")
            if url:
                outcome.urls[digest] = str(url)
            if digest in labels:
                outcome.labels += await _send_labels(
                    client, base, published, labels[digest], uid, publication.omit
                )
        finally:
            client.credentials.registration_token = None
    return outcome


async def _send_labels(
    client: Any,
    base: str,
    published: str,
    documents: tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
    uid: dict[str, str],
    omit: Omit,
) -> int:
    session_doc, job_docs, artifact_docs = documents
    entries: list[dict[str, Any]] = []

    def add(entity: str, document: dict[str, Any], **target: str) -> None:
        if document:
            filtered = _filtered(document, omit)
            entries.append(
                {
                    "entity_type": entity,
                    "session_hash": published,
                    **target,
                    "metadata": filtered,
                    "key_origins": {key: "user" for key in filtered},
                }
            )

    add("dag", session_doc)
    for job_uid, document in job_docs.items():
        if job_uid in uid:
            add("job", document, job_uid=uid[job_uid])
    for digest, document in artifact_docs.items():
        add("artifact", document, artifact_hash=digest)
    if not entries:
        return 0
    await client.post(f"{base}/labels/batch", {"labels": entries})
    return len(entries)


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


def _filtered(value: Any, omit: Omit) -> Any:
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
                else _filtered(v, omit)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_filtered(v, omit) for v in value]
    if isinstance(value, str):
        return omit.text(value)
    return value


def describe(publication: Publication) -> str:
    return (
        f"{publication.job_count} job(s) in {len(publication.sessions)} session(s), "
        f"{len(publication.artifacts)} artifact(s)"
    )


async def session_labels(store: Any, session_hashes: set[str]) -> Labels:
    """The current label documents of each session, its jobs and its artifacts."""
    found: Labels = {}
    for digest in session_hashes:
        sessions = await store.sessions_by_hash_prefix(digest)
        exact = [s for s in sessions if s.hash == digest]
        if exact:
            found[digest] = await store.session_label_documents(exact[0].id)
    return found


async def session_composites(store: Any, jobs: list[Job]) -> dict[str, list[Composite]]:
    """The datasets (composites) the jobs read or wrote whole, per session, each once."""
    found: dict[str, dict[str, Composite]] = {}
    for job in jobs:
        for composite in await store.job_composites(job.job_uid):
            found.setdefault(job.session_hash, {}).setdefault(composite.hash, composite)
    return {session: list(by_hash.values()) for session, by_hash in found.items()}
