"""Labels: versioned documents on DAGs (sessions), jobs and artifacts."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from roar.store._core import StoreCore
from roar.store._rows import (
    _LABEL_COLUMNS,
    LabelVersion,
    _chunks,
    _json_loads,
)


class LabelStore(StoreCore):
    """Labels: versioned documents on DAGs (sessions), jobs and artifacts."""

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
        async with self._transaction():
            row = await self._conn.fetchone(
                f"""SELECT version, document FROM labels WHERE entity_type = ? AND {column} = ?
                    ORDER BY version DESC LIMIT 1""",
                (entity, target),
            )
            if row is not None and _json_loads(row[1]) == document:
                return None
            version = (int(row[0]) if row else 0) + 1
            await self._conn.execute(
                f"""INSERT INTO labels (entity_type, {column}, version, document, write_origin,
                    created_at) VALUES (?, ?, ?, ?, ?, ?)""",
                (entity, target, version, json.dumps(document, sort_keys=True), origin,
                 time.time()),
            )  # fmt: skip
        return version
