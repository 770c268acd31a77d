"""Executing a plan: code, inputs, environment, then every step through roar itself.

Order of work, so that nothing is changed when the reproduction cannot succeed:

1. check, changing nothing, that every unsourced input is on this machine with its recorded
   content, and that the recorded Python (or one of the same minor version) is installed;
2. get the code: the current checkout in place, else a clone under ``./reproduce/<name>``;
3. copy unsourced inputs found on this machine into the clone;
4. create a roar project for the replay (a new project, hence a fresh session: the user's
   project and active session are never written to);
5. for each step, switch the clone to the step's commit and patch; unless ``--force``, skip it
   when its inputs and outputs already have their recorded content, or restore its outputs from
   the source project's run cache (``cache.enabled``) when only they are missing or changed
   (:mod:`roar.recording.reuse`, the rule ``roar run @N`` follows);
6. before the first step that has to run, create the virtual environment with the recorded
   pins; run the step as ``roar build|run -- <argv>`` in its recorded directory, and judge each
   of its outputs right after it ran.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import anyio
import anyio.to_thread
import msgspec

from roar.core import config as config_module
from roar.core.init import init_project
from roar.core.project import DB_NAME, ROAR_DIR, Project
from roar.errors import RoarError, UsageError
from roar.hashing import Hasher
from roar.recording.reuse import Reuse
from roar.recording.reuse import check as reuse_check
from roar.reproduce._code import (
    clone,
    clone_url,
    free_directory,
    in_place_checkout,
    remote_facts,
    repo_name,
    switch_code,
)
from roar.reproduce._environment import apt_install, create_venv, pip_install, step_environment
from roar.reproduce._interpreter import replay_argv
from roar.reproduce._model import (
    CodeState,
    Plan,
    PlannedStep,
    StepInput,
    StepOutcome,
    StepResult,
    Verdict,
)
from roar.reproduce._plan import (
    build_plan,
    cluster_outputs,
    dpkg_lines,
    map_path,
    requirement_lines,
)
from roar.reproduce._python import Interpreter, find_python
from roar.reproduce._source import LineageSource, find_lineage, read_reference
from roar.reproduce._verify import judge, not_run, stat_key

Mode = Literal["in-place", "clone", "scratch"]

# A Ray task of a `ray job submit` wrote it into Ray's copy of the working dir on the cluster.
_ON_CLUSTER = "written on the Ray cluster, in Ray's copy of the working dir: not here to compare"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What the user asked for on the command line."""

    workdir: Path  # where ./reproduce/<name> is created (the user's working directory)
    yes: bool = False
    pip_any_version: bool = False
    package_sync: bool = False
    dpkg_any_version: bool = False
    python: str | None = None  # interpreter chosen by the user
    force: bool = False  # run every step, even those the run cache would skip or restore


@dataclass(frozen=True, slots=True, kw_only=True)
class Ui:
    """How the operation talks to the user: progress lines, yes/no questions, and where the
    steps' standard output goes (None: inherited)."""

    say: Callable[[str], None]
    confirm: Callable[[str], Awaitable[bool]]
    step_stdout: IO[Any] | None = None


class RunReport(msgspec.Struct, frozen=True, kw_only=True):
    mode: Mode
    checkout: str
    project: str  # the roar project the replay was recorded in
    venv: str | None
    python: str | None
    steps: list[StepResult]
    verdicts: list[Verdict]

    @property
    def all_ran(self) -> bool:
        """Every step's outputs are there: it ran, or the run cache stood in for it."""
        return all(s.done for s in self.steps)

    @property
    def all_reproduced(self) -> bool:
        return all(v.status == "reproduced" for v in self.verdicts)


