"""Reading jobs and their edges back (one query per table, whatever the job count)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from roar.core.fspath import from_stored, to_stored
from roar.errors import NotFoundError
from roar.models import ETAG_PREFIX, FileDigest, GitInfo, Job
from roar.store._rows import (
    _chunks,
    _decode_argv,
    _decode_metadata,
    _json_loads,
    _like_prefix,
    _metadata_column,
    _metadata_params,
)
from roar.store._sessions import SessionStore


class JobReader(SessionStore):
    """Reading jobs and their edges back (one query per table, whatever the job count)."""

    async def session_jobs(
        self,
        session_id: int,
        *,
        with_edges: bool = True,
        metadata_keys: Sequence[str] | None = None,
    ) -> list[Job]:
        """Every job of a session, oldest first, with inputs and outputs (unless not wanted:
        listing a thousand jobs should not read every edge).

        ``metadata_keys`` picks the top-level metadata keys to load (``()``: none; ``None``: all).
        A job's metadata holds its whole environment (tens of KB); a query over a thousand jobs
        that needs none of it must not decode megabytes of JSON.
        """
        return await self._jobs(
            "j.session_id = ?", (session_id,), with_edges=with_edges, metadata_keys=metadata_keys
        )

    async def job_by_uid(self, uid: str) -> Job:
        jobs = await self._jobs("j.job_uid = ?", (uid,))
        if not jobs:
            raise NotFoundError(f"no job {uid}")
        return jobs[0]

    async def jobs_by_uid_prefix(self, prefix: str) -> list[Job]:
        return await self._jobs("j.job_uid LIKE ? ESCAPE '\\'", (_like_prefix(prefix),))

    async def jobs_by_argv(self, argv: list[str], job_type: str, limit: int = 20) -> list[Job]:
        """The newest ``limit`` jobs that ran exactly ``argv`` as ``job_type``, newest first."""
        # Stored as the job insert writes it: JSON of the lossless stored form.
        stored = json.dumps([to_stored(a) for a in argv])
        jobs = await self._jobs(
            """j.id IN (SELECT id FROM jobs WHERE argv = ? AND job_type = ?
                        ORDER BY id DESC LIMIT ?)""",
            (stored, job_type, limit),
        )
        return list(reversed(jobs))

    async def step_jobs(self, session_id: int, step_number: int, *, build: bool) -> list[Job]:
        kind = "j.job_type = 'build'" if build else "j.job_type != 'build'"
        return await self._jobs(
            f"j.session_id = ? AND j.step_number = ? AND {kind}", (session_id, step_number)
        )

    async def _jobs(
        self,
        where: str,
        params: tuple[Any, ...],
        *,
        with_edges: bool = True,
        metadata_keys: Sequence[str] | None = None,
    ) -> list[Job]:
        conn = self._conn
        rows = await conn.fetchall(
            f"""SELECT j.id, j.job_uid, j.step_number, j.job_type, j.command, j.argv, j.cwd,
                       j.started_at, j.duration_seconds, j.exit_code, j.signal, j.git_repo,
                       j.git_commit, j.git_branch, j.git_dirty, j.git_remote, j.tracer,
                       {_metadata_column(metadata_keys)}, j.step_identity, s.hash
                FROM jobs j JOIN sessions s ON s.id = j.session_id
                WHERE {where} ORDER BY j.started_at, j.id""",
            (*_metadata_params(metadata_keys), *params),
        )
        if not rows:
            return []
        ids = [int(r[0]) for r in rows]
        inputs = await self._edges("job_inputs", ids) if with_edges else {}
        outputs = await self._edges("job_outputs", ids) if with_edges else {}
        envs: dict[int, dict[str, str]] = defaultdict(dict)
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for job_id, name, value in await conn.fetchall(
                f"SELECT job_id, name, value FROM job_env WHERE job_id IN ({marks})", chunk
            ):
                envs[int(job_id)][from_stored(str(name))] = from_stored(str(value))
        jobs = []
        for r in rows:
            job_id = int(r[0])
            jobs.append(
                Job(
                    job_uid=r[1],
                    step_number=int(r[2]),
                    job_type=r[3],
                    command=from_stored(r[4]),
                    argv=[from_stored(a) for a in _decode_argv(r[5])],
                    cwd=from_stored(r[6]),
                    started_at=float(r[7]),
                    duration_seconds=float(r[8]),
                    exit_code=r[9],
                    signal=r[10],
                    git=GitInfo(
                        repo=None if r[11] is None else from_stored(r[11]),
                        commit=r[12],
                        branch=None if r[13] is None else from_stored(r[13]),
                        dirty=None if r[14] is None else bool(r[14]),
                        remote_url=None if r[15] is None else from_stored(r[15]),
                    ),
                    tracer=r[16],
                    metadata=_decode_metadata(r[17], metadata_keys),
                    step_identity=r[18],
                    session_hash=r[19],
                    inputs=inputs.get(job_id, []),
                    outputs=outputs.get(job_id, []),
                    env=envs.get(job_id, {}),
                )
            )
        return jobs

    async def _edges(self, table: str, job_ids: list[int]) -> dict[int, list[FileDigest]]:
        found: dict[tuple[int, str, int], tuple[int, dict[str, str], str | None]] = {}
        for chunk in _chunks(job_ids):
            marks = ",".join("?" * len(chunk))
            for (
                job_id,
                path,
                artifact_id,
                size,
                algorithm,
                digest,
                ranges,
            ) in await self._conn.fetchall(
                f"""SELECT e.job_id, e.path, e.artifact_id, a.size, h.algorithm, h.digest,
                           e.byte_ranges
                    FROM {table} e
                    JOIN artifacts a ON a.id = e.artifact_id
                    JOIN artifact_hashes h ON h.artifact_id = a.id
                    WHERE e.job_id IN ({marks})""",
                chunk,
            ):
                key = (int(job_id), from_stored(str(path)), int(artifact_id))
                entry = found.setdefault(key, (int(size or 0), {}, ranges))
                entry[1][str(algorithm)] = str(digest)
        result: dict[int, list[FileDigest]] = defaultdict(list)
        for (job_id, path, _), (size, hashes, ranges) in found.items():
            identity = hashes.get("blake3") or ETAG_PREFIX + hashes.get("etag", "")
            result[job_id].append(
                FileDigest(
                    path=path,
                    hash=identity,
                    size=size,
                    hashes=dict(sorted(hashes.items())),
                    byte_ranges=tuple(tuple(r) for r in _json_loads(ranges)) if ranges else (),
                )
            )
        for files in result.values():
            files.sort(key=lambda f: f.path)
        return result

    async def recent_jobs(
        self,
        limit: int | None = None,
        *,
        with_edges: bool = True,
        metadata_keys: Sequence[str] | None = None,
    ) -> list[Job]:
        """Jobs of the active session, oldest first (the newest ``limit`` when given)."""
        session = await self.active_session()
        if session is None:
            return []
        if limit is None:
            return await self.session_jobs(
                session.id, with_edges=with_edges, metadata_keys=metadata_keys
            )
        newest = await self._conn.fetchall(
            """SELECT id FROM jobs WHERE session_id = ?
               ORDER BY started_at DESC, id DESC LIMIT ?""",
            (session.id, limit),
        )
        if not newest:
            return []
        marks = ",".join("?" * len(newest))
        return await self._jobs(
            f"j.id IN ({marks})",
            tuple(int(r[0]) for r in newest),
            with_edges=with_edges,
            metadata_keys=metadata_keys,
        )

    async def job_uid_by_command(self, command: str) -> str | None:
        """The newest job recorded with exactly this command line, if any."""
        row = await self._conn.fetchone(
            "SELECT job_uid FROM jobs WHERE command = ? ORDER BY id DESC LIMIT 1", (command,)
        )
        return None if row is None else str(row[0])
