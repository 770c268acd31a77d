"""One roar project opened for use from Python: run, trace, query, and record S3 traffic.

Every method is a coroutine over anyio, so the same code runs under asyncio (uvloop too) and
trio; only :meth:`Project.proxy` needs asyncio (the S3 proxy is aiohttp) and says so under trio.
The CLI's `roar run`, `roar dag` and `roar show` are thin callers of these methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from roar.core.context import RoarContext
from roar.models import Job

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from roar.api._diff import DiffReport

    # Imported where used: `roar run` goes through this module before its command starts,
    # and needs neither the trace stream (anyio's memory streams) nor show's renderers.
    from roar.api._events import Event
    from roar.api._show import Shown
    from roar.api._trace import Observer, TraceStream
    from roar.lineage.dag import DagView
    from roar.proxy import Proxy, S3Event
    from roar.recording.proxy_sessions import IngestSummary


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`Project.run` did: the command's exit code and the job it recorded.

    ``job`` is None when the program never started (nothing to record). ``warnings`` are what
    the tracer could not see; ``backend`` is the tracer that watched.
    """

    exit_code: int
    job: Job | None
    backend: str
    warnings: list[str] = []
    dropped: list[tuple[str, str, str]] = []  # (kind, path, why it is not lineage)
    discarded_writes: list[str] = []
    bookkeeping_seconds: float = 0.0


class Project:
    """An open project. Make one with :func:`open_project`."""

    def __init__(self, ctx: RoarContext, background: TaskGroup | None = None) -> None:
        self._ctx = ctx
        # Where traced runs live (open_project's task group): None for the CLI's one-shot calls.
        self._background = background
        # Session ids given to bare proxies (roar.proxy.serve() without one), by proxy URL.
        self._proxy_sessions: dict[str, str] = {}

    @property
    def root(self) -> Path:
        return self._ctx.project.root

    @property
    def context(self) -> RoarContext:
        """The project and its configuration, for the lower-level functions of roar."""
        return self._ctx

    # -- recording -------------------------------------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str | None = None,
        tracer: str | None = None,
        build: bool = False,
        hash_algorithms: Sequence[str] = (),
        name: str | None = None,
    ) -> RunResult:
        """Run ``argv`` traced and record it (``roar run``; ``build=True``: ``roar build``).

        ``cwd`` defaults to the project root. The command's exit code is returned, never
        raised; a command that cannot be started raises :class:`roar.RoarError`.
        """
        return await self._run(argv, cwd, tracer, build, hash_algorithms, name, None)

    def trace(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str | None = None,
        tracer: str | None = None,
        build: bool = False,
        hash_algorithms: Sequence[str] = (),
        name: str | None = None,
    ) -> TraceStream:
        """Run ``argv`` like :meth:`run`, yielding what its processes do as they do it.

        ``async for event in project.trace(argv)`` yields :class:`TraceEvent` items (reads,
        writes, execs, forks, exits...) while the command runs, then one :class:`JobRecorded`
        once the job is in the store. Events wait in memory (unbounded: none is dropped) while
        the consumer is busy. Leaving the loop early (``break``, cancellation) stops the events,
        not the command: it runs to its end and is recorded, and the project's ``async with``
        waits for it. A command that cannot be started raises :class:`roar.RoarError` from the
        first iteration.
        """
        from roar.errors import UsageError

        if self._background is None:
            raise UsageError("Project.trace needs a project opened with roar.open_project()")

        from roar.api._events import JobRecorded
        from roar.api._trace import TraceStream

        async def record(observe: Observer) -> Event:
            result = await self._run(argv, cwd, tracer, build, hash_algorithms, name, observe)
            return JobRecorded(exit_code=result.exit_code, job=result.job, warnings=result.warnings)

        return TraceStream(self._background, record)

    async def _run(
        self,
        argv: Sequence[str],
        cwd: Path | str | None,
        tracer: str | None,
        build: bool,
        hash_algorithms: Sequence[str],
        name: str | None,
        observe: Observer | None,
    ) -> RunResult:
        from roar.errors import UsageError
        from roar.recording.recorder import record_command

        if not argv:
            raise UsageError("nothing to run: argv is empty")
        report = await record_command(
            self._ctx,
            list(argv),
            job_type="build" if build else "run",
            backend_name=tracer,
            cwd=Path(cwd) if cwd is not None else self.root,
            hash_algorithms=hash_algorithms,
            observe=observe,
        )
        if report.job is not None and name:
            await self.set_labels("job", report.job.job_uid, {"name": name})
        return RunResult(
            exit_code=report.exit_code,
            job=report.job,
            backend=report.backend,
            warnings=list(report.warnings),
            dropped=list(report.dropped),
            discarded_writes=list(report.discarded_writes),
            bookkeeping_seconds=report.bookkeeping_seconds,
        )

    async def set_labels(self, entity: str, ref: str, values: dict[str, Any]) -> None:
        """Merge ``values`` into the current labels of a job (``entity="job"``, ``ref`` its
        uid or ``@N``)."""
        from roar.api._queries import resolve_job
        from roar.lineage import labels

        async with self._ctx.store() as store:
            job = await resolve_job(store, ref)
            job_id = await store.job_id(job.job_uid)
            versions = await store.label_versions(entity, job_id)
            current = versions[-1].document if versions else {}
            await store.write_label(entity, job_id, labels.merge(current, values))

    # -- queries -----------------------------------------------------------------------------

    async def dag(self, *, expanded: bool = False, show_artifacts: bool = False) -> DagView:
        """The active session's pipeline DAG (``roar dag --json`` is this, encoded)."""
        from roar.api._queries import current_dag

        async with self._ctx.store() as store:
            return await current_dag(store, expanded=expanded, show_artifacts=show_artifacts)

    async def show(self, ref: str | None = None) -> Shown:
        """A step (``@N``, ``@BN``), job (uid or prefix), artifact (path or hash prefix) or
        session (hash prefix); with no ``ref``, the active session (``roar show``)."""
        from roar.api._show import show

        async with self._ctx.store() as store:
            return await show(store, self._ctx, ref)

    async def diff(self, a: str, b: str) -> DiffReport:
        """Why two jobs or artifacts differ, root cause first (``roar diff A B --json``)."""
        from roar.api._diff import diff

        async with self._ctx.store() as store:
            return await diff(store, self._ctx, a, b)

    async def export(self, fmt: str, ref: str | None = None) -> str:
        """``roar export --format FMT [REF]``: PROV-JSON, or OpenLineage events one per line."""
        from roar.api._export import FORMATS, export_text
        from roar.errors import UsageError

        if fmt not in FORMATS:
            raise UsageError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
        async with self._ctx.store() as store:
            return await export_text(store, self._ctx, ref, fmt)

    async def jobs(self) -> list[Job]:
        """Every job of the active session, oldest first (``roar log``)."""
        async with self._ctx.store() as store:
            return await store.recent_jobs()

    # -- S3 ----------------------------------------------------------------------------------

    @asynccontextmanager
    async def proxy(self, **serve_options: Any) -> AsyncIterator[ProjectProxy]:
        """Run an S3 lineage proxy whose traffic becomes this project's lineage (asyncio only).

        Options are :func:`roar.proxy.serve`'s (``upstream=``, ``port=``, ``client_key=``...).
        Objects read and written through it are recorded as a proxy-session job
        (``roar proxy (session …)``), or on the job a request names with ``Roar-Job-Id``:
        whenever :meth:`ProjectProxy.record` is awaited, and when the block exits. Under trio
        this raises :class:`roar.proxy.ProxyError` saying the proxy needs asyncio.
        """
        from roar.proxy import new_session_id, serve

        session = serve_options.pop("session_id", None) or new_session_id()
        async with serve(session_id=session, **serve_options) as proxy:
            handle = ProjectProxy(self, proxy)
            try:
                yield handle
            finally:
                # Recorded even when the block raised: the objects were written all the same.
                with anyio.CancelScope(shield=True):
                    await handle.record()
        # The server has drained; whatever its last requests recorded is filed now.
        await handle.record()

    async def record_s3(self, proxy: Proxy) -> IngestSummary:
        """File the S3 events a running proxy has seen so far as this project's lineage.

        For a proxy started with :func:`roar.proxy.serve` (``project.proxy()`` calls this
        itself). Events are consumed: call it while the proxy runs and once more after its
        ``async with`` block, and do not also read ``proxy.events()``. Events naming a job
        (``Roar-Job-Id``) are attached to it; the rest make one proxy-session job per session,
        grown by later calls (a proxy started without ``session_id`` gets one here).
        """
        _, summary = await self._file_s3(proxy)
        return summary

    async def _file_s3(self, proxy: Proxy) -> tuple[list[S3Event], IngestSummary]:
        from roar.recording.proxy_sessions import record_events

        events = proxy.pending()
        if proxy.session_id is None and events:
            from roar.proxy import new_session_id

            # Not "daemon" (record_events' default): that session job is `roar proxy start`'s.
            session = self._proxy_sessions.setdefault(proxy.url, new_session_id())
            events = [
                msgspec.structs.replace(e, session_id=session) if e.session_id is None else e
                for e in events
            ]
        return events, await record_events(self._ctx, events, final=True)


