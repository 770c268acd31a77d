"""Rebuilding the recorded environment: a virtual environment with the recorded Python, the
recorded pip pins installed into it, and (on request) the recorded Debian packages."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio

from roar.reproduce._errors import ReproduceError


def _tail(data: bytes, lines: int = 3) -> str:
    text = [line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()]
    # pip repeats itself in notices; the ERROR lines say what went wrong.
    errors = [line for line in text if line.startswith("ERROR")]
    return " | ".join((errors or text)[-lines:]) or "no message"


async def create_venv(python: str, dest: Path) -> Path:
    """``python -m venv dest``; returns the environment's interpreter."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    result = await anyio.run_process(
        [python, "-m", "venv", str(dest)], check=False, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise ReproduceError(f"{python} -m venv {dest} failed: {_tail(result.stderr)}")
    return dest / "bin" / "python"


async def pip_install(venv_python: Path, specs: Sequence[str], *, any_version: bool) -> None:
    """Install ``specs`` with the environment's own pip (the configured index applies)."""
    if not specs:
        return
    result = await anyio.run_process(
        [
            str(venv_python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *specs,
        ],
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        hint = "" if any_version else "; --pip-any-version installs whatever version resolves"
        raise ReproduceError(
            f"pip could not install the recorded packages: {_tail(result.stderr)}{hint}"
        )


async def apt_install(packages: Sequence[str], *, any_version: bool) -> None:
    """``apt-get install -y`` the recorded Debian packages (through sudo when not root)."""
    if not packages:
        return
    if shutil.which("apt-get") is None:
        raise ReproduceError("--package-sync needs apt-get, which this machine does not have")
    command = ["apt-get", "install", "-y", "-q", *packages]
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise ReproduceError("--package-sync needs root or sudo to run apt-get")
        command = ["sudo", "-n", *command]
    result = await anyio.run_process(
        command,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if result.returncode != 0:
        hint = "" if any_version else "; --dpkg-any-version installs the versions apt offers"
        raise ReproduceError(
            f"apt-get could not install the recorded packages: {_tail(result.stderr)}{hint}"
        )


def step_environment(
    base: Mapping[str, str],
    *,
    venv: Path | None,
    recorded_env: Mapping[str, str],
    project_root: Path,
) -> dict[str, str]:
    """The environment a reproduced step runs with: the venv's bin first on PATH, the job's
    recorded variables, ``ROAR_REPRODUCE=1``, and the reproduction project pinned."""
    env = {k: v for k, v in base.items() if k != "ROAR_JOB_ID"}
    if venv is not None:
        env.pop("PYTHONHOME", None)
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", os.defpath)
    env.update(recorded_env)
    env["ROAR_REPRODUCE"] = "1"
    env["ROAR_PROJECT_DIR"] = str(project_root)
    return env
