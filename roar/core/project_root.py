"""Where the project is: the nearest directory holding `.roar/roar.db`, as a plain string.

Kept apart from :mod:`roar.core.project` (pathlib, dataclasses) because the `roar` command asks
it before handing a run to the resident roar (``roar.resident.client``), where every millisecond
of import shows in the run's fixed cost.
"""

from __future__ import annotations

import os

ROAR_DIR = ".roar"
DB_NAME = "roar.db"
CONFIG_NAME = "config.toml"


def project_root(start: str | None = None) -> str | None:
    """The nearest project at or above ``start`` (default: the working directory), resolved,
    or None. ``ROAR_PROJECT_DIR`` pins it (used by traced children and reproduce) when it
    names a project."""
    pinned = os.environ.get("ROAR_PROJECT_DIR")
    if pinned and _holds_project(pinned):
        return os.path.realpath(pinned)
    here = os.path.realpath(start if start is not None else os.getcwd())
    while True:
        if _holds_project(here):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def _holds_project(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, ROAR_DIR, DB_NAME))
