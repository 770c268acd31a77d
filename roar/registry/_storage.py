"""The registry's database: sessions, jobs, artifacts (by every digest) and the edges between them.

SQLite through the same connection layer as the local store (aiosqlite under asyncio). Every
write is one transaction under a lock, and inserts are idempotent (``INSERT OR IGNORE`` on natural
keys), so concurrent registrations of overlapping lineages never duplicate an artifact or a job.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from roar.store._db import Database, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    git_repo TEXT, git_commit TEXT, git_branch TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    session_hash TEXT NOT NULL REFERENCES sessions(hash),
    job_uid TEXT NOT NULL,
    command TEXT NOT NULL, timestamp REAL NOT NULL,
    git_commit TEXT, git_branch TEXT,
    duration_seconds REAL, exit_code INTEGER,
    job_type TEXT NOT NULL, step_number INTEGER NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    UNIQUE (session_hash, job_uid)
);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY,
    size INTEGER, source_type TEXT, metadata TEXT,
    first_session TEXT, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS artifact_hashes (
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    algorithm TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (algorithm, digest)
);
CREATE INDEX IF NOT EXISTS artifact_hashes_digest ON artifact_hashes(digest);
CREATE TABLE IF NOT EXISTS edges (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    direction TEXT NOT NULL CHECK (direction IN ('input', 'output')),
    digest TEXT NOT NULL, path TEXT NOT NULL, size INTEGER, byte_ranges TEXT,
    UNIQUE (job_id, direction, digest, path)
);
CREATE INDEX IF NOT EXISTS edges_digest ON edges(digest, direction);
"""


