"""The records every part of roar shares, as frozen msgspec Structs.

Fields are only ever added, with defaults, never renamed or retyped: these shapes are stored in the
database's JSON columns and printed by ``--json`` commands, which are public contracts.
"""

from __future__ import annotations

from typing import Literal

import msgspec

JOB_TYPES = ("run", "build", "get", "put", "ray_task")
# ``tracer`` of a Ray task that ran on a cluster (`roar run ray job submit`): roar's agent in the
# worker saw its files, which live on the cluster, not in the project.
RAY_WORKER_TRACER = "ray-worker"
# ``FileDigest.hash`` of an S3 object whose bytes roar never saw whole (a ranged read, a multipart
# upload): its ETag, marked so it is never mistaken for a BLAKE3 digest.
ETAG_PREFIX = "etag:"


def format_step_ref(number: int, *, build: bool) -> str:
    """How a step is named everywhere: ``@3`` for run step 3, ``@B1`` for build step 1."""
    return f"@B{number}" if build else f"@{number}"


class FileDigest(msgspec.Struct, frozen=True, kw_only=True):
    """A file (or S3 object) as a job saw it: where, what content, how big."""

    path: str  # project-relative when inside the project, else absolute (or s3://...)
    hash: str  # BLAKE3 hex digest: the artifact's identity ("etag:<etag>" when roar has none)
    size: int
    hashes: dict[str, str] = {}  # algorithm -> digest, blake3 included
    byte_ranges: tuple[tuple[int, int], ...] = ()  # the parts of an S3 object that were read


class Component(msgspec.Struct, frozen=True, kw_only=True):
    """One file of a composite artifact."""

    relpath: str  # POSIX, relative to the directory or prefix
    hash: str  # BLAKE3
    size: int


class Composite(msgspec.Struct, frozen=True, kw_only=True):
    """A directory or an object prefix recorded as one artifact (``roar get`` / ``roar put``).

    ``hash`` is the tree hash of its components (algorithm ``composite-blake3``, see
    :mod:`roar.hashing.composite`); the components are files of the same job.
    """

    path: str  # project-relative directory, or the prefix URL (s3://bucket/prefix/)
    hash: str
    size: int
    role: Literal["input", "output"]
    components: list[Component]


class GitInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The git facts recorded on a job (all None outside a repository)."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    repo: str | None = None  # the working tree's root
    remote_url: str | None = None


class _JobFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a job is, whether about to be stored (:class:`NewJob`) or read back (:class:`Job`)."""

    job_uid: str
    job_type: str
    command: str
    argv: list[str]
    cwd: str
    started_at: float
    duration_seconds: float
    exit_code: int | None
    signal: int | None
    git: GitInfo
    inputs: list[FileDigest]
    outputs: list[FileDigest]
    step_identity: str
    tracer: str | None = None
    env: dict[str, str] = {}
    metadata: dict[str, object] = {}


class NewJob(_JobFacts, frozen=True, kw_only=True):
    """Everything the recorder hands the store for one job; the store assigns uid and step."""

    composites: list[Composite] = []
    # Where an output came from (`roar get`): its path -> the URL it was downloaded from.
    sources: dict[str, str] = {}


class Job(_JobFacts, frozen=True, kw_only=True):
    """A recorded job as `roar show --json` prints it."""

    step_number: int
    session_hash: str

    @property
    def step_ref(self) -> str:
        return format_step_ref(self.step_number, build=self.job_type == "build")
