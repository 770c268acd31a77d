"""The server-authoritative hash of a published session (pure).

The SHA-256 of compact, sorted-key JSON of what the lineage *is*: who published it and how
visibly, its git state, and each job's command, type, step, metadata and edges (deduplicated per
content hash, the smallest path kept; lists sorted). Timestamps and job uids stay out, so the
same lineage registered twice is the same session, and a different one never is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any


def _edges(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    smallest: dict[str, str] = {}
    for entry in entries:
        digest, path = str(entry["hash"]), str(entry.get("path") or "")
        if digest not in smallest or path < smallest[digest]:
            smallest[digest] = path
    return [{"hash": h, "path": p} for h, p in sorted(smallest.items())]


def session_hash(
    git: Mapping[str, str | None],
    jobs: Iterable[Mapping[str, Any]],
    creator: str,
    visibility: str,
) -> str:
    canonical_jobs = sorted(
        (
            {
                "command": job["command"],
                "job_type": job.get("jobType") or "run",
                "step_number": job.get("stepNumber"),
                "metadata": job.get("metadata") or "{}",
                "inputs": _edges(job.get("inputs") or []),
                "outputs": _edges(job.get("outputs") or []),
            }
            for job in jobs
        ),
        key=lambda j: (j["step_number"] or 0, json.dumps(j, sort_keys=True)),
    )
    document = {
        "canonical_version": 1,
        "creator_identity": creator,
        "visibility": visibility,
        "git": {k: git.get(f"git_{k}") or "" for k in ("repo", "commit", "branch")},
        "jobs": canonical_jobs,
    }
    blob = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
