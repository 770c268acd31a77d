"""Planning a reproduction: pure functions from recorded jobs to an ordered recipe.

Tracing up from an artifact, each input is attributed to the *latest* job that wrote that content
before the consumer started (the same path preferred), so a re-run that happened later never
replaces the execution whose output was actually consumed. The build jobs of the sessions involved
come along, because builds set up what the run steps need. Steps run builds first, then run
steps, each group in dependency order with step numbers breaking ties.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from roar.lineage.dag import latest_execution
from roar.models import Job
from roar.reproduce._checklist import evaluate_checklist, is_local_remote
from roar.reproduce._model import (
    CodeState,
    Lineage,
    PatchRef,
    Plan,
    PlannedStep,
    RemoteFacts,
    Requirements,
    StepInput,
)

# Put jobs are not replayed: uploading again is a side effect, not a way to recreate a file.
REPLAYABLE = ("run", "build", "get")


def _producers_index(jobs: Iterable[Job]) -> dict[str, list[tuple[Job, str]]]:
    index: dict[str, list[tuple[Job, str]]] = defaultdict(list)
    for job in jobs:
        for out in job.outputs:
            index[out.hash].append((job, out.path))
    return index


def _order_key(job: Job) -> tuple[float, int]:
    return (job.started_at, job.step_number)


def producer_before(
    index: dict[str, list[tuple[Job, str]]], digest: str, path: str, consumer: Job
) -> Job | None:
    """The latest job that wrote ``digest`` before ``consumer`` started (same path first)."""
    candidates = [
        (job, out_path)
        for job, out_path in index.get(digest, [])
        if job.job_uid != consumer.job_uid and job.started_at <= consumer.started_at
    ]
    if not candidates:
        return None
    same_path = [c for c in candidates if c[1] == path]
    pool = same_path or candidates
    return max(pool, key=lambda c: _order_key(c[0]))[0]


# In a folded job's metadata (never stored): see cluster_outputs.
CLUSTER_OUTPUTS = "ray_cluster_outputs"


def ray_parent(job: Job) -> str | None:
    """The uid of the job whose script ran this Ray task (None for any other job)."""
    ray = job.metadata.get("ray") if job.job_type == "ray_task" else None
    parent = ray.get("parent_job_uid") if isinstance(ray, dict) else None
    return str(parent) if parent else None


def fold_ray_tasks(jobs: Sequence[Job]) -> list[Job]:
    """Ray tasks folded into the job that ran their script: a task is not a command of its own,
    re-running the script re-runs it. The script's job takes on what its tasks wrote, and what
    they read that none of them (nor it) wrote. Tasks whose script job is absent are dropped."""
    present = {j.job_uid for j in jobs}
    tasks_of: dict[str, list[Job]] = {}
    for job in jobs:
        parent = ray_parent(job)
        if parent in present:
            tasks_of.setdefault(str(parent), []).append(job)
    folded: list[Job] = []
    for job in jobs:
        if job.job_type == "ray_task":
            continue
        tasks = sorted(tasks_of.get(job.job_uid, []), key=lambda t: t.started_at)
        if tasks:
            on_cluster = sorted({f.path for t in tasks if _on_cluster(t) for f in t.outputs})
            outputs = {f.path: f for f in job.outputs}
            for task in tasks:
                outputs.update({f.path: f for f in task.outputs})
            made = {f.hash for f in outputs.values()}
            inputs = {f.path: f for f in job.inputs}
            for task in tasks:
                for f in task.inputs:
                    if f.hash not in made:
                        inputs.setdefault(f.path, f)
            job = msgspec.structs.replace(
                job,
                inputs=sorted(inputs.values(), key=lambda f: f.path),
                outputs=sorted(outputs.values(), key=lambda f: f.path),
                metadata={**job.metadata, CLUSTER_OUTPUTS: on_cluster},
            )
        folded.append(job)
    return folded


def _on_cluster(task: Job) -> bool:
    ray = task.metadata.get("ray")
    return isinstance(ray, dict) and bool(ray.get("on_cluster"))


def cluster_outputs(job: Job) -> frozenset[str]:
    """The outputs of a folded job that its Ray tasks wrote on a cluster (`ray job submit`):
    they land in Ray's copy of the working dir, never in the project a replay looks in."""
    paths = job.metadata.get(CLUSTER_OUTPUTS)
    return frozenset(str(p) for p in paths) if isinstance(paths, list) else frozenset()


def artifact_closure(
    jobs: Sequence[Job], digest: str, producer_uid: str | None = None
) -> list[Job]:
    """The jobs needed to recreate ``digest``: its producer and, transitively, the producer of
    each input; plus the build jobs of the sessions involved. Unordered."""
    # Run, build and get jobs are replayed (a get downloads again from its recorded source).
    jobs = [j for j in jobs if j.job_type in REPLAYABLE]
    index = _producers_index(jobs)
    by_uid = {j.job_uid: j for j in jobs}
    start = by_uid.get(producer_uid) if producer_uid else None
    if start is None:
        makers = index.get(digest, [])
        if not makers:
            return []
        start = max(makers, key=lambda c: _order_key(c[0]))[0]
    chosen: dict[str, Job] = {start.job_uid: start}
    todo = [start]
    while todo:
        consumer = todo.pop()
        for inp in consumer.inputs:
            producer = producer_before(index, inp.hash, inp.path, consumer)
            if producer is not None and producer.job_uid not in chosen:
                chosen[producer.job_uid] = producer
                todo.append(producer)
    for build in session_builds(jobs, chosen.values()):
        chosen.setdefault(build.job_uid, build)
    return list(chosen.values())