def roar_command() -> list[str]:
    """How to start this very roar: its console script when that is what runs, else this
    interpreter importing this copy of the package."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "roar" and os.path.isfile(argv0) and os.access(argv0, os.X_OK):
        return [os.path.abspath(argv0)]
    import roar

    parent = os.path.dirname(os.path.dirname(os.path.abspath(roar.__file__)))
    code = f"import sys; sys.path.insert(0, {parent!r}); from roar.cli import main; main()"
    return [sys.executable, "-c", code]


async def locate_unsourced(plan: Plan, source: LineageSource) -> list[tuple[StepInput, str]]:
    """Where each unsourced input lies on this machine with its recorded content; raises
    UsageError naming every one that does not, before anything has been changed."""
    found: list[tuple[StepInput, str]] = []
    absent: list[str] = []
    for item in plan.unsourced:
        where = await source.local_copy(item.path, item.hash)
        if where is None:
            changed = os.path.isabs(item.path) and os.path.exists(item.path)
            state = "changed since it was recorded" if changed else "absent"
            absent.append(f"{item.path} (read by {item.step_ref}; {state})")
        else:
            found.append((item, where))
    if absent:
        raise UsageError(
            "cannot reproduce: unsourced input(s) not on this machine with the recorded content: "
            + ", ".join(absent)
            + "; commit them or fetch them under roar run (e.g. roar run wget URL), and record the "
            "steps again"
        )
    return found


async def choose_python(plan: Plan, options: RunOptions, ui: Ui) -> Interpreter | None:
    """The interpreter for the venv; None when no step ran Python and nothing is to be pip
    installed (then no virtual environment is created)."""
    if plan.python is None and not plan.requirements.pip and options.python is None:
        return None
    interpreter = await find_python(plan.python, options.python)
    if plan.python is None:
        ui.say(f"No Python version was recorded; using {interpreter.version} ({interpreter.path})")
    elif not interpreter.exact:
        ui.say(
            f"Python {plan.python} is not installed; using {interpreter.version} "
            f"({interpreter.path}), the same minor version"
            if options.python is None
            else f"Using Python {interpreter.version} ({interpreter.path}) as asked, "
            f"not the recorded {plan.python}"
        )
    return interpreter


async def prepare(
    sources: Sequence[LineageSource], ref: str, *, session: bool = False
) -> tuple[Plan, LineageSource]:
    """Find ``ref``'s lineage in the first source that knows it and plan its reproduction
    (changes nothing; reads the recorded remote only when it is a path on this machine)."""
    lineage, source = await find_lineage(sources, ref, session=session)
    draft = build_plan(lineage)
    if not draft.steps:
        raise UsageError(
            f"{ref} was not produced by a run or build step: there is nothing to replay"
        )
    return build_plan(lineage, await remote_facts(draft)), source


async def execute(plan: Plan, source: LineageSource, options: RunOptions, ui: Ui) -> RunReport:
    """Reproduce ``plan``; returns what ran and a verdict per recorded output."""
    located = await locate_unsourced(plan, source)
    interpreter = await choose_python(plan, options, ui)
    for step in plan.steps:
        if step.code.patch is not None and await source.patch(step.code.patch.hash) is None:
            raise UsageError(
                f"{step.ref} ran on uncommitted changes recorded as patch "
                f"{step.code.patch.hash[:12]}, which {source.name} no longer has"
            )
    for check in plan.checklist:
        if not check.ok:
            ui.say(
                f"checklist: FAIL {check.title}" + (f" ({check.detail})" if check.detail else "")
            )
    place = await _choose_place(plan, options, ui)
    setup = [place.description]
    if interpreter is not None:
        pins = len(plan.requirements.pip)
        setup.append(f"a Python {interpreter.version} virtual environment with {pins} package(s)")
    if not options.yes and not await ui.confirm("Reproduce " + ", with ".join(setup) + "?"):
        raise RoarError("cancelled; nothing was changed")

    current = await _fetch_code(plan, place, ui)
    checkout = place.checkout
    project_dir = Path(os.path.normpath(checkout / plan.project_subdir))
    project_dir.mkdir(parents=True, exist_ok=True)

    def where_is(path: str) -> str:
        return map_path(path, str(checkout), plan.project_subdir, plan.repo_path)

    for item, found_at in located:
        destination = where_is(item.path)
        if os.path.realpath(destination) != os.path.realpath(found_at):
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            await anyio.to_thread.run_sync(shutil.copy2, found_at, destination)
            ui.say(f"Copied unsourced input {item.path} from {found_at}")
    project = await _replay_project(project_dir)
    cache = None if options.force else source.output_cache()
    hasher = Hasher(None)
    environment: list[Path | None] = []  # built before the first step that has to run

    results: list[StepResult] = []
    verdicts: list[Verdict] = []
    stopped = ""
    for step in plan.steps:
        if stopped:
            results.append(_not_done(step, "not-run", stopped))
            verdicts += _not_run(plan, step, stopped)
            continue
        if place.mode == "clone" and current != step.code:
            patch = await source.patch(step.code.patch.hash) if step.code.patch else None
            await switch_code(checkout, current, step.code, patch)
            current = step.code
        if not options.force:
            decided = await reuse_check(step.job, hasher, where_is, cache)
            if decided.decision != "run":
                ui.say(f"==> {step.ref}: {_cache_line(decided)}")
                results.append(_not_done(step, decided.decision, _cache_note(decided)))
                verdicts += _from_cache(plan, step, decided)
                continue
        if not options.yes and not await ui.confirm(f"Run {step.ref}: {step.job.command}?"):
            results.append(_not_done(step, "declined", "skipped"))
            verdicts += _not_run(plan, step, "the step was skipped")
            continue
        if not environment:
            environment.append(await _build_environment(plan, project, interpreter, options, ui))
        venv = environment[0]
        result, judged = await _run_step(plan, step, project, venv, source, ui, where_is)
        results.append(result)
        verdicts += judged
        if not result.ran:
            stopped = f"not run: {step.ref} failed"
    venv = environment[0] if environment else None
    return RunReport(
        mode=place.mode,
        checkout=str(checkout),
        project=str(project.root),
        venv=str(venv) if venv else None,
        python=interpreter.version if interpreter else None,
        steps=results,
        verdicts=verdicts,
    )


@dataclass(frozen=True, slots=True)
class _Place:
    mode: Mode
    checkout: Path
    description: str
    url: str = ""


async def _choose_place(plan: Plan, options: RunOptions, ui: Ui) -> _Place:
    """In place, a clone of the recorded remote, or (no commit recorded) a scratch directory."""
    checkout, why = await in_place_checkout(options.workdir, plan)
    if checkout is not None:
        return _Place("in-place", checkout, f"in place in {checkout} (the recorded commit, clean)")
    if why:
        ui.say(f"Not reproducing in place: {why}")
    parent = options.workdir / "reproduce"
    if not plan.commits:
        target = free_directory(parent, "rerun")
        return _Place("scratch", target, f"in {target} (no git commit was recorded)")
    url, note = clone_url(plan)
    if note:
        ui.say(note)
    target = free_directory(parent, repo_name(url, plan.repo_path))
    return _Place("clone", target, f"in a clone of {url} at {target}", url)


async def _fetch_code(plan: Plan, place: _Place, ui: Ui) -> CodeState | None:
    """Clone (or create the scratch directory); the code state the checkout is left in."""
    if place.mode == "scratch":
        place.checkout.mkdir(parents=True)
        return None
    if place.mode == "in-place":
        return None
    first = plan.steps[0].code.commit if plan.steps else None
    commit = first or plan.commits[0]
    ui.say(f"Cloning {place.url} into {place.checkout} at {commit[:12]}")
    await clone(place.url, place.checkout, commit)
    return CodeState(commit=commit)


async def _build_environment(
    plan: Plan, project: Project, interpreter: Interpreter | None, options: RunOptions, ui: Ui
) -> Path | None:
    """The virtual environment with the recorded pins (None when no Python is involved), and
    the Debian packages with --package-sync."""
    venv: Path | None = None
    if interpreter is not None:
        venv = project.roar_dir / "venv"
        ui.say(f"Creating a virtual environment with Python {interpreter.version} in {venv}")
        venv_python = await create_venv(interpreter.path, venv)
        specs = requirement_lines(plan.requirements, any_version=options.pip_any_version)
        if specs:
            ui.say(f"Installing {len(specs)} package(s): {' '.join(specs)}")
        await pip_install(venv_python, specs, any_version=options.pip_any_version)
    if options.package_sync:
        packages = dpkg_lines(plan.requirements, any_version=options.dpkg_any_version)
        if packages:
            ui.say(f"Installing {len(packages)} Debian package(s) with apt-get")
        await apt_install(packages, any_version=options.dpkg_any_version)
    return venv


async def _replay_project(project_dir: Path) -> Project:
    """A new roar project for the replay: the checkout's own directory, unless that already is a
    roar project (reproducing in place in the user's project), then one under its `.roar/`."""
    root = project_dir
    if (project_dir / ROAR_DIR / DB_NAME).is_file():
        parent = project_dir / ROAR_DIR / "reproductions"
        taken = (
            [int(p.name) for p in parent.glob("*") if p.name.isdigit()] if parent.is_dir() else []
        )
        root = parent / str(max(taken, default=0) + 1)
        root.mkdir(parents=True)
    result = await init_project(root, gitignore=False)
    return result.project


def _not_done(step: PlannedStep, outcome: StepOutcome, note: str) -> StepResult:
    return StepResult(
        step_ref=step.ref, command=step.job.command, ran=False, note=note, outcome=outcome
    )


def _cache_note(decided: Reuse) -> str:
    if decided.decision == "skipped":
        return "skipped: its inputs and outputs are as recorded (--force runs it)"
    return "restored from the run cache: " + ", ".join(decided.restored)


def _cache_line(decided: Reuse) -> str:
    if decided.decision == "skipped":
        return "skipped, inputs and outputs unchanged (--force runs it)"
    return "restored from the run cache without running: " + ", ".join(decided.restored)


def _from_cache(plan: Plan, step: PlannedStep, decided: Reuse) -> list[Verdict]:
    """Every local output is there with its recorded bytes (the cache check made sure)."""
    restored = set(decided.restored)
    verdicts = []
    for out in step.job.outputs:
        target = _is_target(plan, step, out.hash)
        if out.path.startswith("s3://"):
            verdicts.append(
                not_run(out, step_ref=step.ref, target=target, why="an S3 object is not checked")
            )
            continue
        how = "restored from the run cache" if out.path in restored else "unchanged, step skipped"
        verdicts.append(
            Verdict(
                path=out.path,
                step_ref=step.ref,
                status="reproduced",
                expected=out.hash,
                actual=out.hash,
                target=target,
                note=how,
            )
        )
    return verdicts


def _not_run(plan: Plan, step: PlannedStep, why: str) -> list[Verdict]:
    return [
        not_run(out, step_ref=step.ref, target=_is_target(plan, step, out.hash), why=why)
        for out in step.job.outputs
    ]


def _is_target(plan: Plan, step: PlannedStep, digest: str) -> bool:
    if plan.target.kind != "artifact":
        return False
    return digest == plan.target.hash and step.job.job_uid == plan.target.producer


async def _run_step(
    plan: Plan,
    step: PlannedStep,
    project: Project,
    venv: Path | None,
    source: LineageSource,
    ui: Ui,
    where_is: Callable[[str], str],
) -> tuple[StepResult, list[Verdict]]:
    job = step.job
    cwd = Path(where_is(job.cwd))
    cwd.mkdir(parents=True, exist_ok=True)
    # The job's [env] goes into the replay project's config, so the replayed job records it too.
    config = config_module.load(project.config_path).with_env(job.env)
    config_module.save(project.config_path, config)
    locations = {out.path: where_is(out.path) for out in job.outputs}
    before = {path: stat_key(location) for path, location in locations.items()}
    references = {out.path: await read_reference(source, out.path, out.hash) for out in job.outputs}
    env = step_environment(os.environ, venv=venv, recorded_env=job.env, project_root=project.root)
    if step.kind == "get":
        # `roar get SRC [DEST]` again: the same source, into the same place.
        argv = [*roar_command(), *job.argv[1:]]
    else:
        program = replay_argv(job.argv, str(venv / "bin") if venv is not None else None)
        if program[:1] != job.argv[:1]:
            ui.say(f"{step.ref}: running {program[0]} (recorded {job.argv[0]})")
        argv = [*roar_command(), step.kind, "-q", "--", *program]
    ui.say(f"==> {step.ref}: {job.command}")
    completed = await anyio.run_process(
        argv, cwd=cwd, env=env, check=False, stdin=None, stdout=ui.step_stdout, stderr=None
    )
    expected_exit = job.exit_code or 0
    ran = completed.returncode == expected_exit
    note = "" if ran else f"exited {completed.returncode} (recorded: {expected_exit})"
    verdicts = [
        await judge(
            out,
            locations[out.path],
            step_ref=step.ref,
            before=before[out.path],
            reference=references[out.path],
            target=_is_target(plan, step, out.hash),
        )
        for out in job.outputs
    ]
    remote = cluster_outputs(job)
    verdicts = [
        msgspec.structs.replace(v, note=_ON_CLUSTER)
        if v.status == "missing" and v.path in remote
        else v
        for v in verdicts
    ]
    result = StepResult(
        step_ref=step.ref,
        command=job.command,
        ran=ran,
        exit_code=completed.returncode,
        note=note,
        outcome="ran" if ran else "failed",
    )
    return result, verdicts
