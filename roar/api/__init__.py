"""roar as a library: open a project, run and trace commands, query lineage, record S3.

::

    async with roar.open_project("path/to/project") as project:
        result = await project.run(["python", "train.py"])
        dag = await project.dag()

See ``docs/library.md`` for the whole tour (runs under asyncio, uvloop and trio).
"""

from roar.api._events import Event, JobRecorded, TraceEvent
from roar.api._project import Project, ProjectProxy, RunResult, open_project
from roar.api._show import Shown, job_json
from roar.api._trace import TraceStream
from roar.recording.proxy_sessions import IngestSummary

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
