"""Where a lineage to reproduce comes from.

A :class:`LineageSource` answers five questions: the lineage of an artifact, the lineage of a
session, the bytes of a recorded dirty-tree patch, where content with a given digest lies on
this machine, and which run cache may hold recorded outputs. The local store of a project is
the first source; a registry client is the next (it only has to implement the same protocol).
Sources are asked in order; the first that knows the reference answers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import anyio.to_thread
import blake3

from roar.core.project import Project
from roar.errors import NotFoundError, UsageError
from roar.hashing import digest_file
from roar.models import Job
from roar.recording.reuse import OutputCache
from roar.reproduce._model import Lineage, Target
from roar.reproduce._plan import ray_parent
from roar.store import Store

MAX_REFERENCE_BYTES = 1 << 20  # originals read back for a text diff


class LineageSource(Protocol):
    """A place that holds recorded lineage (the local store; later a registry)."""

    @property
    def name(self) -> str:
        """For messages: "local store /path/.roar/roar.db"."""
        ...

    async def artifact(self, ref: str) -> Lineage | None:
        """The lineage of an artifact (digest prefix or path); None when unknown here."""
        ...

    async def session(self, ref: str) -> Lineage | None:
        """The lineage of a whole session (hash or prefix); None when unknown here."""
        ...

    async def patch(self, digest: str) -> bytes | None:
        """A recorded dirty-tree patch by its BLAKE3 digest; None when not available."""
        ...

    async def local_copy(self, path: str, digest: str) -> str | None:
        """A file on this machine with the recorded content of ``path``, if there is one."""
        ...

    def output_cache(self) -> OutputCache | None:
        """The run cache that may hold the recorded outputs by content (None: there is none)."""
        ...


async def _matches(path: str, digest: str) -> bool:
    if not os.path.isfile(path):
        return False
    try:
        _, digests = await anyio.to_thread.run_sync(digest_file, path)
    except OSError:
        return False
    return digests["blake3"] == digest


class LocalStoreSource:
    """The lineage recorded in a project's `.roar/roar.db`."""

    def __init__(self, project: Project) -> None:
        self.project = project

    @property
    def name(self) -> str:
        return f"local store {self.project.db_path}"

    async def artifact(self, ref: str) -> Lineage | None:
        from roar.api._queries import resolve_artifact

        async with Store.open(self.project.db_path) as store:
            try:
                artifact_id, shown = await resolve_artifact(store, self.project, ref)
            except NotFoundError:
                return None
            record = await store.artifact_record(artifact_id)
            digest = str(record["hash"])
            producers = record["produced_by"]
            if not producers:
                raise NotFoundError(
                    f"{shown} was never written by a recorded job (it is only ever read): "
                    "there is nothing to reproduce"
                )
            jobs = await self._upstream_jobs(store, digest)
        latest = producers[-1]
        target = Target(
            kind="artifact",
            ref=ref,
            hash=digest,
            path=str(latest["path"]),
            producer=str(latest["job_uid"]),
        )
        return Lineage(
            target=target, jobs=jobs, source=self.name, project_subdir=_subdir(self.project, jobs)
        )

    async def _upstream_jobs(self, store: Store, digest: str) -> list[Job]:
        """Every recorded producer of ``digest`` and, transitively, of their inputs; plus the
        build jobs of their sessions (the planner chooses among them)."""
        jobs: dict[str, Job] = {}
        seen: set[str] = set()
        todo = [digest]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            artifact_id = await store.artifact_id_for_digest(current)
            if artifact_id is None:
                continue
            record = await store.artifact_record(artifact_id)
            for use in record["produced_by"]:
                uid = str(use["job_uid"])
                if uid in jobs:
                    continue
                job = await store.job_by_uid(uid)
                jobs[uid] = job
                todo.extend(i.hash for i in job.inputs if i.hash not in seen)
                parent = ray_parent(job)
                if parent and parent not in jobs:
                    # A Ray task is re-created by the script that ran it.
                    script = await store.job_by_uid(parent)
                    jobs[parent] = script
                    todo.extend(i.hash for i in script.inputs if i.hash not in seen)
        for session_hash in sorted({j.session_hash for j in jobs.values()}):
            for session in await store.sessions_by_hash_prefix(session_hash):
                for job in await store.session_jobs(session.id):
                    if job.job_type == "build":
                        jobs.setdefault(job.job_uid, job)
        return sorted(jobs.values(), key=lambda j: (j.started_at, j.job_uid))

    async def session(self, ref: str) -> Lineage | None:
        from roar.api._queries import resolve_session

        async with Store.open(self.project.db_path) as store:
            try:
                found = await resolve_session(store, ref)
            except NotFoundError:
                return None
            jobs = await store.session_jobs(found.id)
        if not jobs:
            raise NotFoundError(f"session {found.hash[:12]} has no jobs: nothing to reproduce")
        target = Target(kind="session", ref=ref, hash=found.hash)
        return Lineage(
            target=target, jobs=jobs, source=self.name, project_subdir=_subdir(self.project, jobs)
        )

    async def patch(self, digest: str) -> bytes | None:
        path = self.project.roar_dir / "patches" / f"{digest}.patch"
        try:
            data = await anyio.Path(path).read_bytes()
        except OSError:
            return None
        return data if blake3.blake3(data).hexdigest() == digest else None

    async def local_copy(self, path: str, digest: str) -> str | None:
        candidate = self.project.absolute(path)
        return candidate if await _matches(candidate, digest) else None

    def output_cache(self) -> OutputCache | None:
        from roar.core.config import load

        config = load(self.project.config_path)
        if not config.get_bool("cache.enabled"):
            return None
        methods = tuple(config.get_list("cache.type"))
        return OutputCache(self.project.roar_dir / "cache", methods)


