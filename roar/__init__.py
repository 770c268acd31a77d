"""roar: Run Observation & Artifact Registration.

The embeddable API is async and runs under asyncio or trio (it only needs anyio). Names resolve on
first use so that ``import roar`` stays cheap::

    async with roar.open_project("path/to/project") as project:
        result = await project.run(["python", "train.py"])
        print(result.exit_code, [o.path for o in result.job.outputs])
        dag = await project.dag()

(docs/library.md has the whole tour, S3 included.)
"""

from __future__ import annotations

import importlib

from roar._lazy import lazy_exports
from roar._version import __version__

# `typing` and `collections.abc` cost ~9 ms to import, more than a resident `roar run` spends
# before its command starts: this module is on that path, so they are for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from roar.api import JobRecorded, Project, RunResult, Shown, TraceEvent, open_project
    from roar.core.context import RoarContext
    from roar.errors import RoarError
    from roar.lineage.dag import DagView, project_dag
    from roar.recording.phases import RunReport
    from roar.recording.recorder import record_command
    from roar.store import Store

__all__ = (
    "DagView",
    "JobRecorded",
    "Project",
    "RoarContext",
    "RoarError",
    "RunReport",
    "RunResult",
    "Shown",
    "Store",
    "TraceEvent",
    "__version__",
    "open_project",
    "project_dag",
    "record_command",
)

_LAZY = {
    "DagView": "roar.lineage.dag",
    "JobRecorded": "roar.api",
    "Project": "roar.api",
    "RunResult": "roar.api",
    "Shown": "roar.api",
    "TraceEvent": "roar.api",
    "open_project": "roar.api",
    "RoarContext": "roar.core.context",
    "RoarError": "roar.errors",
    "RunReport": "roar.recording.phases",
    "Store": "roar.store",
    "project_dag": "roar.lineage.dag",
    "record_command": "roar.recording.recorder",
}


# Subpackages reachable as attributes of ``roar`` without importing them by hand.
_SUBPACKAGES = frozenset({"api", "proxy"})


_exported = lazy_exports(__name__, _LAZY)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"roar.{name}")
    return _exported(name)


def __dir__() -> list[str]:
    return sorted(__all__)
