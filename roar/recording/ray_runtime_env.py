"""What `roar run ray job submit` adds to the job's runtime env, merged into the user's (pure).

roar ships itself to the cluster through Ray's own extension points, so nothing need be installed
there beforehand: the worker agent (``roar/_inject/_roar_ray_worker``, pure Python) as a
``py_modules`` entry, started in every worker by ``worker_process_setup_hook``; the run's names in
``env_vars``; ``.roar/`` left out of the ``working_dir`` upload; and, with ``ray.pip_install``,
the agent's one requirement (``blake3``) in the env's ``pip`` (or ``uv``) list. The entrypoint is
started through the agent too (:func:`observed_entrypoint`), to observe the driver. The user's keys
are all kept: lists are extended, a setup hook of theirs still runs (the agent calls it), and a
conflict roar cannot resolve is a :class:`UsageError` that says what to change.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

from roar.errors import UsageError
from roar.recording.env_probe import INJECT_DIR

WORKER_PACKAGE = os.path.join(INJECT_DIR, "_roar_ray_worker")
SETUP_HOOK = "_roar_ray_worker.setup"
DRIVER_MODULE = "_roar_ray_worker.driver"
WORKER_REQUIREMENT = "blake3>=0.4"


@dataclass(frozen=True)
class WorkerSettings:
    """What the workers of one `roar run` are told."""

    fragments_dir: str | None  # where fragments go if the node sees it (None: the KV store)
    run_id: str  # names the run's fragments in the GCS KV store otherwise (ROAR_RAY_RUN)
    pip_install: bool  # ray.pip_install


def merge_runtime_env(user: dict[str, Any], settings: WorkerSettings) -> dict[str, Any]:
    env = copy.deepcopy(user)
    env_vars = env.get("env_vars") or {}
    if not isinstance(env_vars, dict):
        raise UsageError("runtime env: env_vars must be a mapping of names to strings")
    env_vars = dict(env_vars)
    hook = env.get("worker_process_setup_hook")
    if hook is not None and hook != SETUP_HOOK:
        if not isinstance(hook, str):
            raise UsageError("runtime env: worker_process_setup_hook must be 'module.function'")
        env_vars["ROAR_RAY_USER_SETUP_HOOK"] = hook  # the agent runs it after its own setup
    env["worker_process_setup_hook"] = SETUP_HOOK
    if settings.fragments_dir is not None:
        env_vars["ROAR_RAY_FRAGMENTS"] = settings.fragments_dir
    env_vars["ROAR_RAY_RUN"] = settings.run_id
    env["env_vars"] = env_vars
    env["py_modules"] = _extended(env, "py_modules", WORKER_PACKAGE)
    if env.get("working_dir"):
        # roar's database and scratch space are not the job's files (nor worth uploading).
        env["excludes"] = _extended(env, "excludes", ".roar/")
    if settings.pip_install:
        _add_requirement(env)
    return env


def _extended(env: dict[str, Any], key: str, item: str) -> list[Any]:
    given = env.get(key) or []
    if not isinstance(given, list):
        raise UsageError(f"runtime env: {key} must be a list")
    return given if item in given else [*given, item]


def _add_requirement(env: dict[str, Any]) -> None:
    """``blake3`` into the env's package list: the one its ``pip`` or ``uv`` key names."""
    if "conda" in env:
        raise UsageError(
            "ray.pip_install cannot add blake3 to a conda runtime env: add it to the conda "
            "environment, or set ray.pip_install = false"
        )
    key = "uv" if "uv" in env else "pip"
    given = env.get(key)
    if given is None:
        env[key] = [WORKER_REQUIREMENT]
    elif isinstance(given, list):
        env[key] = [*given, WORKER_REQUIREMENT]
    elif isinstance(given, dict) and isinstance(given.get("packages", []), list):
        env[key] = {**given, "packages": [*given.get("packages", []), WORKER_REQUIREMENT]}
    else:
        raise UsageError(
            f"ray.pip_install cannot add blake3 to runtime env {key}={given!r} (a requirements "
            f"file): give {key} as a list, add blake3 to it, or set ray.pip_install = false"
        )


def observed_entrypoint(entrypoint: list[str]) -> list[str]:
    """The job's entrypoint started through the agent's driver module, which observes the driver
    (the job supervisor that starts it is no worker the setup hook reaches). Run by the
    entrypoint's own interpreter when it names one, so no other Python need exist there."""
    program = os.path.basename(entrypoint[0]) if entrypoint else ""
    python = entrypoint[0] if program.startswith("python") else "python"
    return [python, "-m", DRIVER_MODULE, *entrypoint]