def session_builds(jobs: Sequence[Job], chosen: Iterable[Job]) -> list[Job]:
    """The latest execution of each build step in the sessions of ``chosen``, among builds that
    started before the last chosen job."""
    chosen = list(chosen)
    if not chosen:
        return []
    sessions = {j.session_hash for j in chosen}
    last = max(j.started_at for j in chosen)
    builds = [
        j
        for j in jobs
        if j.job_type == "build" and j.session_hash in sessions and j.started_at <= last
    ]
    return list(latest_execution(builds, lambda j: (j.session_hash, j.step_number)).values())


def session_closure(jobs: Sequence[Job]) -> list[Job]:
    """A whole session: the latest execution of every step (the current DAG's nodes)."""
    replayable = [j for j in jobs if j.job_type in REPLAYABLE]
    return list(latest_execution(replayable, lambda j: j.step_number).values())


def order_steps(jobs: Sequence[Job]) -> list[Job]:
    """Build jobs first, then run jobs; within each, producers before consumers, ties broken by
    session (oldest first) and step number."""
    session_start: dict[str, float] = {}
    for job in jobs:
        session_start[job.session_hash] = min(
            session_start.get(job.session_hash, job.started_at), job.started_at
        )
    ranks = {h: i for i, h in enumerate(sorted(session_start, key=session_start.__getitem__))}

    def key(job: Job) -> tuple[int, int, int, float, str]:
        return (
            0 if job.job_type == "build" else 1,
            ranks[job.session_hash],
            job.step_number,
            job.started_at,
            job.job_uid,
        )

    index = _producers_index(jobs)
    depends: dict[str, set[str]] = {j.job_uid: set() for j in jobs}
    for job in jobs:
        for inp in job.inputs:
            producer = producer_before(index, inp.hash, inp.path, job)
            if producer is not None and key(producer)[0] == key(job)[0]:
                depends[job.job_uid].add(producer.job_uid)
    by_uid = {j.job_uid: j for j in jobs}
    waiting = {uid: set(deps) for uid, deps in depends.items()}
    dependants: dict[str, list[str]] = defaultdict(list)
    for uid, deps in depends.items():
        for dep in deps:
            dependants[dep].append(uid)
    ready = [(key(by_uid[uid]), uid) for uid, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    ordered: list[Job] = []
    while ready:
        _, uid = heapq.heappop(ready)
        ordered.append(by_uid[uid])
        for nxt in dependants[uid]:
            waiting[nxt].discard(uid)
            if not waiting[nxt]:
                heapq.heappush(ready, (key(by_uid[nxt]), nxt))
    if len(ordered) < len(jobs):  # a cycle cannot come from timestamps, but never drop a step
        placed = {j.job_uid for j in ordered}
        ordered += sorted((j for j in jobs if j.job_uid not in placed), key=key)
    return ordered


def patch_of(job: Job) -> PatchRef | None:
    git = job.metadata.get("git")
    if not isinstance(git, dict):
        return None
    patch = git.get("patch")
    if not isinstance(patch, dict) or not patch.get("hash"):
        return None
    return PatchRef(
        hash=str(patch["hash"]),
        path=str(patch.get("path") or ""),
        tracked_changes=[str(p) for p in patch.get("tracked_changes") or []],
        untracked_files=[str(p) for p in patch.get("untracked_files") or []],
    )


def _packages(job: Job, kind: str) -> dict[str, str]:
    packages = job.metadata.get("packages")
    if not isinstance(packages, dict):
        return {}
    found = packages.get(kind)
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}


def merge_requirements(steps: Sequence[Job]) -> Requirements:
    """pip pins (distributions the steps imported) and dpkg pins, merged in step order: a later
    step's version wins, so run steps override build steps."""
    pip: dict[str, str] = {}
    dpkg: dict[str, str] = {}
    for job in steps:
        pip.update(_packages(job, "pip"))
        dpkg.update(_packages(job, "dpkg"))
    return Requirements(pip=dict(sorted(pip.items())), dpkg=dict(sorted(dpkg.items())))


def python_version(job: Job) -> str | None:
    runtime = job.metadata.get("runtime")
    if not isinstance(runtime, dict):
        return None
    python = runtime.get("python")
    if not isinstance(python, dict):
        return None
    version = python.get("version")
    return str(version) if version else None


