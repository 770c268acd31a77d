"""`roar get SRC [DEST]`: download into the workspace and record it as a Get job.

Every file is downloaded into a temporary name beside its target and hashed as it arrives; only
when all of them are in, the expected digest (``--hash``) matches and no existing file with other
content would be overwritten (without ``--force``) are they renamed into place. So a failure of
any kind leaves the workspace as it was. A prefix or directory becomes one composite artifact
(its tree hash, its components listed) besides its files.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread

from roar.core.context import RoarContext
from roar.errors import UsageError
from roar.models import Component, Composite, FileDigest, Job
from roar.transfer._backend import RemoteObject
from roar.transfer._common import (
    CONCURRENCY,
    Progress,
    backend_for,
    check_relpath,
    composite_of,
    record_transfer,
)
from roar.transfer._sink import Sink, TransferError
from roar.transfer.locations import parse


@dataclass(frozen=True, slots=True)
class Planned:
    obj: RemoteObject
    target: Path


@dataclass(slots=True)
class GetResult:
    source: str
    files: list[tuple[str, str, int]] = field(default_factory=list)  # url, local path, size
    composite: Composite | None = None
    job: Job | None = None

    @property
    def total_bytes(self) -> int:
        return sum(size for _, _, size in self.files)


def _targets(objects: list[RemoteObject], is_prefix: bool, dest: str | None, name: str) -> Path:
    """The directory a prefix goes into, or the file one object becomes."""
    if is_prefix:
        return Path(dest) if dest else Path(name or "download")
    if dest is None:
        return Path(objects[0].relpath)
    if dest.endswith(("/", os.sep)) or Path(dest).is_dir():
        return Path(dest) / objects[0].relpath
    return Path(dest)


async def get(
    ctx: RoarContext,
    src: str,
    dest: str | None,
    *,
    expected_hash: str | None = None,
    message: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    progress: bool = True,
) -> GetResult:
    location = parse(src)
    if expected_hash is not None:
        expected_hash = expected_hash.lower().removeprefix("blake3:")
        if len(expected_hash) < 8 or any(c not in "0123456789abcdef" for c in expected_hash):
            raise UsageError(f"--hash {expected_hash}: give the BLAKE3 hex digest (8+ characters)")
    started = time.time()
    algorithms = ctx.config.get_list("hash.get")
    async with backend_for(location) as backend:
        objects, is_prefix = await backend.resolve(location)
        base = _targets(objects, is_prefix, dest, location.basename or location.bucket)
        plan = [
            Planned(obj, base / check_relpath(obj.relpath, obj.url) if is_prefix else base)
            for obj in objects
        ]
        result = GetResult(source=src)
        if dry_run:
            result.files = [(p.obj.url, str(p.target), p.obj.size or 0) for p in plan]
            return result
        total = (
            sum(o.size or 0 for o in objects) if all(o.size is not None for o in objects) else None
        )
        bar = Progress(total, f"get {location.basename or src}", enabled=progress)
        sinks = {p.target: Sink(p.target.absolute(), algorithms, bar) for p in plan}
        etags: dict[Path, str | None] = {}
        limiter = anyio.CapacityLimiter(CONCURRENCY)
        try:
            async with anyio.create_task_group() as tg:
                for item in plan:

                    async def fetch(item: Planned = item) -> None:
                        async with limiter:
                            sink = sinks[item.target]
                            etags[item.target] = await backend.download(item.obj, sink)
                            await sink.flush()

                    tg.start_soon(fetch)
            digests = {target: sink.digests() for target, sink in sinks.items()}
            composite = None
            if is_prefix:
                composite = _composite(ctx, base, plan, digests, sinks)
            _verify(expected_hash, src, plan, digests, composite)
            await _check_existing(plan, digests, force)
            for sink in sinks.values():
                await sink.commit()
        except BaseException:
            with anyio.CancelScope(shield=True):
                for sink in sinks.values():
                    await sink.discard()
            raise
        finally:
            bar.close()
    outputs = []
    sources = {}
    for item in plan:
        shown = ctx.project.display_path(str(item.target.absolute()))
        hashes = dict(digests[item.target])
        if etags.get(item.target):
            hashes["etag"] = str(etags[item.target])
        size = sinks[item.target].written
        outputs.append(FileDigest(path=shown, hash=hashes["blake3"], size=size, hashes=hashes))
        sources[shown] = item.obj.url
        result.files.append((item.obj.url, shown, size))
    result.composite = composite
    meta: dict[str, object] = {
        "get": {
            "source": src,
            "objects": len(plan),
            "bytes": result.total_bytes,
            **({"composite": composite.hash} if composite else {}),
        }
    }
    if message:
        meta["message"] = message
    argv = ["roar", "get", src, *([dest] if dest else [])]
    result.job = await record_transfer(
        ctx,
        job_type="get",
        argv=argv,
        inputs=[],
        outputs=outputs,
        composites=[composite] if composite else [],
        sources=sources,
        metadata=meta,
        started=started,
    )
    return result


def _composite(
    ctx: RoarContext,
    base: Path,
    plan: list[Planned],
    digests: dict[Path, dict[str, str]],
    sinks: dict[Path, Sink],
) -> Composite:
    components = [
        Component(
            relpath=item.target.relative_to(base).as_posix(),
            hash=digests[item.target]["blake3"],
            size=sinks[item.target].written,
        )
        for item in plan
    ]
    return composite_of(ctx.project.display_path(str(base.absolute())), "output", components)


def _verify(
    expected: str | None,
    src: str,
    plan: list[Planned],
    digests: dict[Path, dict[str, str]],
    composite: Composite | None,
) -> None:
    if expected is None:
        return
    actual = composite.hash if composite else digests[plan[0].target]["blake3"]
    if not actual.startswith(expected):
        what = "the tree hash of" if composite else "the BLAKE3 of"
        raise TransferError(
            f"hash mismatch: {what} {src} is {actual}, not {expected}; nothing was written"
        )


async def _check_existing(
    plan: list[Planned], digests: dict[Path, dict[str, str]], force: bool
) -> None:
    """Raises when a target holds other bytes (unless ``force``); the same bytes are fine."""
    from roar.hashing import digest_file

    for item in plan:
        target = item.target
        if not target.exists():
            continue
        if target.is_dir():
            raise TransferError(f"{target} is a directory; give a file name as DEST")
        if force:
            continue
        _, existing = await anyio.to_thread.run_sync(digest_file, str(target))
        if existing["blake3"] == digests[target]["blake3"]:
            continue
        raise TransferError(
            f"{target} exists with other content; --force overwrites it (nothing was written)"
        )
