"""roar as a library: open a project, run and trace commands, query lineage, record S3.

::

    async with roar.open_project("path/to/project") as project:
        result = await project.run(["python", "train.py"])
        dag = await project.dag()

See ``docs/library.md`` for the whole tour (runs under asyncio, uvloop and trio).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roar._lazy import lazy_exports

if TYPE_CHECKING:
    from roar.api._events import Event, JobRecorded, TraceEvent
    from roar.api._project import Project, ProjectProxy, RunResult, open_project
    from roar.api._show import Shown, job_json
    from roar.api._trace import TraceStream
    from roar.recording.proxy_sessions import IngestSummary

# Loaded on first use (PEP 562): `roar run` imports this package before its command starts and
# needs only Project; the trace stream, show's renderers and the proxy's summary load when asked.
_WHERE = {
    "Event": "roar.api._events",
    "JobRecorded": "roar.api._events",
    "TraceEvent": "roar.api._events",
    "Project": "roar.api._project",
    "ProjectProxy": "roar.api._project",
    "RunResult": "roar.api._project",
    "open_project": "roar.api._project",
    "Shown": "roar.api._show",
    "job_json": "roar.api._show",
    "TraceStream": "roar.api._trace",
    "IngestSummary": "roar.recording.proxy_sessions",
}


__getattr__ = lazy_exports(__name__, _WHERE)


__all__ = (
    "Event",
    "IngestSummary",
    "JobRecorded",
    "Project",
    "ProjectProxy",
    "RunResult",
    "Shown",
    "TraceEvent",
    "TraceStream",
    "job_json",
    "open_project",
)
