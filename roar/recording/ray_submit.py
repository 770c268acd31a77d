"""`ray job submit ...` on roar's command line: recognised, and rewritten to carry roar (pure).

`roar run ray job submit [OPTIONS] -- ENTRYPOINT` records the submitted job's Ray tasks as jobs
of their own (see ``ray_runtime_env.py`` for what roar adds to the job's runtime env). Here the
command line is read for what matters to that: the runtime env the user gave (``--runtime-env``
YAML file or ``--runtime-env-json``, and ``--working-dir``, which Ray lets override the env's), and
``--no-wait``; and rewritten so the runtime env reaches Ray as one ``--runtime-env-json``, the
user's keys all kept.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from roar.errors import UsageError

# `ray job submit` options that take a value (Ray 2.4x-2.6x), so the entrypoint is found where
# the user left out `--`.
_VALUED = frozenset(
    {
        "--address", "--job-id", "--submission-id", "--runtime-env", "--runtime-env-json",
        "--working-dir", "--metadata-json", "--entrypoint-num-cpus", "--entrypoint-num-gpus",
        "--entrypoint-memory", "--entrypoint-resources", "--entrypoint-label-selector",
        "--verify", "--headers", "--log-style", "--log-color",
    }
)  # fmt: skip
_ENV_OPTIONS = ("--runtime-env", "--runtime-env-json", "--working-dir")


@dataclass(frozen=True)
class SubmitCommand:
    """A `ray job submit` command line, split where roar needs it."""

    head: list[str]  # `ray job submit`, as typed
    options: list[tuple[str, str | None]]  # the others, in order (name, value or None)
    entrypoint: list[str]  # after `--` (or the first argument that is not an option)
    runtime_env: dict[str, Any]  # as the user gave it, `--working-dir` applied
    no_wait: bool

    @property
    def address(self) -> str | None:
        given = [v for name, v in self.options if name == "--address"]
        return given[-1] if given else None


def is_ray_job_submit(argv: list[str]) -> bool:
    return len(argv) >= 3 and os.path.basename(argv[0]) == "ray" and argv[1:3] == ["job", "submit"]


def parse_submit(argv: list[str], cwd: str) -> SubmitCommand:
    """Split ``argv`` (which :func:`is_ray_job_submit`); the runtime env the user named is read,
    and a malformed one is a :class:`UsageError` naming what is wrong."""
    options: list[tuple[str, str | None]] = []
    rest = argv[3:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-"):
            break
        name, eq, value = arg.partition("=")
        if eq:
            options.append((name, value))
        elif name in _VALUED:
            if i + 1 >= len(rest):
                raise UsageError(f"ray job submit: option {name} needs a value")
            options.append((name, rest[i + 1]))
            i += 1
        else:
            options.append((name, None))
        i += 1
    env_options = {name: value for name, value in options if name in _ENV_OPTIONS}
    return SubmitCommand(
        head=argv[:3],
        options=options,
        entrypoint=rest[i:],
        runtime_env=_runtime_env(env_options, cwd),
        no_wait=any(name == "--no-wait" for name, _ in options),
    )


def _runtime_env(given: dict[str, str | None], cwd: str) -> dict[str, Any]:
    """The runtime env as Ray would build it from the options (dashboard_sdk's rules)."""
    env: Any = {}
    if given.get("--runtime-env") is not None and given.get("--runtime-env-json") is not None:
        raise UsageError("ray job submit: give --runtime-env or --runtime-env-json, not both")
    if given.get("--runtime-env-json") is not None:
        try:
            env = json.loads(given["--runtime-env-json"] or "")
        except ValueError as exc:
            raise UsageError(f"--runtime-env-json is not valid JSON: {exc}") from None
    elif given.get("--runtime-env") is not None:
        env = _read_yaml(os.path.join(cwd, given["--runtime-env"] or ""))
    if env is None:
        env = {}
    if not isinstance(env, dict):
        raise UsageError(
            f"the runtime env must be a JSON object (a mapping), not {type(env).__name__}"
        )
    if given.get("--working-dir") is not None:
        env["working_dir"] = given["--working-dir"]
    return env


def _read_yaml(path: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]  # Ray's CLI needs it: it is where Ray is
    except ImportError:
        raise UsageError(
            "--runtime-env names a YAML file, and PyYAML is not installed where roar runs: "
            "pass the same runtime env as --runtime-env-json"
        ) from None
    try:
        with open(path) as handle:
            return yaml.safe_load(handle)
    except OSError as exc:
        raise UsageError(f"--runtime-env {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--runtime-env {path} is not valid YAML: {exc}") from None


def rewrite(
    command: SubmitCommand, runtime_env: dict[str, Any], entrypoint: list[str]
) -> list[str]:
    """The command line to run: the user's, with ``runtime_env`` as its only runtime env option,
    starting ``entrypoint``."""
    argv = list(command.head)
    argv += ["--runtime-env-json", json.dumps(runtime_env, separators=(",", ":"))]
    for name, value in command.options:
        if name in _ENV_OPTIONS:
            continue
        argv += [name] if value is None else [name, value]
    return [*argv, "--", *entrypoint]
