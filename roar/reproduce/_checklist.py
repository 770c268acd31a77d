"""The reproducibility checklist, evaluated over a plan's steps (pure).

`roar reproduce` prints the publish receipt's items that bear on whether the run can execute:
code committed, one commit, that commit on a remote, every input sourced, the runtime captured.
Each failed item says what to do about it; none of them blocks a reproduction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from roar.reproduce._model import CheckItem, PlannedStep, RemoteFacts, StepInput
from roar.tracing.programs import is_python_program

_SCP_REMOTE = re.compile(r"^[\w.-]+@[\w.-]+:")


def is_local_remote(url: str) -> bool:
    """A remote that is a path on this machine (``/srv/repo.git``, ``file://...``)."""
    if url.startswith("file://"):
        return True
    return "://" not in url and not _SCP_REMOTE.match(url)


def _refs(steps: Sequence[PlannedStep]) -> str:
    return ", ".join(s.ref for s in steps)


def _committed(steps: Sequence[PlannedStep]) -> CheckItem:
    title = "code committed to git"
    no_commit = [s for s in steps if not s.code.commit]
    lost = [s for s in steps if s.code.commit and s.job.git.dirty and s.code.patch is None]
    patched = [s for s in steps if s.code.patch is not None]
    if no_commit:
        return CheckItem(
            key="committed",
            title=title,
            ok=False,
            detail=f"{_refs(no_commit)} ran outside a git repository",
            fix="put the code in a git repository, commit it, and re-run the steps with roar run",
        )
    if lost:
        return CheckItem(
            key="committed",
            title=title,
            ok=False,
            detail=f"{_refs(lost)} ran on uncommitted changes that were not captured",
            fix="commit the code (git add -A && git commit) and re-run those steps",
        )
    detail = ""
    if patched:
        hashes = ", ".join(sorted({s.code.patch.hash[:12] for s in patched if s.code.patch}))
        detail = f"uncommitted changes of {_refs(patched)} captured as patch {hashes}"
    return CheckItem(key="committed", title=title, ok=True, detail=detail)


def _single_commit(steps: Sequence[PlannedStep]) -> CheckItem:
    title = "single git commit across all steps"
    commits = list(dict.fromkeys(s.code.commit for s in steps if s.code.commit))
    if len(commits) == 1:
        return CheckItem(key="single_commit", title=title, ok=True, detail=commits[0][:12])
    if not commits:
        return CheckItem(
            key="single_commit",
            title=title,
            ok=False,
            detail="no commit recorded",
            fix="commit the code and re-run the steps",
        )
    return CheckItem(
        key="single_commit",
        title=title,
        ok=False,
        detail=f"{len(commits)} commits: " + ", ".join(c[:12] for c in commits),
        fix="re-run the steps at one commit ('roar run @N' re-runs a step)",
    )


def _pushed(steps: Sequence[PlannedStep], remote: str | None, facts: RemoteFacts) -> CheckItem:
    title = "commit reachable on a remote"
    branch = next((s.job.git.branch for s in reversed(steps) if s.job.git.branch), None) or "HEAD"
    if not remote:
        return CheckItem(
            key="pushed",
            title=title,
            ok=False,
            detail="no remote was recorded",
            fix=f"add a remote and push: git remote add origin URL && git push -u origin {branch}",
        )
    commits = list(dict.fromkeys(s.code.commit for s in steps if s.code.commit))
    missing = [c for c in commits if facts.commit_on_remote.get(c) is False]
    if missing:
        return CheckItem(
            key="pushed",
            title=title,
            ok=False,
            detail=f"{', '.join(c[:12] for c in missing)} not on {remote}",
            fix=f"push it: git push origin {branch}",
        )
    notes = [remote]
    if is_local_remote(remote):
        notes.append("a path on this machine")
    if any(facts.commit_on_remote.get(c) is None for c in commits):
        notes.append("not checked from here")
    return CheckItem(key="pushed", title=title, ok=True, detail="; ".join(notes))


def _sourced(inputs: Sequence[StepInput]) -> CheckItem:
    title = "all inputs sourced"
    loose = [i for i in inputs if not i.sourced]
    config = sorted({i.path for i in inputs if i.is_config})
    if not loose:
        detail = (
            f"tool configuration read, not required: {', '.join(config[:5])}"
            + (f" and {len(config) - 5} more" if len(config) > 5 else "")
            if config
            else ""
        )
        return CheckItem(key="inputs_sourced", title=title, ok=True, detail=detail)
    shown = ", ".join(f"{i.path} ({i.step_ref})" for i in loose[:5])
    if len(loose) > 5:
        shown += f" and {len(loose) - 5} more"
    fix = (
        "commit them to git, or fetch external data through roar "
        "(roar run wget URL, or S3 through the proxy)"
    )
    if any(i.path.startswith(("/tmp/", "/var/tmp/")) for i in loose):
        fix += "; keep inputs and intermediates out of /tmp"
    return CheckItem(
        key="inputs_sourced", title=title, ok=False, detail=f"unsourced: {shown}", fix=fix
    )


def _ran_python(step: PlannedStep) -> bool:
    programs = step.job.metadata.get("programs")
    if not isinstance(programs, list):
        return False
    return any(is_python_program(str(p)) for p in programs)


def _runtime(steps: Sequence[PlannedStep]) -> CheckItem:
    title = "runtime captured (interpreter + packages)"
    lacking = [
        s
        for s in steps
        if not isinstance(s.job.metadata.get("runtime"), dict)
        or not isinstance(s.job.metadata.get("packages"), dict)
    ]
    no_version = []
    versions: set[str] = set()
    for step in steps:
        runtime = step.job.metadata.get("runtime")
        python = runtime.get("python") if isinstance(runtime, dict) else None
        version = python.get("version") if isinstance(python, dict) else None
        if version:
            versions.add(str(version))
        elif _ran_python(step) and step not in lacking:
            no_version.append(step)
    if lacking or no_version:
        return CheckItem(
            key="runtime",
            title=title,
            ok=False,
            detail=f"no environment recorded for {_refs([*lacking, *no_version])}",
            fix="re-run those steps with this roar (older records lack the environment)",
        )
    detail = "Python " + ", ".join(sorted(versions)) if versions else "no Python steps"
    return CheckItem(key="runtime", title=title, ok=True, detail=detail)


def evaluate_checklist(
    steps: Sequence[PlannedStep],
    inputs: Sequence[StepInput],
    remote: str | None,
    facts: RemoteFacts,
) -> list[CheckItem]:
    """The five items, in the order the publish receipt prints them."""
    return [
        _committed(steps),
        _single_commit(steps),
        _pushed(steps, remote, facts),
        _sourced(inputs),
        _runtime(steps),
    ]


def render_checklist(items: Sequence[CheckItem], *, plain: bool = False) -> list[str]:
    """``Reproducibility — ok/total`` and one ✅/❌ line per item, with what to do under each ❌;
    ``plain`` uses ASCII only (``[ok]``/``[FAIL]``), for logs and pipes."""
    passed = sum(1 for i in items if i.ok)
    dash, arrow = ("-", "->") if plain else ("—", "→")
    lines = [f"Reproducibility {dash} {passed}/{len(items)}"]
    for item in items:
        marks = ("ok", "FAIL") if plain else ("✅", "❌")
        mark = marks[0] if item.ok else marks[1]
        detail = f" ({item.detail})" if item.detail else ""
        lines.append(f"  [{mark}] {item.title}{detail}")
        if not item.ok and item.fix:
            lines.append(f"        {arrow} {item.fix}")
    return lines