class ProjectProxy:
    """A running proxy recording into a project: point S3 clients at :attr:`url`."""

    def __init__(self, project: Project, proxy: Proxy) -> None:
        self._project = project
        self._proxy = proxy
        self.recorded: list[S3Event] = []

    @property
    def url(self) -> str:
        return self._proxy.url

    @property
    def proxy(self) -> Proxy:
        """The underlying :class:`roar.proxy.Proxy` (its events are consumed by :meth:`record`)."""
        return self._proxy

    async def record(self) -> IngestSummary:
        """File the events seen so far in the store (returns what was recorded)."""
        events, summary = await self._project._file_s3(self._proxy)
        self.recorded.extend(events)
        return summary


@asynccontextmanager
async def open_project(
    path: Path | str | None = None, *, create: bool = False, verbosity: int = -1
) -> AsyncIterator[Project]:
    """Open the roar project at (or above) ``path`` (default: the current directory).

    ``create=True`` makes ``path`` a project first if it is not one (``roar init``, leaving
    ``.gitignore`` alone). ``verbosity`` is the CLI's (-1: quiet, the default for a library;
    0: progress on a terminal). Raises :class:`roar.RoarError` (``NotAProjectError``) when
    there is no project, and a store error when its database cannot be read.
    """
    from roar.core.project import find_project
    from roar.errors import NotAProjectError

    start = Path(path) if path is not None else Path.cwd()
    if create:
        try:
            found = find_project(start)
        except NotAProjectError:
            found = None
        if found is None or found.root != start.resolve():
            from roar.core.init import init_project

            await init_project(start, gitignore=False)
    ctx = RoarContext.load(start, verbosity=verbosity)
    async with ctx.store():
        pass  # a missing, damaged or newer database is reported here, not at first use
    failure: BaseException | None = None
    async with anyio.create_task_group() as background:
        try:
            yield Project(ctx, background)
        except BaseException as exc:
            # Raised as it is below, not wrapped in the task group's ExceptionGroup; traced
            # runs still going are cancelled.
            failure = exc
            background.cancel_scope.cancel()
    if failure is not None:
        raise failure