def _subdir(project: Project, jobs: Sequence[Job]) -> str:
    """The project root relative to the git repository the jobs recorded ('' at its root)."""
    repo = next((j.git.repo for j in jobs if j.git.repo), None)
    if not repo:
        return ""
    rel = os.path.relpath(project.root, repo)
    return "" if rel == "." or rel.startswith("..") else rel


async def read_reference(source: LineageSource, path: str, digest: str) -> bytes | None:
    """The original bytes of a small recorded output, when a source can still provide them."""
    where = await source.local_copy(path, digest)
    if where is None:
        return None
    try:
        if os.path.getsize(where) > MAX_REFERENCE_BYTES:
            return None
        return await anyio.Path(where).read_bytes()
    except OSError:
        return None


async def find_lineage(
    sources: Sequence[LineageSource], ref: str, *, session: bool
) -> tuple[Lineage, LineageSource]:
    """Ask each source in turn; the first that knows ``ref`` answers."""
    if not sources:
        raise UsageError(
            "no recorded lineage here: run inside the roar project that recorded it, "
            "or pass --from PROJECT_DIR"
        )
    for source in sources:
        found = await (source.session(ref) if session else source.artifact(ref))
        if found is not None:
            return found, source
    what = "session" if session else "artifact"
    where = ", ".join(s.name for s in sources)
    hint = "" if session else " (a session hash needs --lineage)"
    raise NotFoundError(f"no recorded {what} matches {ref!r} in {where}{hint}")


def local_sources(from_dir: Path | None, cwd: Path) -> list[LineageSource]:
    """The local store of ``from_dir`` (which must be a project), else of the nearest project
    above ``cwd``, else none (a registry source may still know the reference)."""
    from roar.core.project import find_project
    from roar.errors import NotAProjectError

    if from_dir is not None:
        project = Project(from_dir.expanduser().resolve())
        if not project.db_path.is_file():
            raise UsageError(f"{from_dir} is not a roar project (no .roar/roar.db there)")
        return [LocalStoreSource(project)]
    try:
        return [LocalStoreSource(find_project(cwd))]
    except NotAProjectError:
        return []
