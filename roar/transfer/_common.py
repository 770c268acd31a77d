"""What `roar get` and `roar put` share: choosing a backend, progress, recording the job."""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from roar.transfer._sink import TransferError
from roar.transfer.locations import Location

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from roar.core.context import RoarContext
    from roar.models import Component, Composite, FileDigest, Job
    from roar.transfer._backend import Backend

CONCURRENCY = 32  # objects in flight at once (the aws CLI uses 10)


@asynccontextmanager
async def backend_for(location: Location) -> AsyncIterator[Backend]:
    backend: Backend
    if location.scheme == "s3":
        from roar.transfer._s3 import S3Backend

        backend = S3Backend(CONCURRENCY)
    elif location.scheme in ("http", "https"):
        from roar.transfer._http import HttpBackend

        backend = HttpBackend(CONCURRENCY)
    elif location.scheme == "gs":
        from roar.transfer._gcs import GcsBackend

        backend = GcsBackend()
    else:
        from roar.transfer._local import LocalBackend

        backend = LocalBackend()
    try:
        yield backend
    finally:
        await backend.aclose()


class Progress:
    """A byte progress bar on a terminal (tqdm on stderr); silent otherwise."""

    def __init__(self, total: int | None, what: str, *, enabled: bool) -> None:
        self._bar: Any = None
        if enabled and sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=what, unit="B", unit_scale=True, unit_divisor=1024, leave=False
            )

    def __call__(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


async def record_transfer(
    ctx: RoarContext,
    *,
    job_type: str,
    argv: list[str],
    inputs: Sequence[FileDigest],
    outputs: Sequence[FileDigest],
    composites: Sequence[Composite],
    sources: dict[str, str],
    metadata: dict[str, object],
    started: float,
) -> Job:
    """File the get or put job in the active session."""
    import shlex

    from roar.core.git import read_git_state
    from roar.lineage.identity import step_identity
    from roar.models import NewJob
    from roar.recording.job_builder import git_info

    state = await read_git_state(Path.cwd(), ctx.project.roar_dir)
    command = shlex.join(argv)
    new = NewJob(
        job_uid=secrets.token_hex(4),
        job_type=job_type,
        command=command,
        argv=argv,
        cwd=ctx.project.display_path(os.getcwd()),
        started_at=started,
        duration_seconds=time.time() - started,
        exit_code=0,
        signal=None,
        git=git_info(state),
        inputs=list(inputs),
        outputs=list(outputs),
        step_identity=step_identity(
            [f.path for f in inputs],
            [f.path for f in outputs],
            command,
            str(ctx.project.root),
            os.path.expanduser("~"),
        ),
        metadata=metadata,
        composites=list(composites),
        sources=sources,
    )
    async with ctx.store() as store:
        return await store.record_job(new)


def composite_of(
    path: str, role: Literal["input", "output"], components: list[Component]
) -> Composite:
    """The composite artifact made of ``components`` (its digest is their tree hash)."""
    from roar.hashing.composite import composite_digest
    from roar.models import Composite

    return Composite(
        path=path,
        hash=composite_digest((c.relpath, c.hash) for c in components),
        size=sum(c.size for c in components),
        role=role,
        components=components,
    )


def check_relpath(relpath: str, source: str) -> str:
    from roar.hashing.composite import CompositeError, normalise_relpath

    try:
        return normalise_relpath(relpath)
    except CompositeError as exc:
        raise TransferError(f"{source}: {exc}") from exc
