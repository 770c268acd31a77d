"""The human-readable view of one job (`roar show @N`): what ran, on what, with what, from what.

A pure function of the stored job, so it is tested without a store or a terminal. It reads the
job's metadata defensively: jobs recorded by older versions, or through the proxy, lack parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from roar.cli._format import human_duration, human_size, local_time
from roar.models import FileDigest, Job

# Long lists (imported packages, variables read) are cut to this many names in the text view;
# `roar show --json` has them all.
LIST_LIMIT = 12


def job_lines(job: Job) -> list[str]:
    meta: Mapping[str, Any] = job.metadata
    lines = [
        f"Job {job.job_uid}  {job.step_ref}  ({job.job_type})",
        f"  Command:   {job.command}",
        f"  Directory: {job.cwd}",
        f"  Started:   {local_time(job.started_at)}  ({human_duration(job.duration_seconds)})",
        f"  Exit code: {_exit_text(job)}",
    ]
    if job.tracer:
        lines.append(f"  Tracer:    {job.tracer}")
    lines.extend(_ray_lines(job, _mapping(meta.get("ray"))))
    lines.extend(_git_lines(job, _mapping(meta.get("git"))))
    runtime = _mapping(meta.get("runtime"))
    lines.extend(_runtime_lines(runtime, _mapping(meta.get("packages"))))
    if job.env:
        lines.append(f"  roar env:  {_names(f'{k}={v}' for k, v in sorted(job.env.items()))}")
    env_read = _mapping(runtime.get("env_vars"))
    if env_read:
        lines.append(f"  Env read:  {_names(sorted(env_read))}")
    # Where each input can be had again; jobs recorded before roar knew it have no column.
    sources = meta.get("input_sources")
    for title, files, source_column in (
        ("Inputs", job.inputs, sources if isinstance(sources, Mapping) else None),
        ("Outputs", job.outputs, None),
    ):
        lines.append(f"  {title} ({len(files)}):")
        lines.extend(_file_lines(files, source_column))
    return lines


def _exit_text(job: Job) -> str:
    text = str(job.exit_code)
    if job.signal:
        text += f" (killed by signal {job.signal})"
    return text


def _ray_lines(job: Job, ray: Mapping[str, Any]) -> list[str]:
    if not ray:
        return []
    if job.job_type != "ray_task":
        to = f", submitted to {ray['submitted_to']}" if ray.get("submitted_to") else ""
        if "submitted_to" not in ray:  # a script using local Ray
            return [f"  Ray:       {ray.get('tasks', 0)} task(s) recorded as jobs of their own"]
        return [f"  Ray:       {ray.get('tasks', 0)} job(s) for the tasks and driver{to}"]
    what = "Ray driver" if ray.get("driver") else "Ray task: "
    lines = [f"  {what} {ray.get('name')} of job {ray.get('parent_job_uid')}"]
    if ray.get("on_cluster"):
        # `roar run ray job submit`: the task wrote into Ray's copy of the working dir.
        nodes = ", ".join(str(n) for n in ray.get("nodes") or [])
        where = f" (node {nodes})" if nodes else ""
        lines.append(
            f"  Cluster:   ran on the Ray cluster at {ray.get('cluster_address') or 'RAY_ADDRESS'}"
            f"{where}; its outputs live on the Ray cluster, in Ray's copy of the working dir, "
            "not in the project"
        )
    return lines


def _git_lines(job: Job, git_meta: Mapping[str, Any]) -> list[str]:
    if not job.git.commit:
        return ["  Git:       not a git repository"]
    branch = job.git.branch or "detached HEAD"
    state = "dirty" if job.git.dirty else "clean"
    patch = _mapping(git_meta.get("patch"))
    if job.git.dirty and patch.get("hash"):
        changed = len(patch.get("tracked_changes") or [])
        untracked = len(patch.get("untracked_files") or [])
        state += (
            f"; patch {str(patch['hash'])[:12]}: {changed} changed, {untracked} untracked file(s)"
        )
    lines = [f"  Git:       {job.git.commit[:12]} on {branch} ({state})"]
    if job.git.remote_url:
        lines.append(f"  Remote:    {job.git.remote_url}")
    return lines


def _runtime_lines(runtime: Mapping[str, Any], packages: Mapping[str, Any]) -> list[str]:
    lines = []
    python = _mapping(runtime.get("python"))
    if python.get("version"):
        implementation = python.get("implementation") or "Python"
        where = f" ({python['executable']})" if python.get("executable") else ""
        lines.append(f"  Python:    {implementation} {python['version']}{where}")
    used = _mapping(packages.get("pip"))
    installed = _mapping(packages.get("pip_installed"))
    dpkg = _mapping(packages.get("dpkg"))
    if used or installed:
        names = _names(f"{name} {version}" for name, version in sorted(used.items()))
        counts = f"{len(used)} imported of {len(installed)} installed"
        lines.append(
            f"  Packages:  {names} ({counts})"
            if used
            else f"  Packages:  none imported ({len(installed)} installed)"
        )
    if dpkg:
        lines.append(f"  Debian:    {_names(f'{n} {v}' for n, v in sorted(dpkg.items()))}")
    machine = _machine(runtime)
    if machine:
        lines.append(f"  Machine:   {machine}")
    return lines


def _machine(runtime: Mapping[str, Any]) -> str:
    os_info = _mapping(runtime.get("os"))
    cpu = _mapping(runtime.get("cpu"))
    parts = [
        " ".join(str(os_info[k]) for k in ("system", "machine") if os_info.get(k)),
        str(os_info.get("distribution") or ""),
    ]
    if cpu.get("count"):
        parts.append(f"{cpu['count']} CPUs" + (f" {cpu['model']}" if cpu.get("model") else ""))
    memory = runtime.get("memory_bytes")
    if isinstance(memory, int) and memory > 0:
        parts.append(f"{human_size(memory)} memory")
    gpus = runtime.get("gpu")
    if isinstance(gpus, list) and gpus:
        models = [str(_mapping(g).get("model") or "unknown") for g in gpus]
        parts.append(f"GPU: {', '.join(models)}")
    return ", ".join(p for p in parts if p)


def _file_lines(files: list[FileDigest], sources: Mapping[str, Any] | None) -> list[str]:
    width = max((len(f.path) for f in files), default=0)
    lines = []
    for f in files:
        line = f"    {f.path:<{width}}  {human_size(f.size):>9}  {f.hash[:16]}"
        if sources is not None:
            line += f"  {source_text(sources.get(f.path))}"
        lines.append(line.rstrip())
        for algorithm, digest in sorted(f.hashes.items()):
            if algorithm != "blake3":
                lines.append(f"    {'':<{width}}  {algorithm:>9}  {digest}")
    return lines


def source_text(source: object) -> str:
    """Where an input can be had again: git, a patch, the step that wrote it, or nowhere."""
    if source is None:
        return "UNSOURCED"
    kind, _, ref = str(source).partition(":")
    if kind == "patch" and ref:
        return f"patch {ref[:12]}"
    if kind == "job" and ref:
        return f"written by job {ref}"
    if kind == "config":
        return "config (tool configuration, not required)"
    return str(source)


def _names(items: Iterable[str]) -> str:
    names = list(items)
    shown = ", ".join(names[:LIST_LIMIT])
    return f"{shown}, +{len(names) - LIST_LIMIT} more" if len(names) > LIST_LIMIT else shown


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
