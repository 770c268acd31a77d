"""The database schema as a list of forward migrations.

``PRAGMA user_version`` holds the number of migrations applied. A database whose version is higher
than ``len(MIGRATIONS)`` was written by a newer roar and is refused untouched. Migrations only ever
add: new tables, new columns with defaults, new indexes.
"""

from __future__ import annotations

MIGRATION_1 = """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 0,
    source_artifact_hash TEXT,
    git_repo TEXT,
    git_commit_start TEXT,
    git_commit_end TEXT,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX sessions_one_active ON sessions(is_active) WHERE is_active = 1;

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    job_uid TEXT NOT NULL UNIQUE,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    step_number INTEGER NOT NULL,
    step_identity TEXT NOT NULL,
    job_type TEXT NOT NULL CHECK (job_type IN ('run', 'build', 'get', 'put')),
    parent_job_uid TEXT,
    command TEXT NOT NULL,
    argv TEXT NOT NULL,
    cwd TEXT NOT NULL,
    started_at REAL NOT NULL,
    duration_seconds REAL NOT NULL,
    exit_code INTEGER,
    signal INTEGER,
    git_repo TEXT,
    git_commit TEXT,
    git_branch TEXT,
    git_dirty INTEGER,
    git_remote TEXT,
    tracer TEXT,
    status TEXT NOT NULL DEFAULT 'completed',
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX jobs_session_step ON jobs(session_id, step_number);
CREATE INDEX jobs_session_identity ON jobs(session_id, step_identity);
CREATE INDEX jobs_started ON jobs(started_at);

CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    size INTEGER,
    kind TEXT NOT NULL DEFAULT 'primitive' CHECK (kind IN ('primitive', 'composite')),
    source_type TEXT,
    source_url TEXT,
    first_seen_at REAL NOT NULL,
    first_seen_path TEXT,
    metadata TEXT NOT NULL DEFAULT '{}'
);

-- Content addressing: any matching digest of any algorithm is the same artifact.
CREATE TABLE artifact_hashes (
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    algorithm TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (algorithm, digest)
);
CREATE INDEX artifact_hashes_artifact ON artifact_hashes(artifact_id);

CREATE TABLE job_inputs (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    path TEXT NOT NULL,
    byte_ranges TEXT,
    PRIMARY KEY (job_id, artifact_id, path)
);
CREATE INDEX job_inputs_artifact ON job_inputs(artifact_id);

CREATE TABLE job_outputs (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    path TEXT NOT NULL,
    byte_ranges TEXT,
    PRIMARY KEY (job_id, artifact_id, path)
);
CREATE INDEX job_outputs_artifact ON job_outputs(artifact_id);
CREATE INDEX job_outputs_path ON job_outputs(path);

-- An unchanged file is never hashed twice: the key is what changes when the content can change.
CREATE TABLE hash_cache (
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    digest TEXT NOT NULL,
    path TEXT,
    cached_at REAL NOT NULL,
    PRIMARY KEY (device, inode, algorithm)
);

CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    entity_type TEXT NOT NULL CHECK (entity_type IN ('dag', 'job', 'artifact')),
    session_id INTEGER REFERENCES sessions(id) ON DELETE CASCADE,
    job_id INTEGER REFERENCES jobs(id) ON DELETE CASCADE,
    artifact_id INTEGER REFERENCES artifacts(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    document TEXT NOT NULL,
    write_origin TEXT NOT NULL DEFAULT 'user' CHECK (write_origin IN ('user', 'system')),
    created_at REAL NOT NULL,
    CHECK ((session_id IS NOT NULL) + (job_id IS NOT NULL) + (artifact_id IS NOT NULL) = 1)
);
CREATE UNIQUE INDEX labels_session_version ON labels(session_id, version)
    WHERE session_id IS NOT NULL;
CREATE UNIQUE INDEX labels_job_version ON labels(job_id, version) WHERE job_id IS NOT NULL;
CREATE UNIQUE INDEX labels_artifact_version ON labels(artifact_id, version)
    WHERE artifact_id IS NOT NULL;

-- The environment a job ran with that roar put there or saw read (never secret values).
CREATE TABLE job_env (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT,
    source TEXT NOT NULL DEFAULT 'roar_env',
    PRIMARY KEY (job_id, name)
);
"""

# Composite artifacts (a directory or an object prefix as one artifact: `roar get` / `roar put`):
# their components by relative path, and the jobs that read or wrote them whole.
MIGRATION_2 = """
CREATE TABLE artifact_components (
    composite_id INTEGER NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    component_id INTEGER NOT NULL REFERENCES artifacts(id),
    relpath TEXT NOT NULL,
    PRIMARY KEY (composite_id, relpath)
);
CREATE INDEX artifact_components_component ON artifact_components(component_id);

CREATE TABLE job_composites (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    role TEXT NOT NULL CHECK (role IN ('input', 'output')),
    path TEXT NOT NULL,
    PRIMARY KEY (job_id, artifact_id, role)
);
CREATE INDEX job_composites_artifact ON job_composites(artifact_id);
"""

# Where each session was registered (`roar register`): the registry, the hash it published the
# lineage under (a registration session's hash is the server's), the page, the scope.
MIGRATION_3 = """
CREATE TABLE publications (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    registry TEXT NOT NULL,
    remote_hash TEXT NOT NULL,
    url TEXT,
    scope TEXT NOT NULL,
    published_at REAL NOT NULL,
    PRIMARY KEY (session_id, registry)
);
"""

# The hash cache kept a row per inode a path ever had: a job that rewrites its outputs on a
# filesystem that never reuses inodes (tmpfs) added a row per file per run. A path's rows are now
# found through this index and only its current inode's is kept (_hash_cache.remember_digests).
MIGRATION_4 = """
CREATE INDEX hash_cache_path ON hash_cache(path, algorithm);
"""

# A running job puts its files' artifacts in the store while its command runs, before the job
# itself is recorded (roar.store._staging). Each artifact it creates names it (staged_by, kept
# afterwards: which job first saw that content); the job is listed in staging_jobs until it is
# recorded, so that what a job that never got recorded created, and nothing else, can be removed.
MIGRATION_5 = """
ALTER TABLE artifacts ADD COLUMN staged_by TEXT;
CREATE TABLE staging_jobs (
    job_uid TEXT PRIMARY KEY,
    started_at REAL NOT NULL
);
"""

MIGRATIONS: tuple[str, ...] = (MIGRATION_1, MIGRATION_2, MIGRATION_3, MIGRATION_4, MIGRATION_5)

# Loosened CHECK constraints, by the migration (1-based) that loosens them: (table, old, new)
# text of its CREATE statement. SQLite cannot ALTER a CHECK; a change that only admits more
# values leaves every stored row valid, so it is made in the schema text (writable_schema, as
# the SQLite documentation describes for such changes) instead of copying the table.
SCHEMA_EDITS: dict[int, tuple[tuple[str, str, str], ...]] = {
    # Migration 3: a Ray task of a traced script is a job of its own.
    3: (
        (
            "jobs",
            "job_type IN ('run', 'build', 'get', 'put')",
            "job_type IN ('run', 'build', 'get', 'put', 'ray_task')",
        ),
    ),
}
SCHEMA_VERSION = len(MIGRATIONS)
