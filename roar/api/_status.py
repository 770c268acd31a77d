"""The state of the active session (what `roar status` shows): git readiness, steps, and whether
each artifact of the current DAG is still on disk as its newest job left it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio

from roar.api._queries import current_dag
from roar.core.context import RoarContext
from roar.core.git import GitState, read_git_state, run_git
from roar.hashing import Hasher
from roar.models import RAY_WORKER_TRACER
from roar.store import Store, StoredSession


async def session_status(ctx: RoarContext, *, untracked_dirs: bool = False) -> dict[str, Any]:
    """The ``roar status --json`` document (``untracked_dirs``: also the output directories a
    clean checkout would not recreate)."""
    git = GitState()
    latest = None
    job_count = 0

    async def ask_git() -> None:
        nonlocal git
        git = await read_git_state(ctx.project.root, ctx.project.roar_dir)

    # git and the store answer at the same time: status is asked often and should feel instant.
    async with anyio.create_task_group() as tg:
        tg.start_soon(ask_git)
        async with ctx.store() as store:
            session = await store.active_session()
            registrations: list[dict[str, object]] = []
            if session is not None:
                registrations = await store.publications(session.id)
                job_count = await store.session_job_count(session.id)
                newest = await store.recent_jobs(1, with_edges=False, metadata_keys=())
                latest = newest[-1] if newest else None
            view = await current_dag(store, show_artifacts=True)
            # Steps run on a Ray cluster (`ray job submit`) left their files there, not here.
            cluster_jobs = await _cluster_job_uids(store, session)
            on_cluster_steps = {n.step_number for n in view.nodes if n.job_uid in cluster_jobs}
            on_disk = {
                a.path: ctx.project.absolute(a.path)
                for a in view.artifacts
                if not a.path.startswith("s3://")
            }
            # The hash cache answers for every file unchanged since roar last hashed it.
            digests = await Hasher(store).hash_many(on_disk.values())

    present: list[str] = []
    missing: list[str] = []
    modified: list[str] = []
    on_cluster: list[str] = []
    checked: set[str] = set()
    for artifact in view.artifacts:
        path = on_disk.get(artifact.path)
        if path is None or artifact.path in checked:
            continue
        checked.add(artifact.path)
        # A path is compared with what the newest job that wrote it left there.
        expected = artifact.superseded_by or artifact.hash
        result = digests[path]
        if result.error and artifact.producer_step in on_cluster_steps:
            on_cluster.append(artifact.path)
        elif result.error:
            missing.append(artifact.path)
        elif result.digests["blake3"] == expected:
            present.append(artifact.path)
        else:
            modified.append(artifact.path)

    loose_dirs: list[str] = []
    if untracked_dirs and git.repo:
        code, out = await run_git(Path(git.repo), "ls-files", "-z")
        tracked_dirs = {os.path.dirname(p) for p in out.split("\0") if p} if code == 0 else set()
        tracked_dirs |= {os.path.dirname(d) for d in list(tracked_dirs)}
        for artifact in view.artifacts:
            path = ctx.project.absolute(artifact.path)
            rel_dir = os.path.dirname(os.path.relpath(path, git.repo))
            if rel_dir and not rel_dir.startswith("..") and rel_dir not in tracked_dirs:
                loose_dirs.append(rel_dir)
        loose_dirs = sorted(set(loose_dirs))

    builds = sum(1 for n in view.nodes if n.is_build)
    payload = {
        "session_hash": session.hash if session else None,
        "git": {
            "repo": git.repo,
            "commit": git.commit,
            "branch": git.branch,
            "dirty": git.dirty,
            "changed_paths": list(git.changed_paths),
            "ready": bool(git.commit) and not git.dirty,
        },
        "steps": {
            "total": view.total_steps,
            "build": builds,
            "run": view.total_steps - builds,
            "stale": view.stale_count,
            "jobs": job_count,
        },
        "latest_job": None
        if latest is None
        else {
            "step_ref": latest.step_ref,
            "job_uid": latest.job_uid,
            "command": latest.command,
            "exit_code": latest.exit_code,
            "started_at": latest.started_at,
        },
        "artifacts": {
            "present": present,
            "missing": missing,
            "modified": modified,
            "on_cluster": on_cluster,
        },
        "untracked_dirs": loose_dirs,
        "registrations": registrations,
    }
    return payload


async def _cluster_job_uids(store: Store, session: StoredSession | None) -> set[str]:
    """The jobs of Ray tasks that ran on a cluster (their tracer is the worker agent)."""
    if session is None:
        return set()
    jobs = await store.session_jobs(session.id, with_edges=False, metadata_keys=())
    return {j.job_uid for j in jobs if j.tracer == RAY_WORKER_TRACER}
