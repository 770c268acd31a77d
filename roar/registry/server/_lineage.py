"""The registry's lineage: sessions, jobs, artifacts (by every digest) and the edges between them.

Every write is one serialised transaction (see ``_engine``) and inserts are idempotent on natural
keys, so concurrent registrations of overlapping lineages never duplicate an artifact or a job.
Every read takes a :class:`Viewer`: a session is visible when it is published and public, or
owned by the viewer; an artifact when it belongs to no session (registered bare) or to a visible
one; a reproduction DAG only follows jobs of visible sessions. A private lineage is therefore
invisible — not refused, absent — to other users and to anonymous requests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from roar.registry.server._engine import Engine, Tx
from roar.registry.server._viewer import Forbidden, Viewer


def visible(alias: str) -> str:
    """SQL: session ``alias`` is readable by the viewer bound to the one ``?`` it contains."""
    return (
        f"({alias}.state = 'published' AND ({alias}.visibility = 'public' OR {alias}.owner_id = ?))"
    )


_ARTIFACT_VISIBLE = (
    "(NOT EXISTS (SELECT 1 FROM artifact_sessions x WHERE x.artifact_id = {a}) OR EXISTS "
    "(SELECT 1 FROM artifact_sessions x JOIN sessions s ON s.hash = x.session_hash "
    "WHERE x.artifact_id = {a} AND " + visible("s") + "))"
)


def _who(viewer: Viewer) -> int:
    return viewer.user_id if viewer.user_id is not None else -1


class LineageStore:
    def __init__(self, engine: Engine) -> None:
        self.db = engine

    # -- sessions ----------------------------------------------------------------------------

    async def create_session(
        self,
        digest: str,
        git: dict[str, str | None],
        viewer: Viewer,
        visibility: str = "public",
    ) -> bool:
        """A published session (the legacy flow); False when it exists and the viewer may add
        to it. Someone else's session with this hash is a :class:`Forbidden`."""
        async with self.db.write() as tx:
            existing = await tx.fetchone("SELECT owner_id FROM sessions WHERE hash = ?", (digest,))
            if existing:
                _check_owner(existing[0], viewer, digest)
                return False
            await tx.execute(
                "INSERT INTO sessions (hash, git_repo, git_commit, git_branch, created_at, "
                "owner_id, visibility, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'published')",
                (
                    digest,
                    git.get("git_repo"),
                    git.get("git_commit"),
                    git.get("git_branch"),
                    time.time(),
                    viewer.user_id,
                    visibility,
                ),
            )
            return True

    async def writable(self, digest: str, viewer: Viewer, *, staged: bool = False) -> None:
        """Raise unless ``viewer`` may add to session ``digest`` (404 when they cannot see it)."""
        row = await self.db.fetchone(
            "SELECT owner_id, visibility, state FROM sessions WHERE hash = ?", (digest,)
        )
        if row is None or (row[2] == "open") != staged:
            raise Forbidden(f"no session {digest[:16]} (POST /api/v1/sessions first)", 404)
        owner, visibility = row[0], row[1]
        if owner is not None and owner != viewer.user_id:
            if visibility != "public":
                raise Forbidden(f"no session {digest[:16]}", 404)
            raise Forbidden(f"session {digest[:16]} belongs to another user")

    async def add_jobs(self, session: str, jobs: Sequence[dict[str, Any]]) -> tuple[list[int], int]:
        """Each job's id, and how many of them are new."""
        ids = []
        created = 0
        async with self.db.write() as tx:
            for job in jobs:
                inserted = await tx.fetchone(
                    """INSERT INTO jobs (session_hash, job_uid, command, timestamp,
                           git_commit, git_branch, duration_seconds, exit_code, job_type,
                           step_number, metadata)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT DO NOTHING RETURNING id""",
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
                if inserted is not None:
                    created += 1
                    ids.append(int(inserted[0]))
                    continue
                row = await tx.fetchone(
                    "SELECT id FROM jobs WHERE session_hash = ? AND job_uid = ?",
                    (session, job["job_uid"]),
                )
                assert row is not None
                ids.append(int(row[0]))
        return ids, created

    async def add_artifacts(
        self, artifacts: Sequence[dict[str, Any]], session: str | None = None
    ) -> tuple[int, int]:
        """Register ``artifacts`` (each matched by any of its digests); each belongs to its own
        ``session_hash``, or to ``session`` when given. Returns (created, existing)."""
        created = existing = 0
        async with self.db.write() as tx:
            for artifact in artifacts:
                pairs = [(h["algorithm"], h["digest"]) for h in artifact["hashes"]]
                found = None
                for algorithm, digest in pairs:
                    found = await tx.fetchone(
                        "SELECT artifact_id FROM artifact_hashes"
                        " WHERE algorithm = ? AND digest = ?",
                        (algorithm, digest),
                    )
                    if found:
                        break
                owner_session = session or artifact.get("session_hash")
                if found:
                    artifact_id = int(found[0])
                    existing += 1
                else:
                    row = await tx.fetchone(
                        "INSERT INTO artifacts (size, source_type, metadata, first_session, "
                        "created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                        (
                            artifact.get("size"),
                            artifact.get("source_type"),
                            artifact.get("metadata"),
                            owner_session,
                            time.time(),
                        ),
                    )
                    assert row is not None
                    artifact_id = int(row[0])
                    created += 1
                await tx.executemany(
                    "INSERT INTO artifact_hashes (artifact_id, algorithm, digest) "
                    "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [(artifact_id, alg, digest) for alg, digest in pairs],
                )
                if owner_session:
                    await tx.execute(
                        "INSERT INTO artifact_sessions (artifact_id, session_hash) VALUES (?, ?)"
                        " ON CONFLICT DO NOTHING",
                        (artifact_id, owner_session),
                    )
        return created, existing

    async def add_composite(
        self, composite: dict[str, Any], session: str | None = None
    ) -> tuple[int, bool]:
        """A composite artifact and its components (replacing those stored before); returns its
        id and whether it is new."""
        entry = {**composite, "session_hash": session or composite.get("session_hash")}
        created, _ = await self.add_artifacts([entry])
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "SELECT artifact_id FROM artifact_hashes WHERE algorithm = ? AND digest = ?",
                (entry["hashes"][0]["algorithm"], entry["hashes"][0]["digest"]),
            )
            assert row is not None
            artifact_id = int(row[0])
            await tx.execute(
                "DELETE FROM composite_components WHERE artifact_id = ?", (artifact_id,)
            )
            await tx.executemany(
                "INSERT INTO composite_components (artifact_id, relative_path, leaf_kind, "
                "component_algorithm, component_digest, component_size, component_type) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    (
                        artifact_id,
                        c["relative_path"],
                        c.get("leaf_kind"),
                        c["component_algorithm"],
                        c["component_digest"],
                        c.get("component_size"),
                        c.get("component_type"),
                    )
                    for c in composite["components"]
                ],
            )
            await tx.execute(
                "INSERT INTO composite_membership (artifact_id, total_components, membership) "
                "VALUES (?, ?, ?) ON CONFLICT (artifact_id) DO UPDATE SET "
                "total_components = excluded.total_components, membership = excluded.membership",
                (artifact_id, composite["component_count_total"], composite.get("membership")),
            )
        return artifact_id, bool(created)

    async def components(self, artifact_id: int) -> dict[str, Any]:
        rows = await self.db.fetchall(
            "SELECT relative_path, leaf_kind, component_algorithm, component_digest, "
            "component_size, component_type FROM composite_components WHERE artifact_id = ? "
            "ORDER BY relative_path",
            (artifact_id,),
        )
        total = await self.db.fetchone(
            "SELECT total_components FROM composite_membership WHERE artifact_id = ?",
            (artifact_id,),
        )
        keys = ("relative_path", "leaf_kind", "component_algorithm", "component_digest",
                "component_size", "component_type")  # fmt: skip
        return {
            "component_count_total": int(total[0]) if total else len(rows),
            "components": [dict(zip(keys, r, strict=True)) for r in rows],
        }

    async def link(
        self, session: str, job_uid: str, direction: str, links: Sequence[dict[str, Any]]
    ) -> int | None:
        """Edges of one job; None when the job is not in the session."""
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "SELECT id FROM jobs WHERE session_hash = ? AND job_uid = ?", (session, job_uid)
            )
            if row is None:
                return None
            await tx.executemany(
                "INSERT INTO edges (job_id, direction, digest, path, size, byte_ranges)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
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
            await tx.executemany(
                "INSERT INTO artifact_sessions (artifact_id, session_hash) "
                "SELECT artifact_id, CAST(? AS TEXT) FROM artifact_hashes WHERE digest = ? "
                "ON CONFLICT DO NOTHING",
                [(session, link["hash"]) for link in links],
            )
        return len(links)

    # -- registration sessions: staged, then published under the content's hash --------------

    async def stage(self, staging_hash: str, viewer: Viewer) -> None:
        async with self.db.write() as tx:
            await tx.execute(
                "INSERT INTO sessions (hash, created_at, owner_id, visibility, state) "
                "VALUES (?, ?, ?, 'private', 'open') ON CONFLICT DO NOTHING",
                (staging_hash, time.time(), viewer.user_id),
            )

    async def staged_counts(self, staging_hash: str) -> dict[str, int]:
        """Jobs, and distinct input and output hashes per job (what ``expected`` counts)."""
        row = await self.db.fetchone(
            """SELECT (SELECT COUNT(*) FROM jobs WHERE session_hash = ?),
                      (SELECT COUNT(DISTINCT e.job_id || ':' || e.digest) FROM edges e
                         JOIN jobs j ON j.id = e.job_id
                         WHERE j.session_hash = ? AND e.direction = 'input'),
                      (SELECT COUNT(DISTINCT e.job_id || ':' || e.digest) FROM edges e
                         JOIN jobs j ON j.id = e.job_id
                         WHERE j.session_hash = ? AND e.direction = 'output')""",
            (staging_hash, staging_hash, staging_hash),
        )
        assert row is not None
        return {"jobs": int(row[0]), "inputs": int(row[1]), "outputs": int(row[2])}

    async def publish(
        self,
        staging_hash: str,
        git: dict[str, str | None],
        viewer: Viewer,
        visibility: str,
    ) -> tuple[str, bool]:
        """Publish a staged session under the hash of its content (the server-authoritative
        hash); registering the same lineage again lands on the same session. Returns the hash
        and whether it is new."""
        from roar.registry.server._canonical import session_hash

        jobs = await self._jobs("j.session_hash = ?", (staging_hash,))
        digest = session_hash(git, jobs, viewer.creator_identity, visibility)
        async with self.db.write() as tx:
            exists = await tx.fetchone("SELECT owner_id FROM sessions WHERE hash = ?", (digest,))
            if exists:
                _check_owner(exists[0], viewer, digest)
                await _discard(tx, staging_hash)
                return digest, False
            await tx.execute(
                "UPDATE sessions SET hash = ?, git_repo = ?, git_commit = ?, git_branch = ?, "
                "owner_id = ?, visibility = ?, state = 'published', created_at = ? "
                "WHERE hash = ?",
                (
                    digest,
                    git.get("git_repo"),
                    git.get("git_commit"),
                    git.get("git_branch"),
                    viewer.user_id,
                    visibility,
                    time.time(),
                    staging_hash,
                ),
            )
            for table, column in (
                ("jobs", "session_hash"),
                ("artifact_sessions", "session_hash"),
                ("artifacts", "first_session"),
            ):
                await tx.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (digest, staging_hash)
                )
        return digest, True

    # -- reading -----------------------------------------------------------------------------

    async def list_sessions(self, limit: int, viewer: Viewer) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            f"""SELECT s.hash, s.git_repo, s.git_commit, s.git_branch, s.created_at,
                      (SELECT COUNT(*) FROM jobs j WHERE j.session_hash = s.hash), s.visibility
               FROM sessions s WHERE {visible("s")} ORDER BY s.created_at DESC LIMIT ?""",
            (_who(viewer), limit),
        )
        return [
            {
                "hash": r[0],
                "git_repo": r[1],
                "git_commit": r[2],
                "git_branch": r[3],
                "created_at": r[4],
                "job_count": r[5],
                "visibility": r[6],
            }
            for r in rows
        ]

    async def session(self, digest: str, viewer: Viewer) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT s.hash, s.git_repo, s.git_commit, s.git_branch, s.created_at, s.visibility, "
            f"s.owner_id FROM sessions s WHERE s.hash = ? AND {visible('s')}",
            (digest, _who(viewer)),
        )
        if row is None:
            return None
        return {
            "hash": row[0],
            "git_repo": row[1],
            "git_commit": row[2],
            "git_branch": row[3],
            "created_at": row[4],
            "visibility": row[5],
            "owner_id": row[6],
            "jobs": await self._jobs("j.session_hash = ?", (digest,)),
        }

    async def job(self, session: str, job_uid: str, viewer: Viewer) -> dict[str, Any] | None:
        jobs = await self._jobs(
            f"j.session_hash = ? AND j.job_uid = ? AND EXISTS (SELECT 1 FROM sessions s "
            f"WHERE s.hash = j.session_hash AND {visible('s')})",
            (session, job_uid, _who(viewer)),
        )
        return jobs[0] if jobs else None

    async def artifacts_by_prefix(self, prefix: str, viewer: Viewer) -> list[dict[str, Any]]:
        low = prefix.lower()
        # A range on the digest index (hex sorts below 'g'), not a LIKE that scans every row.
        rows = await self.db.fetchall(
            "SELECT DISTINCT h.artifact_id FROM artifact_hashes h "
            "WHERE h.digest >= ? AND h.digest < ? AND "
            + _ARTIFACT_VISIBLE.format(a="h.artifact_id")
            + " LIMIT 11",
            (low, low + "g", _who(viewer)),
        )
        return await self._artifacts([int(r[0]) for r in rows])

    async def artifacts_by_path(
        self, fragment: str, viewer: Viewer, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Artifacts some visible job read or wrote under a path containing ``fragment``."""
        # An edge of a visible session makes its artifact visible (linking records that).
        rows = await self.db.fetchall(
            "SELECT h.artifact_id, MIN(e.path) FROM edges e JOIN jobs j ON j.id = e.job_id "
            "JOIN sessions s ON s.hash = j.session_hash "
            "JOIN artifact_hashes h ON h.digest = e.digest "
            f"WHERE e.path LIKE ? AND {visible('s')} "
            "GROUP BY h.artifact_id ORDER BY MIN(e.path) LIMIT ?",
            ("%" + fragment.replace("%", "").replace("_", "") + "%", _who(viewer), limit),
        )
        paths = {int(artifact_id): str(path) for artifact_id, path in rows}
        return [{**a, "path": paths[int(a["id"])]} for a in await self._artifacts(list(paths))]

    async def _artifacts(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Artifacts with all their digests, in one query, in the order of ``ids``."""
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows = await self.db.fetchall(
            "SELECT a.id, a.size, a.source_type, a.metadata, a.first_session, a.created_at, "
            "h.algorithm, h.digest FROM artifacts a JOIN artifact_hashes h "
            f"ON h.artifact_id = a.id WHERE a.id IN ({marks}) ORDER BY h.algorithm",
            list(ids),
        )
        found: dict[int, dict[str, Any]] = {}
        for r in rows:
            entry = found.setdefault(
                int(r[0]),
                {
                    "id": r[0],
                    "hash": "",
                    "hashes": [],
                    "size": r[1],
                    "source_type": r[2],
                    "metadata": r[3],
                    "session_hash": r[4],
                    "created_at": r[5],
                },
            )
            entry["hashes"].append({"algorithm": r[6], "digest": r[7]})
        for entry in found.values():
            by_alg = {h["algorithm"]: h["digest"] for h in entry["hashes"]}
            entry["hash"] = by_alg.get("blake3") or next(iter(by_alg.values()), "")
        return [found[i] for i in ids if i in found]

    async def producers(self, digest: str, viewer: Viewer) -> list[dict[str, Any]]:
        return await self._edge_jobs(digest, "output", viewer)

    async def consumers(self, digest: str, viewer: Viewer) -> list[dict[str, Any]]:
        return await self._edge_jobs(digest, "input", viewer)

    async def _edge_jobs(self, digest: str, direction: str, viewer: Viewer) -> list[dict[str, Any]]:
        return await self._jobs(
            "j.id IN (SELECT job_id FROM edges WHERE digest = ? AND direction = ?) AND EXISTS "
            f"(SELECT 1 FROM sessions s WHERE s.hash = j.session_hash AND {visible('s')})",
            (digest, direction, _who(viewer)),
        )

    async def _jobs(self, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            f"""SELECT j.id, j.session_hash, j.job_uid, j.command, j.timestamp, j.git_commit,
                       j.git_branch, j.duration_seconds, j.exit_code, j.job_type,
                       j.step_number, j.metadata
                FROM jobs j WHERE {where} ORDER BY j.timestamp, j.id""",
            params,
        )
        sides: dict[int, dict[str, list[dict[str, Any]]]] = {
            int(r[0]): {"input": [], "output": []} for r in rows
        }
        if sides:
            # One query for every job's edges, not one per job.
            marks = ", ".join("?" for _ in sides)
            edges = await self.db.fetchall(
                "SELECT job_id, direction, digest, path, size, byte_ranges FROM edges "
                f"WHERE job_id IN ({marks}) ORDER BY path",
                list(sides),
            )
            for job_id, direction, digest, path, size, ranges in edges:
                entry: dict[str, Any] = {"hash": digest, "path": path, "size": size}
                if ranges:
                    entry["byte_ranges"] = json.loads(ranges)
                sides[int(job_id)][str(direction)].append(entry)
        return [
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
                "inputs": sides[int(r[0])]["input"],
                "outputs": sides[int(r[0])]["output"],
            }
            for r in rows
        ]

    async def reproduction_dag(
        self, digest: str, viewer: Viewer, depth: int | None = None
    ) -> dict[str, Any] | None:
        """The producers of ``digest`` and, transitively (``depth`` jobs deep at most), of their
        inputs; plus their sessions' build jobs (what a reproduction may need first) — all as
        ``viewer`` may see them."""
        artifacts = await self.artifacts_by_prefix(digest, viewer)
        if len(artifacts) != 1:
            return None
        artifact = artifacts[0]
        jobs: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        todo = [(str(artifact["hash"]), 0)]
        external: list[str] = []
        while todo:
            current, level = todo.pop(0)
            if current in seen or (depth is not None and level >= depth):
                continue
            seen.add(current)
            makers = await self.producers(current, viewer)
            if not makers and current != artifact["hash"]:
                external.append(current)
            for job in makers:
                key = f"{job['sessionHash']}/{job['jobUid']}"
                if key not in jobs:
                    jobs[key] = job
                    todo.extend((i["hash"], level + 1) for i in job["inputs"])
        sessions = sorted({j["sessionHash"] for j in jobs.values()})
        for session in sessions:
            for job in await self._jobs("j.session_hash = ? AND j.job_type = 'build'", (session,)):
                jobs.setdefault(f"{session}/{job['jobUid']}", job)
        first = await self.session(sessions[0], viewer) if sessions else None
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


def _check_owner(owner: int | None, viewer: Viewer, digest: str) -> None:
    if owner is not None and owner != viewer.user_id:
        raise Forbidden(f"session {digest[:16]} belongs to another user", 409)


async def _discard(tx: Tx, staging_hash: str) -> None:
    """Drop a staged session whose content is already published."""
    await tx.execute(
        "DELETE FROM edges WHERE job_id IN (SELECT id FROM jobs WHERE session_hash = ?)",
        (staging_hash,),
    )
    await tx.execute("DELETE FROM jobs WHERE session_hash = ?", (staging_hash,))
    await tx.execute("DELETE FROM artifact_sessions WHERE session_hash = ?", (staging_hash,))
    await tx.execute(
        "UPDATE artifacts SET first_session = NULL WHERE first_session = ?", (staging_hash,)
    )
    await tx.execute("DELETE FROM sessions WHERE hash = ?", (staging_hash,))
