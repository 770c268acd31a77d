"""`roar run ray job submit`: the plan made before the command runs, the tasks read after.

Before: the command line is parsed (a malformed runtime env stops here, before anything runs),
the runtime env is extended with roar's worker agent (``ray_runtime_env.py``) and the command is
rewritten to carry it, and a directory is made for the workers' fragments. After the command has
returned (``ray job submit`` waits for the job to end), the fragments are read and grouped into
tasks (``ray_fragments.py``); where the workers could not reach that directory they left them in
the cluster's GCS KV store, and they are fetched from there (``ray_collect.py``): always when the
cluster is not on this machine, and when the driver's report is missing from the directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from roar.core.context import RoarContext
from roar.errors import UsageError
from roar.recording.ray_collect import fetch_from_cluster, is_loopback
from roar.recording.ray_fragments import ClusterTask, Fragment, group_tasks, read_fragment_dir
from roar.recording.ray_runtime_env import (
    WorkerSettings,
    merge_runtime_env,
    observed_entrypoint,
)
from roar.recording.ray_submit import parse_submit, rewrite


@dataclass(frozen=True)
class SubmitPlan:
    """How one `ray job submit` is run under roar, and where its tasks' fragments arrive."""

    run_argv: list[str]  # the command as run: the user's, carrying roar in its runtime env
    run_id: str
    fragments_dir: Path
    host_workdir: str | None  # the uploaded working dir, to map the workers' paths back to
    address: str | None
    fetch_from_kv: bool  # some (or all) fragments may be in the cluster's GCS KV store


def plan_submission(
    ctx: RoarContext, argv: list[str], cwd: Path, scratch: Path, run_id: str
) -> SubmitPlan | None:
    """Parse and rewrite ``argv`` (a `ray job submit`; None for `--help`, which submits
    nothing); makes no directory (see :func:`make_room`), so a usage error leaves nothing
    behind."""
    command = parse_submit(argv, str(cwd))
    if any(name == "--help" for name, _ in command.options):
        return None
    if command.no_wait:
        raise UsageError(
            "roar run cannot record `ray job submit --no-wait`: the job's tasks run after the "
            "command returns; drop --no-wait"
        )
    if not command.entrypoint:
        raise UsageError("ray job submit: no entrypoint (give it after --)")
    fragments_dir = scratch / "ray-fragments"
    address = command.address or os.environ.get("RAY_ADDRESS")
    kv_only = ctx.config.get_str("ray.fragment_transport") == "kv"
    settings = WorkerSettings(
        fragments_dir=None if kv_only else str(fragments_dir),
        run_id=run_id,
        pip_install=ctx.config.get_bool("ray.pip_install"),
    )
    runtime_env = merge_runtime_env(command.runtime_env, settings)
    return SubmitPlan(
        run_argv=rewrite(command, runtime_env, observed_entrypoint(command.entrypoint)),
        run_id=run_id,
        fragments_dir=fragments_dir,
        host_workdir=_host_workdir(command.runtime_env.get("working_dir"), cwd),
        address=address,
        # Nodes that do not share this filesystem put their fragments in the KV store.
        fetch_from_kv=kv_only or not is_loopback(address),
    )


def make_room(plan: SubmitPlan) -> None:
    plan.fragments_dir.mkdir(parents=True, exist_ok=True)


def _host_workdir(working_dir: object, cwd: Path) -> str | None:
    """The local directory Ray uploads as the working dir (None: none, or a remote URI or a zip
    file, whose paths have no place in the project)."""
    if not isinstance(working_dir, str) or "://" in working_dir:
        return None
    path = os.path.realpath(os.path.join(cwd, working_dir))
    return path if os.path.isdir(path) else None


@dataclass(frozen=True)
class Collected:
    """What the workers of one submitted job reported."""

    tasks: list[ClusterTask]
    unreadable: int  # fragments that could not be decoded
    problem: str | None  # why the KV store could not be read, when it could not


async def collect_tasks(plan: SubmitPlan, *, per_actor: bool) -> Collected:
    fragments, bad = read_fragment_dir(str(plan.fragments_dir))
    problem = None
    # The driver always reports: without its report here, the cluster did not see this directory
    # even at a loopback address (a cluster in a container, reached through a forwarded port).
    if plan.fetch_from_kv or not any(f.kind == "driver" for f in fragments):
        ray = plan.run_argv[0]
        fetched, fetch_bad, problem = await fetch_from_cluster(ray, plan.address, plan.run_id)
        fragments += fetched
        bad += fetch_bad
    if is_loopback(plan.address):
        # The node is this machine: its spool of child-process fragments is drained, and goes.
        shutil.rmtree(spool_dir(plan.run_id), ignore_errors=True)
    tasks = group_tasks(_unique(fragments), plan.host_workdir, per_actor=per_actor)
    return Collected(tasks, bad, problem)


def spool_dir(run_id: str) -> Path:
    """Where the workers of this machine left child processes' fragments for their tasks (the
    agent's ``_transport.spool_name``)."""
    return Path(tempfile.gettempdir()) / f"roar-ray-spool-{run_id}"


def _unique(fragments: list[Fragment]) -> list[Fragment]:
    """Each fragment once (one read from both the directory and the KV store)."""
    seen: dict[tuple[str, str, int, float], Fragment] = {}
    for f in fragments:
        seen.setdefault((f.kind, f.task_id, f.pid, f.started_at), f)
    return list(seen.values())