def recorded_python(
    steps: Sequence[Job], preferred: Job | None = None
) -> tuple[str | None, list[str]]:
    """(the version to recreate, every version recorded): the target producer's interpreter,
    else the one most steps used."""
    versions = [v for v in (python_version(j) for j in steps) if v]
    distinct = sorted(set(versions))
    if not versions:
        return None, []
    if preferred is not None and python_version(preferred):
        return python_version(preferred), distinct
    return Counter(versions).most_common(1)[0][0], distinct


def external_inputs(steps: Sequence[Job]) -> list[StepInput]:
    """Inputs of the steps that no earlier step of the plan writes, with their recorded source."""
    produced: set[str] = set()
    found: list[StepInput] = []
    seen: set[tuple[str, str]] = set()
    for job in steps:
        sources = job.metadata.get("input_sources")
        sources = sources if isinstance(sources, dict) else {}
        for inp in job.inputs:
            if inp.hash in produced or (inp.path, inp.hash) in seen:
                continue
            seen.add((inp.path, inp.hash))
            source = sources.get(inp.path)
            found.append(
                StepInput(
                    path=inp.path,
                    hash=inp.hash,
                    step_ref=job.step_ref,
                    source=str(source) if source else None,
                )
            )
        produced.update(out.hash for out in job.outputs)
    return found


def map_path(path: str, checkout: str, project_subdir: str, recorded_repo: str | None) -> str:
    """Where a recorded path lies in a checkout of the recorded repository: project-relative
    paths under the project directory, absolute paths inside the recorded repository moved into
    the checkout, other absolute paths unchanged."""
    if not os.path.isabs(path):
        return os.path.normpath(os.path.join(checkout, project_subdir, path))
    if recorded_repo:
        rel = os.path.relpath(path, recorded_repo)
        if rel != ".." and not rel.startswith("../"):
            return os.path.normpath(os.path.join(checkout, rel))
    return path


def _absolute_remote(remote: str | None, repo_path: str | None) -> str | None:
    """A remote recorded as a relative path (``../origin.git``) is relative to the repository."""
    if remote and repo_path and is_local_remote(remote) and not remote.startswith("file://"):
        return os.path.normpath(os.path.join(repo_path, remote))
    return remote


def _first(values: Iterable[Any]) -> Any:
    for value in values:
        if value:
            return value
    return None


def build_plan(lineage: Lineage, facts: RemoteFacts | None = None) -> Plan:
    """The recipe for ``lineage``'s target (pure; facts about the remote come from the caller)."""
    target = lineage.target
    by_uid = {j.job_uid: j for j in lineage.jobs}
    task = by_uid.get(target.producer or "")
    if task is not None and ray_parent(task):
        target = msgspec.structs.replace(target, producer=ray_parent(task))
    jobs = fold_ray_tasks(lineage.jobs)
    if target.kind == "artifact":
        chosen = artifact_closure(jobs, target.hash, target.producer)
    else:
        chosen = session_closure(jobs)
    ordered = order_steps(chosen)
    steps = [
        PlannedStep(
            job=job,
            kind="build" if job.job_type == "build" else "get" if job.job_type == "get" else "run",
            code=CodeState(commit=job.git.commit, patch=patch_of(job)),
        )
        for job in ordered
    ]
    producer = next((j for j in ordered if j.job_uid == target.producer), None)
    # The target's producer speaks for the repository; other steps are checked against it.
    anchor = [producer, *reversed(ordered)] if producer else list(reversed(ordered))
    repo_path = _first(j.git.repo for j in anchor if j)
    remote = _absolute_remote(_first(j.git.remote_url for j in anchor if j), repo_path)
    warnings: list[str] = []
    remotes = sorted({j.git.remote_url for j in ordered if j.git.remote_url})
    if len(remotes) > 1:
        warnings.append(
            f"the steps recorded {len(remotes)} different remotes ({', '.join(remotes)}); "
            f"using {remote}"
        )
    commits = list(dict.fromkeys(j.git.commit for j in ordered if j.git.commit))
    python, versions = recorded_python(ordered, producer)
    if len(versions) > 1:
        warnings.append(f"the steps ran different Pythons ({', '.join(versions)}); using {python}")
    inputs = external_inputs(ordered)
    facts = facts or RemoteFacts()
    return Plan(
        target=target,
        source=lineage.source,
        steps=steps,
        remote_url=remote,
        repo_path=repo_path,
        branch=_first(j.git.branch for j in anchor if j),
        commits=commits,
        project_subdir=lineage.project_subdir,
        python=python,
        python_versions=versions,
        requirements=merge_requirements(ordered),
        external_inputs=inputs,
        checklist=evaluate_checklist(steps, inputs, remote, facts),
        warnings=warnings,
    )


def requirement_lines(requirements: Requirements, *, any_version: bool = False) -> list[str]:
    """pip requirement specifiers: ``name==version`` (or bare names with ``any_version``)."""
    return [
        name if any_version else f"{name}=={version}" for name, version in requirements.pip.items()
    ]


def dpkg_lines(requirements: Requirements, *, any_version: bool = False) -> list[str]:
    """apt-get package arguments: ``name=version`` (or bare names with ``any_version``)."""
    return [
        name if any_version else f"{name}={version}" for name, version in requirements.dpkg.items()
    ]
