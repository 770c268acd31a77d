"""Jobs and artifacts as the GLaaS protocol carries them, both ways (pure functions).

The protocol's job object has ``command``, ``timestamp``, ``job_uid``, ``git_commit``,
``git_branch``, ``duration_seconds``, ``exit_code``, ``job_type``, ``step_number`` and ``metadata``
(a JSON *string*). What roar needs beyond that to re-run a job (argv, working directory, the
variables it was given, the git remote, the tracer) travels inside ``metadata`` under ``"roar"``:
other clients ignore it, roar reads it back. The reproduction DAG (``GET /artifacts/{h}/dag``)
returns jobs in camelCase with ``inputs``/``outputs`` lists of ``{hash, path, size}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from roar.models import Composite, FileDigest, GitInfo, Job


def wire_job(
    job: Job, *, session_hash: str, command: str, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """The job object `roar register` sends (``command``/``metadata`` already secret-filtered)."""
    extras = {
        "argv": job.argv,
        "cwd": job.cwd,
        "env": job.env,
        "git_remote": job.git.remote_url,
        "git_dirty": job.git.dirty,
        "tracer": job.tracer,
        "step_identity": job.step_identity,
        "signal": job.signal,
    }
    return {
        "job_uid": job.job_uid,
        "session_hash": session_hash,
        "command": command,
        "timestamp": job.started_at,
        "git_commit": job.git.commit,
        "git_branch": job.git.branch,
        "duration_seconds": job.duration_seconds,
        "exit_code": job.exit_code,
        "job_type": job.job_type,
        "step_number": job.step_number,
        "metadata": json.dumps({**metadata, "roar": extras}, sort_keys=True),
    }


def wire_artifact(f: FileDigest, session_hash: str) -> dict[str, Any]:
    """An entry of ``POST /artifacts/batch``."""
    hashes = [{"algorithm": alg, "digest": digest} for alg, digest in sorted(f.hashes.items())]
    if not any(h["algorithm"] == "blake3" for h in hashes) and not f.hash.startswith("etag:"):
        hashes.append({"algorithm": "blake3", "digest": f.hash})
    source_type = f.path.split("://", 1)[0] if "://" in f.path else None
    return {
        "hashes": hashes,
        "size": f.size,
        "source_type": source_type,
        "session_hash": session_hash,
        "metadata": json.dumps({"source_url": f.path}) if source_type else None,
    }


def wire_composite(c: Composite, session_hash: str | None) -> dict[str, Any]:
    """The body of ``POST /artifacts/composites``: a dataset and its components."""
    source_type = c.path.split("://", 1)[0] if "://" in c.path else None
    body: dict[str, Any] = {
        "hash": c.hash,
        "hashes": [{"algorithm": "composite-blake3", "digest": c.hash}],
        "size": c.size,
        "source_type": source_type,
        "metadata": json.dumps({"path": c.path}),
        "component_count_total": len(c.components),
        "components": [
            {
                "relative_path": part.relpath,
                "leaf_kind": "file",
                "component_algorithm": "blake3",
                "component_digest": part.hash,
                "component_size": part.size,
                "component_type": "file",
            }
            for part in c.components
        ],
    }
    if session_hash is not None:
        body["session_hash"] = session_hash
    return body


def wire_link(f: FileDigest) -> dict[str, Any]:
    """An entry of ``POST /sessions/{h}/jobs/{uid}/inputs|outputs``."""
    link: dict[str, Any] = {"hash": f.hash, "path": f.path, "size": f.size}
    if f.byte_ranges:
        link["byte_ranges"] = [list(r) for r in f.byte_ranges]
    return link


def job_from_dag(entry: Mapping[str, Any], git_repo: str | None) -> Job:
    """A :class:`Job` from a reproduction-DAG job (camelCase, or the snake_case it was sent in)."""

    def pick(*names: str, default: Any = None) -> Any:
        for name in names:
            if name in entry and entry[name] is not None:
                return entry[name]
        return default

    raw = pick("metadata", default="{}")
    try:
        metadata = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError):
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    extras = metadata.pop("roar", {}) if isinstance(metadata.get("roar"), dict) else {}
    command = str(pick("command", default=""))
    argv = extras.get("argv") or command.split()
    return Job(
        job_uid=str(pick("jobUid", "job_uid", "uid", default="")),
        step_number=int(pick("stepNumber", "step_number", default=0)),
        job_type=str(pick("jobType", "job_type", default="run")),
        command=command,
        argv=[str(a) for a in argv],
        cwd=str(extras.get("cwd") or "."),
        started_at=float(pick("timestamp", default=0.0)),
        duration_seconds=float(pick("durationSeconds", "duration_seconds", default=0.0)),
        exit_code=pick("exitCode", "exit_code"),
        signal=extras.get("signal"),
        git=GitInfo(
            commit=pick("gitCommit", "git_commit"),
            branch=pick("gitBranch", "git_branch"),
            dirty=extras.get("git_dirty"),
            repo=None,
            remote_url=extras.get("git_remote") or git_repo,
        ),
        inputs=[_file(f) for f in pick("inputs", default=[])],
        outputs=[_file(f) for f in pick("outputs", default=[])],
        session_hash=str(pick("sessionHash", "session_hash", default="")),
        step_identity=str(extras.get("step_identity") or ""),
        tracer=extras.get("tracer"),
        env={str(k): str(v) for k, v in (extras.get("env") or {}).items()},
        metadata=metadata,
    )


def _file(entry: Mapping[str, Any]) -> FileDigest:
    digest = str(entry.get("hash") or "")
    ranges = tuple(
        (int(a), int(b)) for a, b in entry.get("byte_ranges") or entry.get("byteRanges") or []
    )
    return FileDigest(
        path=str(entry.get("path") or digest),
        hash=digest,
        size=int(entry.get("size") or 0),
        hashes={"blake3": digest} if len(digest) == 64 else {},
        byte_ranges=ranges,
    )
