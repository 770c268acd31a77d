"""roar: Run Observation & Artifact Registration.

The embeddable API is async and runs under asyncio or trio (it only needs anyio). Names resolve on
first use so that ``import roar`` stays cheap::

    ctx = roar.RoarContext.load()
    report = await roar.record_command(ctx, ["python", "train.py"])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from roar._version import __version__

if TYPE_CHECKING:
    from roar.core.context import RoarContext
    from roar.errors import RoarError
    from roar.lineage.dag import DagView, project_dag
    from roar.recording.recorder import RunReport, record_command
    from roar.store import Store

__all__ = (
    "DagView",
    "RoarContext",
    "RoarError",
    "RunReport",
    "Store",
    "__version__",
    "project_dag",
    "record_command",
)

_LAZY = {
    "DagView": "roar.lineage.dag",
    "RoarContext": "roar.core.context",
    "RoarError": "roar.errors",
    "RunReport": "roar.recording.recorder",
    "Store": "roar.store",
    "project_dag": "roar.lineage.dag",
    "record_command": "roar.recording.recorder",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'roar' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
