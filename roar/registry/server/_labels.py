"""Labels on registered lineage: versioned JSON documents on a DAG (session), job or artifact.

Each change appends a full new version; writing the document a label already has is a no-op
(no version), as on the client. ``sync`` sets the document a client sends; ``reconcile`` merges
it into the current one and removes ``deleted_keys`` (dotted paths).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from roar.registry.server._engine import Engine

ENTITY_TYPES = ("dag", "job", "artifact")


@dataclass(frozen=True)
class LabelKey:
    entity_type: str
    session_hash: str
    job_uid: str = ""
    artifact_hash: str = ""

    def where(self) -> tuple[str, tuple[str, ...]]:
        return (
            "entity_type = ? AND session_hash = ? AND job_uid = ? AND artifact_hash = ?",
            (self.entity_type, self.session_hash, self.job_uid, self.artifact_hash),
        )


def merged(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    result = dict(current)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def without(document: dict[str, Any], dotted: str) -> dict[str, Any]:
    """``document`` minus the key path ``a.b.c``, pruning parents it leaves empty."""
    head, _, rest = dotted.partition(".")
    if head not in document:
        return document
    result = dict(document)
    if rest and isinstance(result[head], dict):
        inner = without(result[head], rest)
        if inner:
            result[head] = inner
        else:
            del result[head]
    elif not rest:
        del result[head]
    return result


class LabelStore:
    def __init__(self, engine: Engine) -> None:
        self.db = engine

    async def current(self, key: LabelKey) -> dict[str, Any] | None:
        where, params = key.where()
        row = await self.db.fetchone(
            f"SELECT version, metadata, key_origins, created_at FROM labels WHERE {where} "
            "ORDER BY version DESC LIMIT 1",
            params,
        )
        if row is None:
            return None
        return {
            **_describe(key),
            "version": row[0],
            "metadata": json.loads(row[1]),
            "key_origins": json.loads(row[2]),
            "created_at": row[3],
        }

    async def history(self, key: LabelKey) -> list[dict[str, Any]]:
        where, params = key.where()
        rows = await self.db.fetchall(
            f"SELECT version, metadata, key_origins, created_at FROM labels WHERE {where} "
            "ORDER BY version",
            params,
        )
        return [
            {
                "version": r[0],
                "metadata": json.loads(r[1]),
                "key_origins": json.loads(r[2]),
                "created_at": r[3],
            }
            for r in rows
        ]

    async def write(
        self,
        key: LabelKey,
        metadata: dict[str, Any],
        key_origins: dict[str, Any],
        *,
        merge: bool = False,
        deleted_keys: list[str] | None = None,
        dry_run: bool = False,
    ) -> str:
        """Set (or merge into) a label; ``created``, ``updated`` or ``unchanged``."""
        where, params = key.where()
        async with self.db.write() as tx:
            row = await tx.fetchone(
                f"SELECT version, metadata, key_origins FROM labels WHERE {where} "
                "ORDER BY version DESC LIMIT 1",
                params,
            )
            old = json.loads(row[1]) if row else {}
            document = merged(old, metadata) if merge else dict(metadata)
            for dotted in deleted_keys or []:
                document = without(document, dotted)
            origins = {**(json.loads(row[2]) if row and merge else {}), **key_origins}
            if row is not None and document == old:
                return "unchanged"
            if row is None and not document:
                return "unchanged"
            if not dry_run:
                await tx.execute(
                    "INSERT INTO labels (entity_type, session_hash, job_uid, artifact_hash, "
                    "version, metadata, key_origins, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *params,
                        (int(row[0]) + 1) if row else 1,
                        json.dumps(document, sort_keys=True),
                        json.dumps(origins, sort_keys=True),
                        time.time(),
                    ),
                )
        return "updated" if row is not None else "created"


def _describe(key: LabelKey) -> dict[str, Any]:
    described: dict[str, Any] = {"entity_type": key.entity_type, "session_hash": key.session_hash}
    if key.job_uid:
        described["job_uid"] = key.job_uid
    if key.artifact_hash:
        described["artifact_hash"] = key.artifact_hash
    return described
