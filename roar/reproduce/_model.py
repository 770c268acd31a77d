"""The records reproduce works with: what a lineage source found, the plan made from it, and
the verdict on each output once the plan has run."""

from __future__ import annotations

from typing import Literal

import msgspec

from roar.models import Job

TargetKind = Literal["artifact", "session"]
StepKind = Literal["build", "run", "get"]
VerdictStatus = Literal["reproduced", "recreated", "missing"]
# ran: exited as recorded; skipped / restored: the run cache stood in for it (its inputs and
# outputs as recorded / outputs put back from .roar/cache); failed: exited otherwise;
# declined: the user said no; not-run: an earlier step failed.
StepOutcome = Literal["ran", "skipped", "restored", "failed", "declined", "not-run"]


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """What the user asked to reproduce."""

    kind: TargetKind
    ref: str  # as typed
    hash: str  # the artifact's BLAKE3 digest, or the session hash
    path: str | None = None  # artifact: where its producer wrote it
    producer: str | None = None  # artifact: uid of the job that wrote it


class Lineage(msgspec.Struct, frozen=True, kw_only=True):
    """A lineage source's answer: the target, and jobs it may depend on.

    ``jobs`` may hold more than the target needs (every recorded producer of every digest met on
    the way up, every build job of the sessions involved); the planner picks from them.
    """

    target: Target
    jobs: list[Job]
    source: str  # where it came from, for humans: "local store /p/.roar/roar.db"
    project_subdir: str = ""  # the recording project's root relative to its git repository


class PatchRef(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded dirty-tree patch (see roar.recording.patch)."""

    hash: str
    path: str
    tracked_changes: list[str] = []
    untracked_files: list[str] = []


class CodeState(msgspec.Struct, frozen=True, kw_only=True):
    """The code a step ran on: a commit, plus the uncommitted changes recorded as a patch."""

    commit: str | None
    patch: PatchRef | None = None


class PlannedStep(msgspec.Struct, frozen=True, kw_only=True):
    job: Job
    kind: StepKind
    code: CodeState

    @property
    def ref(self) -> str:
        return self.job.step_ref


class StepInput(msgspec.Struct, frozen=True, kw_only=True):
    """An input of a planned step that no earlier planned step produces."""

    path: str
    hash: str
    step_ref: str
    source: str | None  # "git", "patch:<hash>", "job:<uid>" (outside the plan), "config", or None

    @property
    def sourced(self) -> bool:
        """Can be had again, or need not be (tool configuration is shown, never required)."""
        return self.source is not None and not self.source.startswith("job:")

    @property
    def is_config(self) -> bool:
        return self.source == "config"


class Requirements(msgspec.Struct, frozen=True, kw_only=True):
    """Packages to install, merged over the steps (later steps win)."""

    pip: dict[str, str] = {}
    dpkg: dict[str, str] = {}


class CheckItem(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the reproducibility checklist."""

    key: str
    title: str
    ok: bool
    detail: str = ""  # what was found, shown after the title
    fix: str = ""  # what to do about a failed item


class RemoteFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What could be learned about the recorded remote without changing anything.

    ``commit_on_remote`` maps each commit to True/False, or None when it cannot be told from
    here (a network remote is not contacted for a preview).
    """

    commit_on_remote: dict[str, bool | None] = {}
    repo_available: bool = False  # the recorded repository exists on this machine


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything `roar reproduce` previews and `--run` executes, decided without I/O."""

    target: Target
    source: str
    steps: list[PlannedStep]  # build steps first, then run steps
    remote_url: str | None
    repo_path: str | None  # the recorded repository root (on the recording machine)
    branch: str | None
    commits: list[str]
    project_subdir: str
    python: str | None  # the recorded interpreter version to recreate
    python_versions: list[str]  # every version the steps recorded
    requirements: Requirements
    external_inputs: list[StepInput]
    checklist: list[CheckItem]
    warnings: list[str] = []

    @property
    def unsourced(self) -> list[StepInput]:
        return [i for i in self.external_inputs if not i.sourced]

    @property
    def patches(self) -> list[PatchRef]:
        seen: dict[str, PatchRef] = {}
        for step in self.steps:
            if step.code.patch is not None:
                seen.setdefault(step.code.patch.hash, step.code.patch)
        return list(seen.values())


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """How one recorded output came back."""

    path: str  # as recorded
    step_ref: str
    status: VerdictStatus
    expected: str  # recorded BLAKE3
    actual: str | None = None  # BLAKE3 of the reproduced file
    target: bool = False
    diff: list[str] = []  # first differing lines, for text and JSON
    note: str = ""


class StepResult(msgspec.Struct, frozen=True, kw_only=True):
    step_ref: str
    command: str
    ran: bool  # it ran and exited as recorded
    exit_code: int | None = None
    note: str = ""
    outcome: StepOutcome = "ran"

    @property
    def done(self) -> bool:
        """Its outputs are there: it ran, or the run cache stood in for it."""
        return self.ran or self.outcome in ("skipped", "restored")
