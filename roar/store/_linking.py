"""Files to artifacts: each file's artifact found by any digest or created, set-based.

A job may read or write tens of thousands of files, so its files go into a scratch table of the
connection (``temp.link_files``) and every step is one statement over all of them: per-row
statements with subqueries cost about three times as much on 20,000 files. The same steps serve
a job being recorded (``JobWriter``) and a running job's files put in the store while its
command runs (``StagingStore``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from roar.models import FileDigest
from roar.store._core import StoreCore
from roar.store._rows import _extra_digests, _ranges, _source


class ArtifactLinker(StoreCore):
    """Files to artifacts through ``temp.link_files``, inside the caller's transaction."""

    async def _load_link_files(
        self, files: Sequence[FileDigest], sources: Mapping[str, str] | None = None
    ) -> bool:
        """Put ``files`` (none known only by an ETag) in the scratch tables, replacing what was
        there; whether any has a digest besides its blake3."""
        conn = self._conn
        sources = sources or {}
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
            [
                (f.hash, f.size, f.path, _ranges(f), *_source(f.path, sources.get(f.path)))
                for f in files
            ],
        )
        extra = [(f.hash, alg, digest) for f in files for alg, digest in _extra_digests(f)]
        if extra:
            await conn.executemany(
                "INSERT INTO temp.link_digests (hash, algorithm, digest) VALUES (?, ?, ?)", extra
            )
        return bool(extra)

    async def _resolve_link_files(
        self, now: float, *, extra: bool, staged_by: str | None = None
    ) -> None:
        """Give every row of ``temp.link_files`` its artifact: the one any digest already names
        (its blake3), else one created here (uid = blake3, ``staged_by`` the running job that
        puts it there before it is recorded); store their digests."""
        await self._resolve_existing()
        await self._create_missing(now, staged_by)
        await self._store_digests(extra)

    async def _resolve_existing(self) -> None:
        await self._conn.execute(
            """UPDATE temp.link_files SET artifact_id = (
                   SELECT artifact_id FROM artifact_hashes
                   WHERE algorithm = 'blake3' AND digest = link_files.hash)"""
        )

    async def _create_missing(self, now: float, staged_by: str | None) -> None:
        conn = self._conn
        await conn.execute(
            """INSERT OR IGNORE INTO artifacts (uid, size, first_seen_at, first_seen_path,
                   source_type, source_url, staged_by)
               SELECT hash, size, ?, path, source_type, source_url, ? FROM temp.link_files
               WHERE artifact_id IS NULL ORDER BY rowid""",
            (now, staged_by),
        )
        await conn.execute(
            """UPDATE temp.link_files
               SET artifact_id = (SELECT id FROM artifacts WHERE uid = link_files.hash)
               WHERE artifact_id IS NULL"""
        )

    async def _store_digests(self, extra: bool) -> None:
        conn = self._conn
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
