"""Writing jobs: one transaction per job; steps, artifacts and edges, set-based."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

import msgspec

from roar.core.fspath import loaded_tree, stored_tree
from roar.hashing.composite import ALGORITHM as COMPOSITE_ALGORITHM
from roar.models import ETAG_PREFIX, Composite, FileDigest, Job, NewJob
from roar.store._jobs_read import JobReader
from roar.store._rows import (
    _chunks,
    _digests,
    _json_list,
    _normalised,
    _ranges,
    _source,
    _storable,
)
from roar.store._staging import Staging, StagingStore


class JobWriter(JobReader, StagingStore):
    """Writing jobs: one transaction per job; steps, artifacts and edges, set-based."""

    async def record_job(self, new: NewJob, staging: Staging | None = None) -> Job:
        """Store one job, its artifacts and edges in a single transaction; return it as stored.

        ``staging`` holds what the job put in the store while its command ran (see
        ``_staging``): those rows are linked, not written again."""
        async with self._transaction("record the job in"):
            step_number, session_hash = await self._insert_job(_storable(new), staging)
        if staging is not None:
            staging.rows.clear()
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

    async def _insert_job(self, new: NewJob, staging: Staging | None = None) -> tuple[int, str]:
        """The job's rows, inside the caller's transaction."""
        conn = self._conn
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
        inputs, outputs = new.inputs, new.outputs
        if staging is not None:
            inputs = await self._link_staged(job_id, "job_inputs", inputs, staging)
            outputs = await self._link_staged(job_id, "job_outputs", outputs, staging)
        await self._link(job_id, "job_inputs", inputs, now)
        await self._link(job_id, "job_outputs", outputs, now, new.sources)
        for composite in new.composites:
            await self._link_composite(job_id, composite, now)
        if staging is not None:
            await self._release_staged(staging)
        if new.env:
            await conn.executemany(
                "INSERT INTO job_env (job_id, name, value, source) VALUES (?, ?, ?, ?)",
                [(job_id, k, v, "roar_env") for k, v in sorted(new.env.items())],
            )
        row = await conn.fetchone("SELECT hash FROM sessions WHERE id = ?", (session_id,))
        assert row is not None
        return step_number, str(row[0])

    async def _step_number_for(self, session_id: int, new: NewJob) -> int:
        if new.job_type in {"get", "put"}:
            # The same transfer again (same source, same files) is the same step, re-executed.
            row = await self._conn.fetchone(
                """SELECT step_number FROM jobs
                   WHERE session_id = ? AND step_identity = ? AND job_type = ?
                   ORDER BY id DESC LIMIT 1""",
                (session_id, new.step_identity, new.job_type),
            )
            if row:
                return int(row[0])
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

    async def _link(
        self,
        job_id: int,
        table: str,
        files: Sequence[FileDigest],
        now: float,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        """Upsert the artifacts of ``files`` and link them to the job, in a constant number of
        statements whatever the number of files (a job may write tens of thousands: see
        ``_linking``).
        ``sources`` names the URL a file was downloaded from (kept on its artifact)."""
        sources = sources or {}
        if not files:
            return
        conn = self._conn
        local = [f for f in files if not f.hash.startswith(ETAG_PREFIX)]
        if local:
            extra = await self._load_link_files(local, sources)
            await self._resolve_link_files(now, extra=extra)
            await conn.execute(
                f"""INSERT OR IGNORE INTO {table} (job_id, artifact_id, path, byte_ranges)
                    SELECT ?, artifact_id, path, ranges FROM temp.link_files
                    WHERE artifact_id IS NOT NULL ORDER BY rowid""",
                (job_id,),
            )
            if sources:
                # Content seen before (another path) learns where it can be downloaded from.
                await conn.execute(
                    """UPDATE artifacts SET
                           source_type = (SELECT f.source_type FROM temp.link_files f
                                          WHERE f.artifact_id = artifacts.id
                                            AND f.source_url IS NOT NULL LIMIT 1),
                           source_url = (SELECT f.source_url FROM temp.link_files f
                                         WHERE f.artifact_id = artifacts.id
                                           AND f.source_url IS NOT NULL LIMIT 1)
                       WHERE source_url IS NULL AND id IN (
                           SELECT artifact_id FROM temp.link_files WHERE source_url IS NOT NULL)"""
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

    async def _link_composite(self, job_id: int, composite: Composite, now: float) -> None:
        """The composite artifact (uid = its digest), its components, and the job's use of it."""
        conn = self._conn
        source_type, source_url = _source(composite.path)
        await conn.execute(
            """INSERT OR IGNORE INTO artifacts (uid, size, kind, first_seen_at, first_seen_path,
                   source_type, source_url) VALUES (?, ?, 'composite', ?, ?, ?, ?)""",
            (composite.hash, composite.size, now, composite.path, source_type, source_url),
        )
        row = await conn.fetchone("SELECT id FROM artifacts WHERE uid = ?", (composite.hash,))
        assert row is not None
        composite_id = int(row[0])
        await conn.execute(
            """INSERT OR IGNORE INTO artifact_hashes (artifact_id, algorithm, digest)
               VALUES (?, ?, ?)""",
            (composite_id, COMPOSITE_ALGORITHM, composite.hash),
        )
        for chunk in _chunks(composite.components):
            marks = ",".join("?" * len(chunk))
            found: dict[str, int] = dict(
                await conn.fetchall(
                    f"""SELECT digest, artifact_id FROM artifact_hashes
                        WHERE algorithm = 'blake3' AND digest IN ({marks})""",
                    [c.hash for c in chunk],
                )
            )
            await conn.executemany(
                """INSERT OR IGNORE INTO artifact_components (composite_id, component_id, relpath)
                   VALUES (?, ?, ?)""",
                [(composite_id, found[c.hash], c.relpath) for c in chunk if c.hash in found],
            )
        await conn.execute(
            """INSERT OR IGNORE INTO job_composites (job_id, artifact_id, role, path)
               VALUES (?, ?, ?, ?)""",
            (job_id, composite_id, composite.role, composite.path),
        )

    async def delete_job(self, job_uid: str) -> None:
        """Remove one job and its edges; artifacts stay (other jobs or labels may use them)."""
        async with self._transaction():
            await self._conn.execute("DELETE FROM jobs WHERE job_uid = ?", (job_uid,))

    async def add_edges(
        self, job_uid: str, inputs: Sequence[FileDigest], outputs: Sequence[FileDigest]
    ) -> None:
        """Attach more inputs/outputs to a recorded job (S3 traffic a daemon saw for it)."""
        job_id = await self.job_id(job_uid)
        async with self._transaction():
            now = time.time()
            await self._link(job_id, "job_inputs", inputs, now)
            await self._link(job_id, "job_outputs", outputs, now)

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
        async with self._transaction():
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
