"""The current DAG: a pure projection of a session's jobs.

History is never deleted; this view answers "what is true now". Per step number the latest
execution represents the step. A step depends on an earlier step whose representative produced
something it consumed (same content, else same path). A step is stale when a path it read has since
been re-produced with other content, and everything downstream of a stale step is stale too.
Linear in the number of recorded edges.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

import msgspec

from roar.models import Job

K = TypeVar("K", bound=Hashable)


class NodeMetrics(msgspec.Struct, frozen=True):
    inputs: int
    outputs: int
    consumed: int


class DagNode(msgspec.Struct, frozen=True, kw_only=True):
    step_number: int
    job_uid: str
    command: str
    state: str  # active | stale | superseded
    is_build: bool
    exit_code: int | None
    metrics: NodeMetrics
    dependencies: list[int]
    labels: dict[str, object] = {}
    step_name: str | None = None
    started_at: float = 0.0


class DagArtifact(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    hash: str
    size: int
    state: str  # active | stale | superseded | orphaned
    is_stale: bool
    producer_step: int
    consumer_steps: list[int]
    is_terminal: bool
    superseded_by: str | None = None
    labels: dict[str, object] = {}


class DagView(msgspec.Struct, frozen=True, kw_only=True):
    nodes: list[DagNode]
    artifacts: list[DagArtifact]
    total_steps: int
    stale_count: int
    session_id: str | None
    is_expanded: bool
    stale_artifact_count: int
    superseded_artifact_count: int
    labels: dict[str, object] = {}


class LabelSet(msgspec.Struct, frozen=True, kw_only=True):
    """Current label documents of a session, its jobs (by uid) and artifacts (by BLAKE3)."""

    session: dict[str, object] = {}
    jobs: dict[str, dict[str, object]] = {}
    artifacts: dict[str, dict[str, object]] = {}


def latest_execution(jobs: Iterable[Job], key: Callable[[Job], K]) -> dict[K, Job]:
    """The latest execution of each step, the step being what ``key`` says (its number, or its
    session and number): the one rule for "which execution of a step counts now"."""
    latest: dict[K, Job] = {}
    for job in jobs:  # a later start replaces an earlier one; on a tie, the later in the list
        current = latest.get(key(job))
        if current is None or job.started_at >= current.started_at:
            latest[key(job)] = job
    return latest


def _representatives(jobs: Sequence[Job]) -> dict[int, Job]:
    return dict(sorted(latest_execution(jobs, lambda j: j.step_number).items()))


def project_dag(
    jobs: Sequence[Job],
    *,
    session_hash: str | None,
    expanded: bool = False,
    show_artifacts: bool = True,
    labels: LabelSet | None = None,
) -> DagView:
    """Project a session's jobs (any order) onto the current DAG.

    Without ``show_artifacts`` only the artifacts of leaf steps (nothing depends on them) are
    listed, as the reference does; ``labels`` are attached to nodes, artifacts and the view.
    """
    labels = labels or LabelSet()
    ordered = sorted(jobs, key=lambda j: j.started_at)
    reps = _representatives(ordered)

    # Who produced what: the same content at the same path first (identical bytes may be written
    # by several steps), then the same content anywhere, then the latest producer of the path.
    producer_by_hash: dict[str, int] = {}
    producer_exact: dict[tuple[str, str], int] = {}
    current_at_path: dict[str, tuple[int, str]] = {}
    for step, job in reps.items():
        for out in job.outputs:
            producer_by_hash.setdefault(out.hash, step)
            producer_exact[(out.path, out.hash)] = step
    for job in ordered:
        if reps.get(job.step_number) is job:
            for out in job.outputs:
                current_at_path[out.path] = (job.step_number, out.hash)

    dependencies: dict[int, set[int]] = defaultdict(set)
    consumers: dict[tuple[int, str], set[int]] = defaultdict(set)  # (producer, hash) -> steps
    consumed_count: dict[int, int] = defaultdict(int)
    directly_stale: set[int] = set()
    for step, job in reps.items():
        for inp in job.inputs:
            producer = producer_exact.get((inp.path, inp.hash))
            if producer is None or producer >= step:
                producer = producer_by_hash.get(inp.hash)
            by_path = current_at_path.get(inp.path)
            if producer is None and by_path is not None:
                producer = by_path[0]
            if producer is None or producer >= step:
                continue
            dependencies[step].add(producer)
            consumers[(producer, inp.hash)].add(step)
            consumed_count[step] += 1
            if by_path is not None and by_path[0] < step and by_path[1] != inp.hash:
                directly_stale.add(step)

    stale: set[int] = set()
    for step in reps:  # ascending: a dependency is always a smaller step number
        if step in directly_stale or any(dep in stale for dep in dependencies[step]):
            stale.add(step)

    nodes: list[DagNode] = []
    executions = ordered if expanded else list(reps.values())
    for job in sorted(executions, key=lambda j: (j.step_number, j.started_at)):
        is_rep = reps[job.step_number] is job
        state = "superseded" if not is_rep else "stale" if job.step_number in stale else "active"
        nodes.append(
            DagNode(
                step_number=job.step_number,
                job_uid=job.job_uid,
                command=job.command,
                state=state,
                is_build=job.job_type == "build",
                exit_code=job.exit_code,
                metrics=NodeMetrics(
                    inputs=len(job.inputs),
                    outputs=len(job.outputs),
                    consumed=consumed_count[job.step_number] if is_rep else 0,
                ),
                dependencies=sorted(dependencies[job.step_number]),
                started_at=job.started_at,
                labels=labels.jobs.get(job.job_uid, {}),
                step_name=_name(labels.jobs.get(job.job_uid, {})),
            )
        )

    has_dependents = {dep for deps in dependencies.values() for dep in deps}
    artifacts: list[DagArtifact] = []
    seen: set[tuple[str, str]] = set()
    for step, job in reps.items():
        if not show_artifacts and step in has_dependents:
            continue
        for out in job.outputs:
            if (out.path, out.hash) in seen:
                continue
            seen.add((out.path, out.hash))
            current = current_at_path.get(out.path)
            superseded_by = current[1] if current and current[1] != out.hash else None
            steps_using = sorted(consumers.get((step, out.hash), ()))
            if step in stale:
                state = "stale"
            elif superseded_by:
                state = "superseded"
            elif not steps_using and step in has_dependents:
                state = "orphaned"
            else:
                state = "active"
            artifacts.append(
                DagArtifact(
                    path=out.path,
                    hash=out.hash,
                    size=out.size,
                    state=state,
                    is_stale=state == "stale",
                    producer_step=step,
                    consumer_steps=steps_using,
                    is_terminal=not steps_using,
                    superseded_by=superseded_by,
                    labels=labels.artifacts.get(out.hash, {}),
                )
            )
    artifacts.sort(key=lambda a: (a.producer_step, a.path))
    return DagView(
        nodes=nodes,
        artifacts=artifacts,
        total_steps=len(reps),
        stale_count=len(stale),
        session_id=session_hash,
        is_expanded=expanded,
        stale_artifact_count=sum(a.state == "stale" for a in artifacts),
        superseded_artifact_count=sum(a.state == "superseded" for a in artifacts),
        labels=labels.session,
    )


def _name(document: dict[str, object]) -> str | None:
    name = document.get("name")
    return name if isinstance(name, str) else None