class RegistryStore:
    """The registry's data; open it with :meth:`open`."""

    def __init__(self, conn: Database) -> None:
        self._conn = conn
        self._lock = anyio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[RegistryStore]:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await connect(path, busy_timeout=30.0)
        try:
            await conn.fetchone("PRAGMA journal_mode = WAL")
            for statement in [s.strip() for s in SCHEMA.split(";") if s.strip()]:
                await conn.execute(statement)
            await conn.commit()
            yield cls(conn)
        finally:
            await conn.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[Database]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                await self._conn.commit()
            except BaseException:
                await self._conn.rollback()
                raise

    # -- writing -----------------------------------------------------------------------------

    async def create_session(
        self, digest: str, git_repo: str | None, git_commit: str | None, git_branch: str | None
    ) -> bool:
        async with self._write() as conn:
            existing = await conn.fetchone("SELECT 1 FROM sessions WHERE hash = ?", (digest,))
            if existing:
                return False
            await conn.execute(
                "INSERT INTO sessions (hash, git_repo, git_commit, git_branch, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (digest, git_repo, git_commit, git_branch, time.time()),
            )
            return True

    async def add_jobs(self, session: str, jobs: Sequence[dict[str, Any]]) -> list[int]:
        ids = []
        async with self._write() as conn:
            for job in jobs:
                await conn.execute(
                    """INSERT OR IGNORE INTO jobs (session_hash, job_uid, command, timestamp,
                           git_commit, git_branch, duration_seconds, exit_code, job_type,
                           step_number, metadata)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        session,
                        job["job_uid"],
                        job["command"],
                        job["timestamp"],
                        job.get("git_commit"),
                        job.get("git_branch"),
                        job.get("duration_seconds"),
                        job.get("exit_code"),
                        job.get("job_type") or "run",
                        job["step_number"],
                        job.get("metadata") or "{}",
                    ),
                )
                row = await conn.fetchone(
                    "SELECT id FROM jobs WHERE session_hash = ? AND job_uid = ?",
                    (session, job["job_uid"]),
                )
                assert row is not None
                ids.append(int(row[0]))
        return ids

    async def add_artifacts(self, artifacts: Sequence[dict[str, Any]]) -> tuple[int, int]:
        created = existing = 0
        async with self._write() as conn:
            for artifact in artifacts:
                pairs = [(h["algorithm"], h["digest"]) for h in artifact["hashes"]]
                found = None
                for algorithm, digest in pairs:
                    found = await conn.fetchone(
                        "SELECT artifact_id FROM artifact_hashes"
                        " WHERE algorithm = ? AND digest = ?",
                        (algorithm, digest),
                    )
                    if found:
                        break
                if found:
                    artifact_id = int(found[0])
                    existing += 1
                else:
                    new_id = await conn.execute(
                        "INSERT INTO artifacts (size, source_type, metadata, first_session, "
                        "created_at) VALUES (?, ?, ?, ?, ?)",
                        (
                            artifact.get("size"),
                            artifact.get("source_type"),
                            artifact.get("metadata"),
                            artifact.get("session_hash"),
                            time.time(),
                        ),
                    )
                    assert new_id is not None
                    artifact_id = new_id
                    created += 1
                await conn.executemany(
                    "INSERT OR IGNORE INTO artifact_hashes (artifact_id, algorithm, digest) "
                    "VALUES (?, ?, ?)",
                    [(artifact_id, alg, digest) for alg, digest in pairs],
                )
        return created, existing

    async def link(
        self, session: str, job_uid: str, direction: str, links: Sequence[dict[str, Any]]
    ) -> int | None:
        """Edges of one job; None when the job is not in the session."""
        async with self._write() as conn:
            row = await conn.fetchone(
                "SELECT id FROM jobs WHERE session_hash = ? AND job_uid = ?", (session, job_uid)
            )
            if row is None:
                return None
            await conn.executemany(
                "INSERT OR IGNORE INTO edges (job_id, direction, digest, path, size, byte_ranges)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        int(row[0]),
                        direction,
                        link["hash"],
                        link.get("path") or link["hash"],
                        link.get("size"),
                        json.dumps(link["byte_ranges"]) if link.get("byte_ranges") else None,
                    )
                    for link in links
                ],
            )
        return len(links)

    # -- reading -----------------------------------------------------------------------------

    async def list_sessions(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._conn.fetchall(
            """SELECT s.hash, s.git_repo, s.git_commit, s.git_branch, s.created_at,
                      (SELECT COUNT(*) FROM jobs j WHERE j.session_hash = s.hash)
               FROM sessions s ORDER BY s.created_at DESC LIMIT ?""",
            (limit,),
        )
        return [
            {
                "hash": r[0],
                "git_repo": r[1],
                "git_commit": r[2],
                "git_branch": r[3],
                "created_at": r[4],
                "job_count": r[5],
            }
            for r in rows
        ]

    async def has_session(self, digest: str) -> bool:
        row = await self._conn.fetchone("SELECT 1 FROM sessions WHERE hash = ?", (digest,))
        return row is not None

    async def session(self, digest: str) -> dict[str, Any] | None:
        row = await self._conn.fetchone(
            "SELECT hash, git_repo, git_commit, git_branch, created_at FROM sessions "
            "WHERE hash = ?",
            (digest,),
        )
        if row is None:
            return None
        jobs = await self._jobs("j.session_hash = ?", (digest,))
        return {
            "hash": row[0],
            "git_repo": row[1],
            "git_commit": row[2],
            "git_branch": row[3],
            "created_at": row[4],
            "jobs": jobs,
        }

    async def artifacts_by_prefix(self, prefix: str) -> list[dict[str, Any]]:
        low = prefix.lower()
        # A range on the digest index (hex sorts below 'g'), not a LIKE that scans every row.
        rows = await self._conn.fetchall(
            "SELECT DISTINCT artifact_id FROM artifact_hashes WHERE digest >= ? AND digest < ? "
            "LIMIT 11",
            (low, low + "g"),
        )
        return [await self._artifact(int(r[0])) for r in rows]

    async def _artifact(self, artifact_id: int) -> dict[str, Any]:
        row = await self._conn.fetchone(
            "SELECT id, size, source_type, metadata, first_session, created_at FROM artifacts "
            "WHERE id = ?",
            (artifact_id,),
        )
        assert row is not None
        hashes = await self._conn.fetchall(
            "SELECT algorithm, digest FROM artifact_hashes WHERE artifact_id = ? "
            "ORDER BY algorithm",
            (artifact_id,),
        )
        by_alg = {str(a): str(d) for a, d in hashes}
        primary = by_alg.get("blake3") or next(iter(by_alg.values()), "")
        return {
            "id": row[0],
            "hash": primary,
            "hashes": [{"algorithm": a, "digest": d} for a, d in by_alg.items()],
            "size": row[1],
            "source_type": row[2],
            "metadata": row[3],
            "session_hash": row[4],
            "created_at": row[5],
        }

    async def producers(self, digest: str) -> list[dict[str, Any]]:
        return await self._jobs(
            "j.id IN (SELECT job_id FROM edges WHERE digest = ? AND direction = 'output')",
            (digest,),
        )

    async def _jobs(self, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        rows = await self._conn.fetchall(
            f"""SELECT j.id, j.session_hash, j.job_uid, j.command, j.timestamp, j.git_commit,
                       j.git_branch, j.duration_seconds, j.exit_code, j.job_type,
                       j.step_number, j.metadata
                FROM jobs j WHERE {where} ORDER BY j.timestamp, j.id""",
            params,
        )
        jobs = []
        for r in rows:
            edges = await self._conn.fetchall(
                "SELECT direction, digest, path, size, byte_ranges FROM edges WHERE job_id = ? "
                "ORDER BY path",
                (r[0],),
            )
            sides: dict[str, list[dict[str, Any]]] = {"input": [], "output": []}
            for direction, digest, path, size, ranges in edges:
                entry: dict[str, Any] = {"hash": digest, "path": path, "size": size}
                if ranges:
                    entry["byte_ranges"] = json.loads(ranges)
                sides[str(direction)].append(entry)
            jobs.append(
                {
                    "jobUid": r[2],
                    "sessionHash": r[1],
                    "command": r[3],
                    "timestamp": r[4],
                    "gitCommit": r[5],
                    "gitBranch": r[6],
                    "durationSeconds": r[7],
                    "exitCode": r[8],
                    "jobType": r[9],
                    "stepNumber": r[10],
                    "metadata": r[11],
                    "inputs": sides["input"],
                    "outputs": sides["output"],
                }
            )
        return jobs

    async def reproduction_dag(self, digest: str) -> dict[str, Any] | None:
        """The producers of ``digest`` and, transitively, of their inputs; plus their sessions'
        build jobs (what a reproduction may need first)."""
        artifacts = await self.artifacts_by_prefix(digest)
        if len(artifacts) != 1:
            return None
        artifact = artifacts[0]
        jobs: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        todo = [str(artifact["hash"])]
        external: list[str] = []
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            makers = await self.producers(current)
            if not makers and current != artifact["hash"]:
                external.append(current)
            for job in makers:
                key = f"{job['sessionHash']}/{job['jobUid']}"
                if key not in jobs:
                    jobs[key] = job
                    todo.extend(i["hash"] for i in job["inputs"])
        sessions = sorted({j["sessionHash"] for j in jobs.values()})
        for session in sessions:
            for job in await self._jobs("j.session_hash = ? AND j.job_type = 'build'", (session,)):
                jobs.setdefault(f"{session}/{job['jobUid']}", job)
        first = await self.session(sessions[0]) if sessions else None
        ordered = sorted(jobs.values(), key=lambda j: (j["timestamp"], j["jobUid"]))
        return {
            "artifact": artifact,
            "dag": {"nodes": [j["jobUid"] for j in ordered]},
            "jobs": ordered,
            "external_deps": sorted(external),
            "is_external": not ordered,
            "gitRepo": first["git_repo"] if first else None,
            "gitCommit": first["git_commit"] if first else None,
        }
