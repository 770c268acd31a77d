"""Artifacts: by digest, by path, who made and read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from roar.core.fspath import from_stored, to_stored
from roar.errors import NotFoundError
from roar.hashing.composite import ALGORITHM as COMPOSITE_ALGORITHM
from roar.models import Component, Composite
from roar.store._core import StoreCore
from roar.store._rows import (
    _chunks,
    _like_prefix,
    _usage,
)
from roar.store._staging import pending


class ArtifactStore(StoreCore):
    """Artifacts: by digest, by path, who made and read them."""

    async def artifacts_by_digest_prefix(self, prefix: str) -> list[tuple[int, str]]:
        """(artifact id, blake3 digest) of artifacts whose any digest starts with ``prefix``."""
        # A composite has no blake3 of its own: its identity is its uid (the tree digest).
        rows = await self._conn.fetchall(
            f"""SELECT DISTINCT h.artifact_id, COALESCE(b.digest, a.uid) FROM artifact_hashes h
                JOIN artifacts a ON a.id = h.artifact_id
                LEFT JOIN artifact_hashes b
                    ON b.artifact_id = h.artifact_id AND b.algorithm = 'blake3'
                WHERE h.digest LIKE ? ESCAPE '\\' AND NOT {pending("a")} LIMIT 20""",
            (_like_prefix(prefix.lower()),),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def artifact_id_for_digest(self, blake3_digest: str) -> int | None:
        row = await self._conn.fetchone(
            f"""SELECT h.artifact_id FROM artifact_hashes h JOIN artifacts a ON a.id = h.artifact_id
                WHERE h.algorithm = 'blake3' AND h.digest = ? AND NOT {pending("a")}""",
            (blake3_digest,),
        )
        return int(row[0]) if row else None

    async def latest_artifact_at_path(self, path: str) -> int | None:
        row = await self._conn.fetchone(
            """SELECT e.artifact_id FROM (
                   SELECT job_id, artifact_id FROM job_outputs WHERE path = ?1
                   UNION ALL SELECT job_id, artifact_id FROM job_inputs WHERE path = ?1
                   UNION ALL SELECT job_id, artifact_id FROM job_composites
                       WHERE path = ?1 OR path = ?1 || '/') e
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
                     SELECT 'input', job_id, path FROM job_inputs WHERE artifact_id = ?1
                     UNION ALL
                     SELECT role, job_id, path FROM job_composites WHERE artifact_id = ?1) e
               JOIN jobs j ON j.id = e.job_id JOIN sessions s ON s.id = j.session_id
               ORDER BY j.started_at, j.id""",
            (artifact_id,),
        )
        components = await self._conn.fetchall(
            """SELECT c.relpath, h.digest, a.size FROM artifact_components c
               JOIN artifacts a ON a.id = c.component_id
               JOIN artifact_hashes h ON h.artifact_id = c.component_id AND h.algorithm = 'blake3'
               WHERE c.composite_id = ? ORDER BY c.relpath""",
            (artifact_id,),
        )
        containers = await self._conn.fetchall(
            """SELECT a.uid, a.first_seen_path, c.relpath FROM artifact_components c
               JOIN artifacts a ON a.id = c.composite_id
               WHERE c.component_id = ? ORDER BY a.first_seen_at""",
            (artifact_id,),
        )
        return {
            "hash": hashes.get("blake3") or hashes.get(COMPOSITE_ALGORITHM),
            "hashes": hashes,
            "size": row[0],
            "kind": row[1],
            "source_type": row[2],
            "source_url": row[3],
            "first_seen_at": row[4],
            "first_seen_path": None if row[5] is None else from_stored(row[5]),
            "produced_by": [_usage(u) for u in usage if u[0] == "output"],
            "consumed_by": [_usage(u) for u in usage if u[0] == "input"],
            "components": [
                {"relpath": from_stored(r[0]), "hash": r[1], "size": r[2]} for r in components
            ],
            "in_composites": [
                {
                    "hash": r[0],
                    "path": None if r[1] is None else from_stored(r[1]),
                    "relpath": from_stored(r[2]),
                }
                for r in containers
            ],
        }

    async def job_composites(self, job_uid: str) -> list[Composite]:
        """The directories and prefixes a job read or wrote whole, with their components."""
        rows = await self._conn.fetchall(
            """SELECT a.id, a.uid, a.size, jc.role, jc.path FROM job_composites jc
               JOIN jobs j ON j.id = jc.job_id JOIN artifacts a ON a.id = jc.artifact_id
               WHERE j.job_uid = ? ORDER BY jc.role, jc.path""",
            (job_uid,),
        )
        found = []
        for artifact_id, uid, size, role, path in rows:
            parts = await self._conn.fetchall(
                """SELECT c.relpath, h.digest, a.size FROM artifact_components c
                   JOIN artifacts a ON a.id = c.component_id
                   JOIN artifact_hashes h
                       ON h.artifact_id = c.component_id AND h.algorithm = 'blake3'
                   WHERE c.composite_id = ? ORDER BY c.relpath""",
                (artifact_id,),
            )
            found.append(
                Composite(
                    path=from_stored(path),
                    hash=str(uid),
                    size=int(size or 0),
                    role=role,
                    components=[
                        Component(relpath=from_stored(r), hash=str(h), size=int(z or 0))
                        for r, h, z in parts
                    ],
                )
            )
        return found

    async def composites_containing(
        self, digests: Sequence[str]
    ) -> dict[str, list[tuple[str, str, str]]]:
        """For each BLAKE3 digest that is a component of a composite: (the composite's digest,
        where it was first seen, the component's path in it) for each such composite."""
        found: dict[str, list[tuple[str, str, str]]] = {}
        for chunk in _chunks(list(dict.fromkeys(digests))):
            marks = ",".join("?" * len(chunk))
            for digest, uid, path, relpath in await self._conn.fetchall(
                f"""SELECT h.digest, a.uid, a.first_seen_path, c.relpath FROM artifact_hashes h
                    JOIN artifact_components c ON c.component_id = h.artifact_id
                    JOIN artifacts a ON a.id = c.composite_id
                    WHERE h.algorithm = 'blake3' AND h.digest IN ({marks})
                    ORDER BY a.first_seen_at""",
                chunk,
            ):
                found.setdefault(str(digest), []).append(
                    (str(uid), from_stored(str(path or "")), from_stored(str(relpath)))
                )
        return found

    async def output_digests(self) -> set[str]:
        """The BLAKE3 of every content any recorded job wrote (what the run cache may keep)."""
        rows = await self._conn.fetchall(
            """SELECT DISTINCT h.digest FROM job_outputs o
               JOIN artifact_hashes h ON h.artifact_id = o.artifact_id
               WHERE h.algorithm = 'blake3'"""
        )
        return {str(r[0]) for r in rows}
