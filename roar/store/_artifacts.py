"""Artifacts: by digest, by path, who made and read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from roar.core.fspath import from_stored, to_stored
from roar.errors import NotFoundError
from roar.store._core import StoreCore
from roar.store._rows import (
    _chunks,
    _like_prefix,
    _usage,
)


class ArtifactStore(StoreCore):
    """Artifacts: by digest, by path, who made and read them."""

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

    async def output_digests(self) -> set[str]:
        """The BLAKE3 of every content any recorded job wrote (what the run cache may keep)."""
        rows = await self._conn.fetchall(
            """SELECT DISTINCT h.digest FROM job_outputs o
               JOIN artifact_hashes h ON h.artifact_id = o.artifact_id
               WHERE h.algorithm = 'blake3'"""
        )
        return {str(r[0]) for r in rows}
