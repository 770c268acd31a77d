"""The registry's schema, as numbered migrations written once for both engines.

``{id}``, ``{int}`` and ``{real}`` stand for the column types that differ (an auto-numbered key,
a 64-bit integer, a double); everything else is SQL both SQLite and PostgreSQL accept. Foreign
keys are implied by names, not declared: a finalised registration session renames its session,
and both engines then agree on what happens (nothing) without cascade rules.
"""

from __future__ import annotations

from roar.registry.server._engine import Engine

_TYPES = {
    "sqlite": {"id": "INTEGER PRIMARY KEY", "int": "INTEGER", "real": "REAL"},
    "postgresql": {"id": "BIGSERIAL PRIMARY KEY", "int": "BIGINT", "real": "DOUBLE PRECISION"},
}

MIGRATIONS: list[list[str]] = [
    # 1: the lineage — what the first registry held (these tables may already exist).
    [
        """CREATE TABLE IF NOT EXISTS sessions (
            hash TEXT PRIMARY KEY,
            git_repo TEXT, git_commit TEXT, git_branch TEXT,
            created_at {real} NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS jobs (
            id {id},
            session_hash TEXT NOT NULL,
            job_uid TEXT NOT NULL,
            command TEXT NOT NULL, timestamp {real} NOT NULL,
            git_commit TEXT, git_branch TEXT,
            duration_seconds {real}, exit_code {int},
            job_type TEXT NOT NULL, step_number {int} NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{{}}',
            UNIQUE (session_hash, job_uid))""",
        """CREATE TABLE IF NOT EXISTS artifacts (
            id {id},
            size {int}, source_type TEXT, metadata TEXT,
            first_session TEXT, created_at {real} NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS artifact_hashes (
            artifact_id {int} NOT NULL,
            algorithm TEXT NOT NULL, digest TEXT NOT NULL,
            PRIMARY KEY (algorithm, digest))""",
        "CREATE INDEX IF NOT EXISTS artifact_hashes_digest ON artifact_hashes(digest)",
        """CREATE TABLE IF NOT EXISTS edges (
            job_id {int} NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('input', 'output')),
            digest TEXT NOT NULL, path TEXT NOT NULL, size {int}, byte_ranges TEXT,
            UNIQUE (job_id, direction, digest, path))""",
        "CREATE INDEX IF NOT EXISTS edges_digest ON edges(digest, direction)",
    ],
    # 2: who owns what and who may see it; accounts; registration sessions; labels.
    [
        "ALTER TABLE sessions ADD COLUMN owner_id {int}",
        "ALTER TABLE sessions ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public'",
        # 'open' while a registration session stages it; 'published' once readable.
        "ALTER TABLE sessions ADD COLUMN state TEXT NOT NULL DEFAULT 'published'",
        "CREATE INDEX jobs_session ON jobs(session_hash, job_type)",
        """CREATE TABLE artifact_sessions (
            artifact_id {int} NOT NULL, session_hash TEXT NOT NULL,
            PRIMARY KEY (artifact_id, session_hash))""",
        "CREATE INDEX artifact_sessions_session ON artifact_sessions(session_hash)",
        """INSERT INTO artifact_sessions (artifact_id, session_hash)
           SELECT id, first_session FROM artifacts WHERE first_session IS NOT NULL
           ON CONFLICT DO NOTHING""",
        """INSERT INTO artifact_sessions (artifact_id, session_hash)
           SELECT DISTINCT h.artifact_id, j.session_hash
           FROM edges e JOIN jobs j ON j.id = e.job_id JOIN artifact_hashes h ON h.digest = e.digest
           WHERE true ON CONFLICT DO NOTHING""",
        """CREATE TABLE users (
            id {id}, username TEXT NOT NULL UNIQUE, email TEXT,
            password_hash TEXT NOT NULL, created_at {real} NOT NULL)""",
        """CREATE TABLE ssh_keys (
            fingerprint TEXT PRIMARY KEY, user_id {int} NOT NULL,
            public_key TEXT NOT NULL, created_at {real} NOT NULL)""",
        """CREATE TABLE devices (
            device_hash TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, client_id TEXT,
            status TEXT NOT NULL, user_id {int},
            created_at {real} NOT NULL, expires_at {real} NOT NULL, last_poll {real})""",
        """CREATE TABLE tokens (
            token_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id {int} NOT NULL,
            family TEXT NOT NULL, expires_at {real} NOT NULL, revoked {int} NOT NULL DEFAULT 0)""",
        "CREATE INDEX tokens_family ON tokens(family)",
        """CREATE TABLE registration_sessions (
            id TEXT PRIMARY KEY, token_hash TEXT, mode TEXT NOT NULL, status TEXT NOT NULL,
            owner_id {int}, session_hash TEXT NOT NULL, client_session_id TEXT,
            published_hash TEXT, created_at {real} NOT NULL)""",
        """CREATE TABLE labels (
            id {id}, entity_type TEXT NOT NULL, session_hash TEXT NOT NULL,
            job_uid TEXT NOT NULL DEFAULT '', artifact_hash TEXT NOT NULL DEFAULT '',
            version {int} NOT NULL, metadata TEXT NOT NULL, key_origins TEXT NOT NULL,
            created_at {real} NOT NULL,
            UNIQUE (entity_type, session_hash, job_uid, artifact_hash, version))""",
    ],
    # 3: composite artifacts (a dataset: a directory or an object prefix), their components.
    [
        """CREATE TABLE composite_components (
            artifact_id {int} NOT NULL, relative_path TEXT NOT NULL, leaf_kind TEXT,
            component_algorithm TEXT NOT NULL, component_digest TEXT NOT NULL,
            component_size {int}, component_type TEXT,
            PRIMARY KEY (artifact_id, relative_path))""",
        "CREATE INDEX composite_components_digest ON composite_components(component_digest)",
        """CREATE TABLE composite_membership (
            artifact_id {int} PRIMARY KEY, total_components {int} NOT NULL, membership TEXT)""",
    ],
]


async def migrate(engine: Engine) -> int:
    """Bring the database to the latest schema; returns the version it is at."""
    types = _TYPES[engine.dialect]
    async with engine.write() as tx:
        await tx.execute("CREATE TABLE IF NOT EXISTS registry_schema (version INTEGER NOT NULL)")
        row = await tx.fetchone("SELECT MAX(version) FROM registry_schema")
        current = int(row[0]) if row and row[0] is not None else 0
        for number, statements in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            for statement in statements:
                await tx.execute(statement.format(**types))
            await tx.execute("INSERT INTO registry_schema (version) VALUES (?)", (number,))
            current = number
    return current
