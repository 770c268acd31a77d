"""`roar put [SRC] DEST -m MSG`: upload from the workspace and record it as a Put job.

SRC is a file, a directory (every file under it; one composite artifact on both sides), ``@N``
(the outputs of step N) or nothing (every output of the active session that is still on disk).
The Put job reads the local files and writes the uploaded objects, which carry the same BLAKE3:
content addressing links each local artifact to its uploaded copy. With a registry configured,
the session's lineage is registered after the upload.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from roar.core.context import RoarContext
from roar.errors import UsageError
from roar.models import Component, Composite, FileDigest, Job
from roar.transfer._common import (
    CONCURRENCY,
    Progress,
    backend_for,
    check_relpath,
    composite_of,
    record_transfer,
)
from roar.transfer._local import files_under
from roar.transfer._sink import StreamDigest, TransferError
from roar.transfer.locations import Location, parse


@dataclass(frozen=True, slots=True)
class Upload:
    path: Path  # absolute local file
    shown: str  # as recorded (project-relative when inside)
    relpath: str  # under the destination prefix
    url: str = ""


@dataclass(slots=True)
class PutResult:
    destination: str
    files: list[tuple[str, str, int]] = field(default_factory=list)  # local, url, size
    composites: list[Composite] = field(default_factory=list)
    job: Job | None = None

    @property
    def total_bytes(self) -> int:
        return sum(size for _, _, size in self.files)


async def _sources(ctx: RoarContext, src: str | None) -> tuple[list[Upload], Path | None]:
    """The files to upload, and the directory when SRC is one (a composite)."""
    project = ctx.project
    if src is None or src.startswith("@"):
        from roar.api._queries import resolve_job

        async with ctx.store() as store:
            if src is None:
                session = await store.active_session()
                if session is None:
                    raise UsageError("no active session: nothing to put (give a SRC)")
                jobs = await store.session_jobs(session.id)
            else:
                jobs = [await resolve_job(store, src)]
        latest: dict[str, FileDigest] = {}
        for job in jobs:
            if job.job_type in ("put", "get") and src is None:
                continue
            for out in job.outputs:
                if "://" not in out.path:
                    latest[out.path] = out
        uploads = []
        for shown in sorted(latest):
            absolute = Path(project.absolute(shown))
            if absolute.is_file():
                relpath = shown if not os.path.isabs(shown) else absolute.name
                uploads.append(Upload(absolute, shown, check_relpath(relpath, shown)))
        if not uploads:
            what = "the active session" if src is None else src
            raise UsageError(f"{what} has no outputs on disk to put")
        return uploads, None
    path = Path(src).expanduser().absolute()
    if path.is_file():
        return [Upload(path, project.display_path(str(path)), path.name)], None
    if not path.is_dir():
        raise UsageError(f"{src} does not exist")
    files = await anyio.to_thread.run_sync(files_under, path)
    if not files:
        raise UsageError(f"{src} is an empty directory: nothing to put")
    return [Upload(file, project.display_path(str(file)), rel) for file, rel in files], path


def _destination(dest: Location, uploads: list[Upload], directory: Path | None) -> list[Upload]:
    single = directory is None and len(uploads) == 1 and not dest.names_prefix
    if dest.scheme == "file" and Path(dest.key).is_dir():
        single = False
    out = []
    for item in uploads:
        if single and not dest.raw.endswith("/"):
            url = dest.raw if dest.scheme != "file" else str(Path(dest.key).absolute())
        elif dest.scheme == "file":
            url = str(Path(dest.key).absolute() / item.relpath)
        else:
            url = dest.child(item.relpath)
        out.append(Upload(item.path, item.shown, item.relpath, url))
    return out


async def put(
    ctx: RoarContext,
    src: str | None,
    dest: str,
    *,
    message: str,
    dry_run: bool = False,
    progress: bool = True,
) -> PutResult:
    from roar.hashing import Hasher

    location = parse(dest)
    if location.scheme in ("http", "https"):
        raise UsageError(f"{dest}: http(s) is download only; put to s3://, gs:// or a directory")
    uploads, directory = await _sources(ctx, src)
    uploads = _destination(location, uploads, directory)
    result = PutResult(destination=dest)
    started = time.time()
    sizes: dict[str, int] = {}
    for item in uploads:
        try:
            sizes[item.url] = item.path.stat().st_size
        except OSError as exc:
            raise TransferError(f"cannot read {item.shown}: {exc.strerror or exc}") from exc
    if dry_run:
        result.files = [(u.shown, u.url, sizes[u.url]) for u in uploads]
        return result
    algorithms = ctx.config.get_list("hash.put")
    streamed = {u.url: StreamDigest(algorithms) for u in uploads}
    bar = Progress(sum(sizes.values()), f"put {location.basename or dest}", enabled=progress)
    etags: dict[str, str | None] = {}
    limiter = anyio.CapacityLimiter(CONCURRENCY)
    try:
        async with backend_for(location) as backend, anyio.create_task_group() as tg:
            for item in uploads:

                async def send(item: Upload = item) -> None:
                    async with limiter:
                        try:
                            etags[item.url] = await backend.upload(
                                item.path, sizes[item.url], item.url, bar, streamed[item.url]
                            )
                        except OSError as exc:  # the file went away or became unreadable
                            why = exc.strerror or str(exc)
                            raise TransferError(f"cannot read {item.shown}: {why}") from exc

                tg.start_soon(send)
    finally:
        bar.close()
    # What could not be hashed while it was sent (multipart parts, gs://) is hashed now.
    rest = [u for u in uploads if not streamed[u.url].complete]
    hashed = {}
    if rest:
        async with ctx.store() as store:
            hashed = await Hasher(store, algorithms).hash_many(str(u.path) for u in rest)
    inputs, outputs = [], []
    for item in uploads:
        if streamed[item.url].complete:
            digests, size = streamed[item.url].digests(), streamed[item.url].size
        else:
            found = hashed.get(str(item.path))
            if found is None or found.error:
                reason = found.error if found else "gone"
                raise TransferError(f"uploaded {item.shown} but cannot read it back: {reason}")
            digests, size = found.digests, found.size
        inputs.append(
            FileDigest(path=item.shown, hash=digests["blake3"], size=size, hashes=digests)
        )
        remote = dict(digests)
        if etags.get(item.url):
            remote["etag"] = str(etags[item.url])
        where = item.url if "://" in item.url else ctx.project.display_path(item.url)
        outputs.append(FileDigest(path=where, hash=digests["blake3"], size=size, hashes=remote))
        result.files.append((item.shown, item.url, size))
    if directory is not None:
        result.composites = _composites(ctx, directory, location, uploads, inputs)
    meta: dict[str, object] = {
        "put": {"destination": dest, "objects": len(uploads), "bytes": result.total_bytes},
        "message": message,
    }
    argv = ["roar", "put", *([src] if src else []), dest, "-m", message]
    result.job = await record_transfer(
        ctx,
        job_type="put",
        argv=argv,
        inputs=inputs,
        outputs=outputs,
        composites=result.composites,
        sources={},
        metadata=meta,
        started=started,
    )
    return result


def _composites(
    ctx: RoarContext,
    directory: Path,
    location: Location,
    uploads: list[Upload],
    inputs: list[FileDigest],
) -> list[Composite]:
    """The directory read and the prefix written: one composite, by content the same."""
    components = [
        Component(relpath=u.relpath, hash=f.hash, size=f.size)
        for u, f in zip(uploads, inputs, strict=True)
    ]
    remote = location.raw if location.raw.endswith("/") else location.raw + "/"
    if location.scheme == "file":
        remote = ctx.project.display_path(str(Path(location.key).absolute()))
    local = ctx.project.display_path(str(directory))
    return [composite_of(local, "input", components), composite_of(remote, "output", components)]
