"""A running job's files put in the store while its command runs, so that recording it is short.

The recorder hashes a job's inputs as they are first read and its outputs as they are closed,
while the command runs. :meth:`StagingStore.stage` writes those files' artifacts then, each
batch in a short transaction of its own, and keeps a row per file in a scratch table of this
connection (``temp.staged_files``) with the artifact it resolved to. Recording the job
(``JobWriter.record_job`` given the :class:`Staging`) then links the staged rows that are still
the job's files in one statement, writes only the files that were not staged, and removes the
artifacts the job created for files that turned out not to be its own (a temporary file it
deleted, an output rewritten after it was closed, a file the filters drop).

Two rules keep this exact with other roar processes writing the same store:

- An artifact another *running* job created is not relied upon (that job may yet remove it):
  such a file is written again, whole, when the job is recorded.
- A job that never gets recorded (roar killed) stays listed in ``staging_jobs``; a later run
  removes what it created that nothing references (:meth:`StagingStore.sweep_staged`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from roar.errors import StoreError
from roar.models import ETAG_PREFIX, FileDigest
from roar.store._linking import ArtifactLinker
from roar.store._rows import _storable_file


def _unreferenced(alias: str) -> str:
    """SQL: nothing in the store refers to artifact ``alias`` (it can go without a trace)."""
    return f"""NOT EXISTS (SELECT 1 FROM job_inputs i WHERE i.artifact_id = {alias}.id)
    AND NOT EXISTS (SELECT 1 FROM job_outputs o WHERE o.artifact_id = {alias}.id)
    AND NOT EXISTS (SELECT 1 FROM job_composites c WHERE c.artifact_id = {alias}.id)
    AND NOT EXISTS (SELECT 1 FROM artifact_components m WHERE m.component_id = {alias}.id)
    AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.artifact_id = {alias}.id)"""


_UNREFERENCED = _unreferenced("artifacts")


def pending(alias: str) -> str:
    """SQL: artifact ``alias`` was put in the store by a job that is not recorded yet, and
    nothing else refers to it: not part of the record until that job is (lookups skip it)."""
    return f"""({alias}.staged_by IS NOT NULL
        AND {alias}.staged_by IN (SELECT job_uid FROM staging_jobs)
        AND {_unreferenced(alias)})"""


# A staged file as recording the job must find it to reuse its row: content, size, digests.
StagedFile = tuple[str, int, dict[str, str]]


def _staged(f: FileDigest) -> StagedFile:
    return (f.hash, f.size, f.hashes)


class Staging:
    """What one running job has put in the store so far (the connection's scratch rows)."""

    __slots__ = ("borrowed", "broken", "job_uid", "rows")

    def __init__(self, job_uid: str) -> None:
        self.job_uid = job_uid
        # (edge table, stored path) -> the file as staged.
        self.rows: dict[tuple[str, str], StagedFile] = {}
        # Staged rows whose artifact another running job created: written again at the end.
        self.borrowed: set[tuple[str, str]] = set()
        # Why staging stopped (a store error): the job is then recorded whole, as without it.
        self.broken: str | None = None


class StagingStore(ArtifactLinker):
    """Putting a running job's files in the store, and what recording the job does with them."""

    async def stage(self, staging: Staging, table: str, files: Sequence[FileDigest]) -> None:
        """Put ``files`` (``table``: ``job_inputs`` or ``job_outputs``) in the store for the
        running job of ``staging``, in one short transaction.

        A store error stops staging for this job (``staging.broken``) instead of being raised:
        what is staged is an advance on recording the job, which does the rest itself."""
        if staging.broken is not None:
            return
        batch: dict[tuple[str, str], tuple[StagedFile, FileDigest]] = {}
        for f in files:
            if f.hash.startswith(ETAG_PREFIX):
                continue
            f = _storable_file(f)
            key, staged = (table, f.path), _staged(f)
            if staging.rows.get(key) != staged:
                batch[key] = (staged, f)
        if not batch:
            return
        conn = self._conn
        try:
            async with self._transaction("put the job's files in"):
                await self._ensure_staged_files()
                await conn.execute(
                    "INSERT OR IGNORE INTO staging_jobs (job_uid, started_at) VALUES (?, ?)",
                    (staging.job_uid, time.time()),
                )
                # A file staged before with other content (an output closed again): the
                # artifact of what it was is the job's no more.
                again = [key for key in batch if key in staging.rows]
                if again:
                    await conn.executemany(
                        """UPDATE temp.staged_files SET dropped = 1
                           WHERE job_uid = ? AND tbl = ? AND path = ?""",
                        [(staging.job_uid, *key) for key in again],
                    )
                extra = await self._load_link_files([f for _, f in batch.values()])
                await self._resolve_existing()
                borrowed = await conn.fetchall(
                    """SELECT f.path FROM temp.link_files f JOIN artifacts a ON a.id = f.artifact_id
                       WHERE a.staged_by IS NOT NULL AND a.staged_by != ?
                         AND a.staged_by IN (SELECT job_uid FROM staging_jobs)""",
                    (staging.job_uid,),
                )
                await self._create_missing(time.time(), staging.job_uid)
                await self._store_digests(extra)
                await conn.execute(
                    """INSERT INTO temp.staged_files (job_uid, tbl, path, hash, artifact_id)
                       SELECT ?, ?, path, hash, artifact_id FROM temp.link_files""",
                    (staging.job_uid, table),
                )
        except StoreError as exc:
            staging.broken = str(exc)
            return
        for key, (staged, _) in batch.items():
            staging.rows[key] = staged
            staging.borrowed.discard(key)
        staging.borrowed.update((table, str(row[0])) for row in borrowed)

    async def _ensure_staged_files(self) -> None:
        conn = self._conn
        await conn.execute(
            """CREATE TEMP TABLE IF NOT EXISTS staged_files (
                   job_uid TEXT NOT NULL, tbl TEXT NOT NULL, path TEXT NOT NULL,
                   hash TEXT NOT NULL, artifact_id INTEGER, dropped INTEGER NOT NULL DEFAULT 0)"""
        )
        await conn.execute(
            """CREATE INDEX IF NOT EXISTS temp.staged_files_key
               ON staged_files (job_uid, tbl, path)"""
        )

    async def _link_staged(
        self, job_id: int, table: str, files: Sequence[FileDigest], staging: Staging
    ) -> list[FileDigest]:
        """Inside the job's transaction: link the staged rows of ``table`` that are files of
        the job as recorded, mark the others dropped; return the files still to be linked."""
        if not staging.rows:
            return list(files)
        await self._ensure_staged_files()
        rest: list[FileDigest] = []
        kept: set[tuple[str, str]] = set()
        usable = staging.broken is None
        for f in files:
            key = (table, f.path)
            if (
                usable
                and key not in kept
                and key not in staging.borrowed
                and staging.rows.get(key) == _staged(f)
            ):
                kept.add(key)
            else:
                rest.append(f)
        dropped = [key for key in staging.rows if key[0] == table and key not in kept]
        if dropped:
            await self._conn.executemany(
                """UPDATE temp.staged_files SET dropped = 1
                   WHERE job_uid = ? AND tbl = ? AND path = ?""",
                [(staging.job_uid, *key) for key in dropped],
            )
        if kept:
            await self._conn.execute(
                f"""INSERT OR IGNORE INTO {table} (job_id, artifact_id, path)
                    SELECT ?, artifact_id, path FROM temp.staged_files
                    WHERE job_uid = ? AND tbl = ? AND dropped = 0""",
                (job_id, staging.job_uid, table),
            )
        return rest

    async def _release_staged(self, staging: Staging, *, all_dropped: bool = False) -> None:
        """Inside a transaction, once the job's edges are written (or it is abandoned): remove
        the artifacts it created for files it did not keep, unless something refers to them."""
        if not staging.rows and staging.broken is None:
            return
        conn = self._conn
        await self._ensure_staged_files()
        uid = staging.job_uid
        if all_dropped:
            await conn.execute("UPDATE temp.staged_files SET dropped = 1 WHERE job_uid = ?", (uid,))
        await conn.execute(
            f"""DELETE FROM artifacts WHERE staged_by = ?1 AND id IN (
                    SELECT artifact_id FROM temp.staged_files WHERE job_uid = ?1 AND dropped = 1)
                AND {_UNREFERENCED}""",
            (uid,),
        )
        await conn.execute("DELETE FROM staging_jobs WHERE job_uid = ?", (uid,))
        await conn.execute("DELETE FROM temp.staged_files WHERE job_uid = ?", (uid,))

    async def abandon_staging(self, staging: Staging) -> None:
        """The job will not be recorded: remove what it staged that nothing refers to."""
        if not staging.rows and staging.broken is None:
            return
        async with self._transaction("clean up the job's files in"):
            await self._release_staged(staging, all_dropped=True)
        staging.rows.clear()

    async def sweep_staged(self, running: Callable[[str], bool]) -> list[str]:
        """Remove what jobs that never got recorded (``running`` says they are not running,
        and they are still listed) created that nothing refers to; their uids."""
        rows = await self._conn.fetchall("SELECT job_uid FROM staging_jobs")
        gone = [str(row[0]) for row in rows if not running(str(row[0]))]
        for job_uid in gone:
            async with self._transaction("clean up an unrecorded job's files in"):
                # A scan of the artifacts: only ever after roar was killed mid-run.
                await self._conn.execute(
                    f"DELETE FROM artifacts WHERE staged_by = ? AND {_UNREFERENCED}", (job_uid,)
                )
                await self._conn.execute("DELETE FROM staging_jobs WHERE job_uid = ?", (job_uid,))
        return gone
