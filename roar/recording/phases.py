"""What each phase of recording a job hands to the next (see ``recorder``): plain data.

Kept apart from the phases themselves so that the pure step at the end, building the job record
(``job_builder``), reads them without importing the I/O of the phases that made them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roar.core.git import GitState
from roar.hashing import HashResult
from roar.models import FileDigest, Job
from roar.recording.filters import FilterOutcome, FilterSettings
from roar.recording.patch import PatchInfo
from roar.recording.ray_tasks import RayTask, TaskRouter
from roar.recording.semantics import Accesses
from roar.recording.warnings import RecordWarning
from roar.tracing.base import Backend, TraceOutcome

if TYPE_CHECKING:
    from roar.recording.environment import InterpreterCache
    from roar.recording.ray_submission import SubmitPlan


@dataclass
class RunReport:
    """What `roar run` tells the user afterwards, and the exit code it passes through."""

    exit_code: int
    job: Job | None
    outcome: TraceOutcome
    backend: str
    warnings: list[RecordWarning] = field(default_factory=list)
    dropped: list[tuple[str, str, str]] = field(default_factory=list)
    discarded_writes: tuple[str, ...] = ()
    bookkeeping_seconds: float = 0.0  # from the command's end to the job being stored


@dataclass
class Prepared:
    """Everything decided before the command starts."""

    job_uid: str
    argv: list[str]
    cwd: Path
    scratch: Path  # the job's scratch directory (snapshots, the probe's logs); removed after
    env: dict[str, str]
    launched_with: dict[str, str]  # the environment as roar launched the command
    backend: Backend
    settings: FilterSettings
    git: GitState  # read before the command can change the tree
    diff: bytes  # the tracked changes against HEAD, at the same moment
    router: TaskRouter | None = None  # Ray tasks told apart (ray.enabled)
    submission: SubmitPlan | None = None  # `ray job submit`: run as planned (ray.enabled)

    @property
    def run_argv(self) -> list[str]:
        """The command as run (a `ray job submit` carries roar to the cluster)."""
        return self.submission.run_argv if self.submission is not None else self.argv

    @property
    def snapshot_dir(self) -> Path:
        return self.scratch / "snapshots"

    @property
    def env_log(self) -> Path:
        return self.scratch / "env"


@dataclass
class Traced:
    """The command's run: how it ended, what it touched, and what was hashed and read
    meanwhile."""

    outcome: TraceOutcome
    accesses: Accesses
    started_at: float
    duration: float
    ended: float  # time.monotonic() when the command ended
    early: dict[str, HashResult]  # inputs, hashed when first opened
    closed: dict[str, HashResult]  # outputs, hashed when closed
    proxy_events: list[Any] | None  # the job's S3 proxy events, when it had one
    tasks: list[RayTask] = field(default_factory=list)  # its Ray tasks, in the order they began
    # Read while the command ran: what git tracks unmodified at the recorded commit (the tree as
    # `prepare` found it), and the machine's facts for the environment record.
    tracked: set[str] = field(default_factory=set)
    machine: dict[str, Any] = field(default_factory=dict)
    interpreters: InterpreterCache | None = None  # asked about each interpreter as it started


@dataclass
class Settled:
    """The job's files with their digests, and the environment it ran in."""

    filtered: FilterOutcome
    inputs: list[FileDigest]
    outputs: list[FileDigest]
    s3_deleted: list[str]
    environment: dict[str, Any]
    settings: FilterSettings  # with the interpreters the job ran as package roots


@dataclass
class Attribution:
    """Where each input can be had again, and the patch of uncommitted changes it may need."""

    git: GitState  # dirty when a patch was recorded
    patch: PatchInfo | None
    sources: dict[str, str | None]
    tracked: set[str]  # what git covers unmodified (the job's Ray tasks reuse it)
