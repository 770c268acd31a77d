"""Reading and writing the local database.

One connection per command. Each recorded job is one ``BEGIN IMMEDIATE`` transaction, so eight
concurrent ``roar run``s queue on the write lock (WAL plus a generous busy timeout) instead of
interleaving or failing, and a job is either stored whole or not at all.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import msgspec

from roar.core.fspath import from_stored, loaded_tree, stored_tree, to_stored
from roar.errors import NotFoundError, SchemaTooNewError, StoreError
from roar.models import ETAG_PREFIX, FileDigest, GitInfo, Job, NewJob
from roar.store._db import Database, connect
from roar.store.schema import MIGRATIONS, SCHEMA_VERSION

_T = TypeVar("_T")
# How the stored form's NUL looks inside a JSON column.
STORED_PREFIX_JSON = "\\u0000"

BUSY_TIMEOUT_MS = 60_000


_LABEL_COLUMNS = {"dag": "session_id", "job": "job_id", "artifact": "artifact_id"}


class LabelVersion(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    document: dict[str, Any]
    origin: str
    created_at: float


class StoredSession(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    hash: str
    created_at: float
    is_active: bool


def _new_session_hash() -> str:
    return secrets.token_hex(32)


class Store:
    """An open `.roar/roar.db`. Use :meth:`open` as an async context manager."""

    def __init__(self, conn: Database, path: Path) -> None:
        self._conn = conn
        self.path = path
        # One connection, one transaction at a time (early hashing may store cache rows while
        # another task records a job).
        self._write_lock = anyio.Lock()
        # Opened read-only (a read-only file or directory): queries work, recording refuses.
        self.readonly = False

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, *, create: bool = False) -> AsyncIterator[Store]:
        """Open (or with ``create``, create) the database, migrating it forward if needed."""
        if not create and not path.is_file():
            raise StoreError(f"{path} does not exist (run 'roar init')")
        if not create and path.stat().st_size == 0:
            # SQLite would silently start a new, empty database here: the history is gone.
            raise StoreError(
                f"{path} is empty (0 bytes): the job history was lost or truncated; restore it "
                "from a backup, or move it aside and run 'roar init' to start again"
            )
        readonly = not create and not is_writable(path)
        try:
            conn = await connect(path, busy_timeout=BUSY_TIMEOUT_MS / 1000, readonly=readonly)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        try:
            store = cls(conn, path)
            store.readonly = readonly
            await store._prepare()
            yield store
        finally:
            await conn.close()

    async def _prepare(self) -> None:
        conn = self._conn
        try:
            # Read the version before anything writes: a newer or damaged file stays untouched.
            row = await conn.fetchone("PRAGMA user_version")
            version = int(row[0]) if row else 0
            if version < 0:
                raise StoreError(
                    f"{self.path} has an invalid schema version ({version}): the file is damaged; "
                    "restore it from a backup, or move it aside and run 'roar init'"
                )
            if version > SCHEMA_VERSION:
                raise SchemaTooNewError(
                    f"{self.path} has schema version {version}, newer than this roar supports "
                    f"({SCHEMA_VERSION}); upgrade roar to use it"
                )
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA foreign_keys = ON")
            if self.readonly:
                if version < SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path} needs upgrading to schema {SCHEMA_VERSION} but is read-only"
                        " (let roar write .roar/ once, e.g. run 'roar log' as its owner)"
                    )
                return
            await conn.fetchone("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                await self._migrate(version)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc

    async def _migrate(self, current: int) -> None:
        conn = self._conn
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            row = await conn.fetchone("PRAGMA user_version")
            current = int(row[0]) if row else 0
            for number in range(current, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[number]):
                    await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise

    async def schema_version(self) -> int:
        row = await self._conn.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    # -- sessions ---------------------------------------------------------------------------

    async def active_session(self) -> StoredSession | None:
        row = await self._conn.fetchone(
            "SELECT id, hash, created_at, is_active FROM sessions WHERE is_active = 1"
        )
        return _session(row) if row else None

    async def _ensure_active_session(self) -> int:
        row = await self._conn.fetchone("SELECT id FROM sessions WHERE is_active = 1")
        if row:
            return int(row[0])
        rowid = await self._conn.execute(
            "INSERT INTO sessions (hash, created_at, is_active) VALUES (?, ?, 1)",
            (_new_session_hash(), time.time()),
        )
        assert rowid is not None
        return rowid

    # -- recording --------------------------------------------------------------------------

    async def record_job(self, new: NewJob) -> Job:
        """Store one job, its artifacts and edges in a single transaction; return it as stored."""
        try:
            async with self._write_lock:
                step_number, session_hash = await self._insert_job(_storable(new))
        except sqlite3.Error as exc:
            raise StoreError(f"could not record the job in {self.path}: {exc}") from exc
        # Built from what was written rather than read back: a job may have 20,000 outputs.
        return Job(
            job_uid=new.job_uid,
            step_number=step_number,
            job_type=new.job_type,
            command=new.command,
            argv=new.argv,
            cwd=new.cwd,
            started_at=new.started_at,
            duration_seconds=new.duration_seconds,
            exit_code=new.exit_code,
            signal=new.signal,
            git=new.git,
            inputs=_normalised(new.inputs),
            outputs=_normalised(new.outputs),
            session_hash=session_hash,
            step_identity=new.step_identity,
            tracer=new.tracer,
            env=dict(new.env),
            metadata=loaded_tree(json.loads(msgspec.json.encode(stored_tree(new.metadata)))),
        )

    async def _insert_job(self, new: NewJob) -> tuple[int, str]:
        conn = self._conn
        await conn.execute("BEGIN IMMEDIATE")
        try:
            session_id = await self._ensure_active_session()
            step_number = await self._step_number_for(session_id, new)
            job_id = await conn.execute(
                """INSERT INTO jobs (job_uid, session_id, step_number, step_identity, job_type,
                    command, argv, cwd, started_at, duration_seconds, exit_code, signal,
                    git_repo, git_commit, git_branch, git_dirty, git_remote, tracer, metadata)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    new.job_uid,
                    session_id,
                    step_number,
                    new.step_identity,
                    new.job_type,
                    new.command,
                    json.dumps(new.argv),
                    new.cwd,
                    new.started_at,
                    new.duration_seconds,
                    new.exit_code,
                    new.signal,
                    new.git.repo,
                    new.git.commit,
                    new.git.branch,
                    None if new.git.dirty is None else int(new.git.dirty),
                    new.git.remote_url,
                    new.tracer,
                    msgspec.json.encode(new.metadata).decode(),
                ),
            )
            assert job_id is not None
            now = time.time()
            await self._link(job_id, "job_inputs", new.inputs, now)
            await self._link(job_id, "job_outputs", new.outputs, now)
            if new.env:
                await conn.executemany(
                    "INSERT INTO job_env (job_id, name, value, source) VALUES (?, ?, ?, ?)",
                    [(job_id, k, v, "roar_env") for k, v in sorted(new.env.items())],
                )
            row = await conn.fetchone("SELECT hash FROM sessions WHERE id = ?", (session_id,))
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
        assert row is not None
        return step_number, str(row[0])

    async def _step_number_for(self, session_id: int, new: NewJob) -> int:
        if new.job_type in {"run", "build"}:
            row = await self._conn.fetchone(
                """SELECT step_number FROM jobs
                   WHERE session_id = ? AND step_identity = ? AND job_type IN ('run', 'build')
                   ORDER BY id DESC LIMIT 1""",
                (session_id, new.step_identity),
            )
            if row:
                return int(row[0])
            # The same command is the same step even when its I/O differs from run to run (a
            # bookkeeping file written only the first time must not split the step), unless the
            # job reads what that step wrote: then it is a later step that depends on it.
            row = await self._conn.fetchone(
                """SELECT step_number FROM jobs
                   WHERE session_id = ? AND command = ? AND job_type = ?
                   ORDER BY id DESC LIMIT 1""",
                (session_id, new.command, new.job_type),
            )
            if row and not await self._step_wrote_any(
                session_id, int(row[0]), [f.hash for f in new.inputs]
            ):
                return int(row[0])
        row = await self._conn.fetchone(
            "SELECT COALESCE(MAX(step_number), 0) FROM jobs WHERE session_id = ?", (session_id,)
        )
        return int(row[0] if row else 0) + 1

    async def _step_wrote_any(self, session_id: int, step: int, digests: list[str]) -> bool:
        """Whether a job of ``step`` wrote content with one of these BLAKE3 digests."""
        for chunk in _chunks(list(dict.fromkeys(digests))):
            marks = ",".join("?" * len(chunk))
            found = await self._conn.fetchone(
                f"""SELECT 1 FROM jobs j
                    JOIN job_outputs o ON o.job_id = j.id
                    JOIN artifact_hashes h ON h.artifact_id = o.artifact_id
                    WHERE j.session_id = ? AND j.step_number = ? AND h.algorithm = 'blake3'
                      AND h.digest IN ({marks}) LIMIT 1""",
                (session_id, step, *chunk),
            )
            if found:
                return True
        return False

    async def _link(self, job_id: int, table: str, files: Sequence[FileDigest], now: float) -> None:
        """Upsert the artifacts of ``files`` and link them to the job, in a constant number of
        statements whatever the number of files (a job may write tens of thousands)."""
        if not files:
            return
        conn = self._conn
        local = [f for f in files if not f.hash.startswith(ETAG_PREFIX)]
        if local:
            # Set-based through a scratch table: per-row statements with subqueries cost ~3x
            # more on 20,000 files. Resolution order as everywhere: an artifact is the one any
            # digest already names (its blake3), else the one created here (uid = blake3).
            await conn.execute(
                """CREATE TEMP TABLE IF NOT EXISTS link_files (
                       hash TEXT NOT NULL, size INTEGER, path TEXT NOT NULL, ranges TEXT,
                       source_type TEXT, source_url TEXT, artifact_id INTEGER)"""
            )
            await conn.execute(
                """CREATE TEMP TABLE IF NOT EXISTS link_digests (
                       hash TEXT NOT NULL, algorithm TEXT NOT NULL, digest TEXT NOT NULL)"""
            )
            await conn.execute("DELETE FROM temp.link_files")
            await conn.execute("DELETE FROM temp.link_digests")
            await conn.executemany(
                """INSERT INTO temp.link_files (hash, size, path, ranges, source_type, source_url)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                [(f.hash, f.size, f.path, _ranges(f), *_source(f.path)) for f in local],
            )
            extra = [
                (f.hash, alg, digest)
                for f in local
                for alg, digest in _digests(f)
                if alg != "blake3"
            ]
            if extra:
                await conn.executemany(
                    "INSERT INTO temp.link_digests (hash, algorithm, digest) VALUES (?, ?, ?)",
                    extra,
                )
            await conn.execute(
                """UPDATE temp.link_files SET artifact_id = (
                       SELECT artifact_id FROM artifact_hashes
                       WHERE algorithm = 'blake3' AND digest = link_files.hash)"""
            )
            await conn.execute(
                """INSERT OR IGNORE INTO artifacts (uid, size, first_seen_at, first_seen_path,
                       source_type, source_url)
                   SELECT hash, size, ?, path, source_type, source_url FROM temp.link_files
                   WHERE artifact_id IS NULL ORDER BY rowid""",
                (now,),
            )
            await conn.execute(
                """UPDATE temp.link_files
                   SET artifact_id = (SELECT id FROM artifacts WHERE uid = link_files.hash)
                   WHERE artifact_id IS NULL"""
            )
            await conn.execute(
                """INSERT OR IGNORE INTO artifact_hashes (artifact_id, algorithm, digest)
                   SELECT artifact_id, 'blake3', hash FROM temp.link_files
                   WHERE artifact_id IS NOT NULL"""
            )
            if extra:
                await conn.execute(
                    """INSERT OR IGNORE INTO artifact_hashes (artifact_id, algorithm, digest)
                       SELECT f.artifact_id, d.algorithm, d.digest
                       FROM temp.link_digests d JOIN temp.link_files f ON f.hash = d.hash
                       WHERE f.artifact_id IS NOT NULL"""
                )
            await conn.execute(
                f"""INSERT OR IGNORE INTO {table} (job_id, artifact_id, path, byte_ranges)
                    SELECT ?, artifact_id, path, ranges FROM temp.link_files
                    WHERE artifact_id IS NOT NULL ORDER BY rowid""",
                (job_id,),
            )
        # Objects known only by their S3 ETag (a ranged read, a multipart upload): few per job,
        # each resolved to the artifact that any of its digests already names.
        for f in files:
            if not f.hash.startswith(ETAG_PREFIX):
                continue
            digests = _digests(f)
            marks = " OR ".join("(algorithm = ? AND digest = ?)" for _ in digests)
            row = await conn.fetchone(
                f"SELECT artifact_id FROM artifact_hashes WHERE {marks} LIMIT 1",
                [v for pair in digests for v in pair],
            )
            if row is not None:
                artifact_id = int(row[0])
            else:
                inserted = await conn.execute(
                    """INSERT INTO artifacts (uid, size, first_seen_at, first_seen_path,
                           source_type, source_url) VALUES (?, ?, ?, ?, ?, ?)""",
                    (f"{f.hash}:{f.path}", f.size, now, f.path, *_source(f.path)),
                )
                assert inserted is not None
                artifact_id = inserted
            await conn.executemany(
                """INSERT OR IGNORE INTO artifact_hashes (artifact_id, algorithm, digest)
                   VALUES (?, ?, ?)""",
                [(artifact_id, alg, digest) for alg, digest in digests],
            )
            await conn.execute(
                f"""INSERT OR IGNORE INTO {table} (job_id, artifact_id, path, byte_ranges)
                    VALUES (?, ?, ?, ?)""",
                (job_id, artifact_id, f.path, _ranges(f)),
            )

    # -- reading ----------------------------------------------------------------------------

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

    # -- sessions, jobs: lifecycle -----------------------------------------------------------

    async def start_new_session(self) -> StoredSession:
        """Deactivate the active session (kept whole) and make a fresh, empty one active."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                await self._conn.execute("UPDATE sessions SET is_active = 0 WHERE is_active = 1")
                await self._ensure_active_session()
                await self._conn.commit()
            except BaseException:
                await self._conn.rollback()
                raise
        session = await self.active_session()
        assert session is not None
        return session

    async def sessions_by_hash_prefix(self, prefix: str) -> list[StoredSession]:
        rows = await self._conn.fetchall(
            "SELECT id, hash, created_at, is_active FROM sessions WHERE hash LIKE ? ESCAPE '\\'",
            (_like_prefix(prefix.lower()),),
        )
        return [_session(r) for r in rows]

    async def delete_job(self, job_uid: str) -> None:
        """Remove one job and its edges; artifacts stay (other jobs or labels may use them)."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                await self._conn.execute("DELETE FROM jobs WHERE job_uid = ?", (job_uid,))
                await self._conn.commit()
            except BaseException:
                await self._conn.rollback()
                raise

    async def add_edges(
        self, job_uid: str, inputs: Sequence[FileDigest], outputs: Sequence[FileDigest]
    ) -> None:
        """Attach more inputs/outputs to a recorded job (S3 traffic a daemon saw for it)."""
        job_id = await self.job_id(job_uid)
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                await self._link(job_id, "job_inputs", inputs, now)
                await self._link(job_id, "job_outputs", outputs, now)
                await self._conn.commit()
            except BaseException:
                await self._conn.rollback()
                raise

    async def job_uid_by_command(self, command: str) -> str | None:
        """The newest job recorded with exactly this command line, if any."""
        row = await self._conn.fetchone(
            "SELECT job_uid FROM jobs WHERE command = ? ORDER BY id DESC LIMIT 1", (command,)
        )
        return None if row is None else str(row[0])

    async def extend_job(
        self,
        job_uid: str,
        inputs: Sequence[FileDigest],
        outputs: Sequence[FileDigest],
        *,
        last_seen: float,
        deleted: Sequence[str] = (),
    ) -> None:
        """Grow a running proxy session's job: more edges, a later end, more deleted objects."""
        job_id = await self.job_id(job_uid)
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                await self._link(job_id, "job_inputs", inputs, now)
                await self._link(job_id, "job_outputs", outputs, now)
                row = await self._conn.fetchone(
                    "SELECT json_extract(metadata, '$.s3_deleted') FROM jobs WHERE id = ?",
                    (job_id,),
                )
                known = _json_list(row[0] if row else None)
                merged = list(dict.fromkeys([*known, *deleted]))
                await self._conn.execute(
                    """UPDATE jobs SET
                           duration_seconds = MAX(duration_seconds, ? - started_at),
                           metadata = json_set(metadata, '$.s3_deleted', json(?))
                       WHERE id = ?""",
                    (last_seen, json.dumps(merged), job_id),
                )
                await self._conn.commit()
            except BaseException:
                await self._conn.rollback()
                raise

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

    async def session_job_count(self, session_id: int) -> int:
        row = await self._conn.fetchone(
            "SELECT COUNT(*) FROM jobs WHERE session_id = ?", (session_id,)
        )
        return int(row[0]) if row else 0

    # -- artifacts and labels ---------------------------------------------------------------

    async def artifacts_by_digest_prefix(self, prefix: str) -> list[tuple[int, str]]:
        """(artifact id, blake3 digest) of artifacts whose any digest starts with ``prefix``."""
        rows = await self._conn.fetchall(
            """SELECT DISTINCT h.artifact_id, b.digest FROM artifact_hashes h
               JOIN artifact_hashes b ON b.artifact_id = h.artifact_id AND b.algorithm = 'blake3'
               WHERE h.digest LIKE ? ESCAPE '\\' LIMIT 20""",
            (_like_prefix(prefix.lower()),),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def artifact_id_for_digest(self, blake3_digest: str) -> int | None:
        row = await self._conn.fetchone(
            "SELECT artifact_id FROM artifact_hashes WHERE algorithm = 'blake3' AND digest = ?",
            (blake3_digest,),
        )
        return int(row[0]) if row else None

    async def latest_artifact_at_path(self, path: str) -> int | None:
        row = await self._conn.fetchone(
            """SELECT e.artifact_id FROM (
                   SELECT job_id, artifact_id FROM job_outputs WHERE path = ?1
                   UNION ALL SELECT job_id, artifact_id FROM job_inputs WHERE path = ?1) e
               JOIN jobs j ON j.id = e.job_id ORDER BY j.started_at DESC, j.id DESC LIMIT 1""",
            (to_stored(path),),
        )
        return int(row[0]) if row else None

    async def producers(self, digests: Sequence[str]) -> dict[str, str]:
        """For each BLAKE3 digest some recorded job wrote, the uid of the earliest such job."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(digests))):
            marks = ",".join("?" * len(chunk))
            for digest, uid in await self._conn.fetchall(
                f"""SELECT h.digest, j.job_uid FROM artifact_hashes h
                    JOIN job_outputs o ON o.artifact_id = h.artifact_id
                    JOIN jobs j ON j.id = o.job_id
                    WHERE h.algorithm = 'blake3' AND h.digest IN ({marks})
                    ORDER BY j.started_at DESC""",
                chunk,
            ):
                found[str(digest)] = str(uid)
        return found

    async def artifact_record(self, artifact_id: int) -> dict[str, Any]:
        """An artifact's digests and size, and every job that read or wrote it (oldest first)."""
        row = await self._conn.fetchone(
            "SELECT size, kind, source_type, source_url, first_seen_at, first_seen_path "
            "FROM artifacts WHERE id = ?",
            (artifact_id,),
        )
        if row is None:
            raise NotFoundError(f"no artifact {artifact_id}")
        hashes: dict[str, str] = dict(
            await self._conn.fetchall(
                "SELECT algorithm, digest FROM artifact_hashes WHERE artifact_id = ? "
                "ORDER BY algorithm",
                (artifact_id,),
            )
        )
        usage = await self._conn.fetchall(
            """SELECT e.role, e.path, j.job_uid, j.step_number, j.job_type, j.command, s.hash
               FROM (SELECT 'output' AS role, job_id, path FROM job_outputs WHERE artifact_id = ?1
                     UNION ALL
                     SELECT 'input', job_id, path FROM job_inputs WHERE artifact_id = ?1) e
               JOIN jobs j ON j.id = e.job_id JOIN sessions s ON s.id = j.session_id
               ORDER BY j.started_at, j.id""",
            (artifact_id,),
        )
        return {
            "hash": hashes.get("blake3"),
            "hashes": hashes,
            "size": row[0],
            "kind": row[1],
            "source_type": row[2],
            "source_url": row[3],
            "first_seen_at": row[4],
            "first_seen_path": None if row[5] is None else from_stored(row[5]),
            "produced_by": [_usage(u) for u in usage if u[0] == "output"],
            "consumed_by": [_usage(u) for u in usage if u[0] == "input"],
        }

    async def job_id(self, job_uid: str) -> int:
        row = await self._conn.fetchone("SELECT id FROM jobs WHERE job_uid = ?", (job_uid,))
        if row is None:
            raise NotFoundError(f"no job {job_uid}")
        return int(row[0])

    async def label_versions(self, entity: str, target: int) -> list[LabelVersion]:
        """Every version of an entity's label document, oldest first."""
        column = _LABEL_COLUMNS[entity]
        rows = await self._conn.fetchall(
            f"""SELECT version, document, write_origin, created_at FROM labels
                WHERE entity_type = ? AND {column} = ? ORDER BY version""",
            (entity, target),
        )
        return [
            LabelVersion(
                version=int(r[0]),
                document=_json_loads(r[1]),
                origin=str(r[2]),
                created_at=float(r[3]),
            )
            for r in rows
        ]

    async def current_labels(
        self, entity: str, targets: Sequence[int]
    ) -> dict[int, dict[str, Any]]:
        """The latest label document of each target that has one."""
        column = _LABEL_COLUMNS[entity]
        found: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(list(targets)):
            marks = ",".join("?" * len(chunk))
            for target, document in await self._conn.fetchall(
                f"""SELECT l.{column}, l.document FROM labels l
                    WHERE l.entity_type = ? AND l.{column} IN ({marks}) AND l.version = (
                        SELECT MAX(version) FROM labels m
                        WHERE m.entity_type = l.entity_type AND m.{column} = l.{column})""",
                (entity, *chunk),
            ):
                found[int(target)] = _json_loads(document)
        return found

    async def session_label_documents(
        self, session_id: int
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """Current labels of a session, of its jobs (by uid) and of its jobs' artifacts (by
        BLAKE3 digest), in three queries."""
        session_docs = await self.current_labels("dag", [session_id])
        job_rows = await self._conn.fetchall(
            "SELECT id, job_uid FROM jobs WHERE session_id = ?", (session_id,)
        )
        uid_of = {int(r[0]): str(r[1]) for r in job_rows}
        job_docs = await self.current_labels("job", list(uid_of))
        artifact_rows = await self._conn.fetchall(
            """SELECT DISTINCT h.artifact_id, h.digest FROM labels l
               JOIN artifact_hashes h ON h.artifact_id = l.artifact_id AND h.algorithm = 'blake3'
               WHERE l.entity_type = 'artifact'"""
        )
        digest_of = {int(r[0]): str(r[1]) for r in artifact_rows}
        artifact_docs = await self.current_labels("artifact", list(digest_of))
        return (
            session_docs.get(session_id, {}),
            {uid_of[k]: v for k, v in job_docs.items()},
            {digest_of[k]: v for k, v in artifact_docs.items()},
        )

    async def write_label(
        self, entity: str, target: int, document: dict[str, Any], *, origin: str = "user"
    ) -> int | None:
        """Append ``document`` as the next version; None (and nothing written) if unchanged."""
        column = _LABEL_COLUMNS[entity]
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = await self._conn.fetchone(
                    f"""SELECT version, document FROM labels WHERE entity_type = ? AND {column} = ?
                        ORDER BY version DESC LIMIT 1""",
                    (entity, target),
                )
                if row is not None and _json_loads(row[1]) == document:
                    await self._conn.rollback()
                    return None
                version = (int(row[0]) if row else 0) + 1
                await self._conn.execute(
                    f"""INSERT INTO labels (entity_type, {column}, version, document, write_origin,
                        created_at) VALUES (?, ?, ?, ?, ?, ?)""",
                    (entity, target, version, json.dumps(document, sort_keys=True), origin,
                     time.time()),
                )  # fmt: skip
                await self._conn.commit()
            except BaseException:
                await self._conn.rollback()
                raise
        return version

    # -- hash cache -------------------------------------------------------------------------

    async def cached_digests(
        self, keys: Iterable[tuple[int, int, int, int, int]], algorithm: str
    ) -> dict[tuple[int, int, int, int, int], str]:
        """Digests for (device, inode, size, mtime_ns, ctime_ns) keys whose file is unchanged."""
        wanted = list(keys)
        hits: dict[tuple[int, int, int, int, int], str] = {}
        for chunk in _chunks(wanted, 300):
            clause = " OR ".join("(device = ? AND inode = ?)" for _ in chunk)
            params: list[Any] = [algorithm]
            for key in chunk:
                params += [key[0], key[1]]
            for dev, ino, size, mtime, ctime, digest in await self._conn.fetchall(
                f"""SELECT device, inode, size, mtime_ns, ctime_ns, digest FROM hash_cache
                    WHERE algorithm = ? AND ({clause})""",
                params,
            ):
                key = (int(dev), int(ino), int(size), int(mtime), int(ctime))
                hits[key] = str(digest)
        return {k: hits[k] for k in wanted if k in hits}

    async def remember_digests(
        self, entries: Iterable[tuple[tuple[int, int, int, int, int], str, str, str]]
    ) -> None:
        """Store (key, algorithm, digest, path) rows; one short transaction."""
        rows = [
            (*key, alg, digest, to_stored(path), time.time()) for key, alg, digest, path in entries
        ]
        if not rows:
            return
        try:
            async with self._write_lock:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    await self._conn.executemany(
                        """INSERT OR REPLACE INTO hash_cache
                           (device, inode, size, mtime_ns, ctime_ns, algorithm, digest, path,
                            cached_at)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                        rows,
                    )
                    await self._conn.commit()
                except BaseException:
                    await self._conn.rollback()
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"could not update the hash cache in {self.path}: {exc}") from exc


def _usage(row: Sequence[Any]) -> dict[str, Any]:
    ref = f"@B{row[3]}" if row[4] == "build" else f"@{row[3]}"
    return {
        "path": from_stored(row[1]), "job_uid": row[2], "step_ref": ref,
        "command": from_stored(row[5]),
        "session_hash": row[6],
    }  # fmt: skip


def _normalised(files: Sequence[FileDigest]) -> list[FileDigest]:
    """Files as the store gives them back: one per (path, content), sorted, blake3 in hashes."""
    unique = {(f.path, f.hash): f for f in files}
    return [
        FileDigest(
            path=f.path,
            hash=f.hash,
            size=f.size,
            hashes=dict(_digests(f)),
            byte_ranges=f.byte_ranges,
        )
        for _, f in sorted(unique.items())
    ]


def _digests(f: FileDigest) -> list[tuple[str, str]]:
    pairs = dict(f.hashes)
    if f.hash.startswith(ETAG_PREFIX):
        pairs.setdefault("etag", f.hash[len(ETAG_PREFIX) :])
    else:
        pairs["blake3"] = f.hash
    return sorted(pairs.items())


def _source(path: str) -> tuple[str | None, str | None]:
    scheme, sep, _ = path.partition("://")
    return (scheme, path) if sep else (None, None)


def _ranges(f: FileDigest) -> str | None:
    return json.dumps([list(r) for r in f.byte_ranges]) if f.byte_ranges else None


def _session(row: Sequence[Any]) -> StoredSession:
    return StoredSession(
        id=int(row[0]), hash=str(row[1]), created_at=float(row[2]), is_active=bool(row[3])
    )


def _chunks(items: Sequence[Any], size: int = 900) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement knows the grammar)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def database_exists(path: Path) -> bool:
    return os.path.isfile(path)


def is_writable(path: Path) -> bool:
    """Whether this process may write the database and create its -wal/-shm files beside it
    (access(2) also says no for an immutable file, even to root)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def require_writable(path: Path) -> None:
    """Refuse before anything runs when a job could not be recorded in ``path``."""
    if not is_writable(path):
        what = path if not os.access(path, os.W_OK) else path.parent
        raise StoreError(
            f"cannot record jobs: {what} is read-only; nothing was run (make it writable, "
            "or run roar as the project's owner)"
        )


_METADATA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _json_list(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    try:
        decoded = json.loads(value)
    except ValueError:
        return []
    return [str(item) for item in decoded] if isinstance(decoded, list) else []


def _metadata_column(keys: Sequence[str] | None) -> str:
    """The SELECT expression for a job's metadata: all of it, none, or the values of some
    top-level keys as a JSON array (picked out by SQLite, so the rest never leaves the database;
    ``json_extract`` with two or more paths always answers with an array)."""
    if keys is None:
        return "j.metadata"
    if not keys:
        return "'{}'"
    return f"json_extract(j.metadata, {', '.join('?' * max(2, len(keys)))})"


def _metadata_params(keys: Sequence[str] | None) -> tuple[str, ...]:
    if not keys:
        return ()
    for key in keys:
        if not _METADATA_KEY.fullmatch(key):
            raise ValueError(f"not a metadata key: {key!r}")
    paths = tuple(f"$.{key}" for key in keys)
    return paths * 2 if len(paths) == 1 else paths


def _guarded(decode: Callable[[str], _T]) -> Callable[[str], _T]:
    """A decoder of a stored JSON column that reports a damaged value as a StoreError."""

    def run(text: str) -> _T:
        try:
            return decode(text)
        except (msgspec.DecodeError, ValueError, TypeError) as exc:
            raise StoreError(
                f"a stored record is damaged ({exc}); restore .roar/roar.db from a backup"
            ) from exc

    return run


_decode_argv = _guarded(msgspec.json.Decoder(list[str]).decode)
_decode_object = _guarded(msgspec.json.Decoder(dict[str, Any]).decode)
_decode_values = _guarded(msgspec.json.Decoder(list[Any]).decode)
_json_loads: Callable[[str], Any] = _guarded(json.loads)


def _storable(new: NewJob) -> NewJob:
    """``new`` with every string SQLite cannot hold (non-UTF-8 file names, arguments, values) in
    the lossless stored form of roar.core.fspath; the same job when there are none."""
    return msgspec.structs.replace(
        new,
        command=to_stored(new.command),
        argv=[to_stored(a) for a in new.argv],
        cwd=to_stored(new.cwd),
        git=msgspec.structs.replace(
            new.git,
            repo=None if new.git.repo is None else to_stored(new.git.repo),
            branch=None if new.git.branch is None else to_stored(new.git.branch),
            remote_url=None if new.git.remote_url is None else to_stored(new.git.remote_url),
        ),
        inputs=[_storable_file(f) for f in new.inputs],
        outputs=[_storable_file(f) for f in new.outputs],
        env={to_stored(k): to_stored(v) for k, v in new.env.items()},
        metadata=stored_tree(new.metadata),
    )


def _storable_file(f: FileDigest) -> FileDigest:
    path = to_stored(f.path)
    return f if path is f.path else msgspec.structs.replace(f, path=path)


def _decode_metadata(text: str, keys: Sequence[str] | None) -> dict[str, Any]:
    if STORED_PREFIX_JSON in text:  # a non-UTF-8 string was stored: decode it back
        return loaded_tree(_decode_metadata_plain(text, keys))  # type: ignore[no-any-return]
    return _decode_metadata_plain(text, keys)


def _decode_metadata_plain(text: str, keys: Sequence[str] | None) -> dict[str, Any]:
    if keys is None:
        return _decode_object(text)
    if not keys:
        return {}
    # A key the job's metadata does not have comes back as null: leave it out.
    return {k: v for k, v in zip(keys, _decode_values(text), strict=False) if v is not None}
