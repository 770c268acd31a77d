"""What `roar reproduce` prints: the preview, the requirement lists, the verdicts (pure)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from roar.reproduce._checklist import render_checklist
from roar.reproduce._interpreter import interpreter_note
from roar.reproduce._model import Plan, PlannedStep, Verdict
from roar.reproduce._plan import dpkg_lines, requirement_lines
from roar.reproduce._run import RunReport

PREVIEW_PACKAGES = 12


def _target_line(plan: Plan) -> str:
    target = plan.target
    if target.kind == "session":
        return f"Reproduce session {target.hash} ({len(plan.steps)} steps)"
    producer = next((s for s in plan.steps if s.job.job_uid == target.producer), None)
    by = f", written by {producer.ref} (job {producer.job.job_uid})" if producer else ""
    return f"Reproduce artifact {target.path} (blake3 {target.hash[:16]}){by}"


def _step_line(step: PlannedStep, several_commits: bool) -> str:
    notes = []
    if step.job.cwd not in (".", ""):
        notes.append(f"in {step.job.cwd}")
    if several_commits and step.code.commit:
        notes.append(f"commit {step.code.commit[:12]}")
    if step.code.patch is not None:
        changed = [*step.code.patch.tracked_changes, *step.code.patch.untracked_files]
        files = ", ".join(changed[:4]) + (", ..." if len(changed) > 4 else "")
        notes.append(f"applies patch {step.code.patch.hash[:12]}: {files}")
    program = interpreter_note(step.job.argv)
    if program:
        notes.append(program)
    suffix = f"   [{'; '.join(notes)}]" if notes else ""
    return f"  {step.ref:<5} {step.job.command}{suffix}"


def _limited(items: list[str], limit: int) -> str:
    shown = " ".join(items[:limit])
    if len(items) > limit:
        shown += f" ... and {len(items) - limit} more (--list-requirements lists them all)"
    return shown


def preview_lines(plan: Plan, hint: str, *, plain: bool = False) -> list[str]:
    """The recipe, the packages, the checklist, and how to run it."""
    lines = [_target_line(plan), f"  lineage from {plan.source}"]
    if plan.commits:
        where = plan.remote_url or f"{plan.repo_path} (no remote recorded)"
        commits = ", ".join(c[:12] for c in plan.commits)
        branch = f" ({plan.branch})" if plan.branch and len(plan.commits) == 1 else ""
        lines.append(f"Git: {where}  commit {commits}{branch}")
    else:
        lines.append("Git: no commit recorded (the steps ran outside a git repository)")
    if plan.python:
        others = [v for v in plan.python_versions if v != plan.python]
        extra = f" (steps also used {', '.join(others)})" if others else ""
        lines.append(f"Python: {plan.python}{extra}")
    builds = [s for s in plan.steps if s.kind == "build"]
    gets = [s for s in plan.steps if s.kind == "get"]
    runs = [s for s in plan.steps if s.kind == "run"]
    several = len(plan.commits) > 1
    groups = (("Build steps", builds), ("Downloads (roar get)", gets), ("Run steps", runs))
    for title, group in groups:
        if group:
            lines += ["", f"{title} ({len(group)}):"]
            lines += [_step_line(s, several) for s in group]
    lines.append("")
    pip = requirement_lines(plan.requirements)
    dpkg = dpkg_lines(plan.requirements)
    lines.append(f"Packages (pip, {len(pip)}): {_limited(pip, PREVIEW_PACKAGES) or 'none'}")
    if dpkg:
        lines.append(
            f"System packages (dpkg, {len(dpkg)}; installed with --package-sync): "
            f"{_limited(dpkg, PREVIEW_PACKAGES)}"
        )
    lines += ["", *render_checklist(plan.checklist, plain=plain)]
    lines += [f"warning: {w}" for w in plan.warnings]
    lines += ["", f"Preview only; nothing was changed. To reproduce: {hint}"]
    return lines


def requirements_text(plan: Plan, *, pip_any_version: bool = False) -> str:
    """A requirements.txt of the pip pins; the Debian packages follow as comments."""
    lines = [f"# roar reproduce: packages recorded for {plan.target.kind} {plan.target.hash[:16]}"]
    lines += requirement_lines(plan.requirements, any_version=pip_any_version)
    dpkg = dpkg_lines(plan.requirements)
    if dpkg:
        lines.append("# Debian packages (roar reproduce --package-sync installs them):")
        lines += [f"#   {p}" for p in dpkg]
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> dict[str, Any]:
    """The preview as JSON (keys are only ever added)."""
    return {
        "target": {
            "kind": plan.target.kind,
            "ref": plan.target.ref,
            "hash": plan.target.hash,
            "path": plan.target.path,
            "producer": plan.target.producer,
        },
        "source": plan.source,
        "git": {
            "remote_url": plan.remote_url,
            "repo": plan.repo_path,
            "branch": plan.branch,
            "commits": plan.commits,
        },
        "python": plan.python,
        "python_versions": plan.python_versions,
        "steps": [
            {
                "step_ref": s.ref,
                "job_uid": s.job.job_uid,
                "kind": s.kind,
                "command": s.job.command,
                "argv": s.job.argv,
                "cwd": s.job.cwd,
                "commit": s.code.commit,
                "patch": s.code.patch.hash if s.code.patch else None,
                "program_note": interpreter_note(s.job.argv),
                "outputs": [{"path": o.path, "hash": o.hash} for o in s.job.outputs],
            }
            for s in plan.steps
        ],
        "requirements": {"pip": plan.requirements.pip, "dpkg": plan.requirements.dpkg},
        "inputs": [
            {
                "path": i.path,
                "hash": i.hash,
                "step_ref": i.step_ref,
                "source": i.source,
                "sourced": i.sourced,
                "required": not i.is_config,
            }
            for i in plan.external_inputs
        ],
        "checklist": [
            {"key": c.key, "title": c.title, "ok": c.ok, "detail": c.detail, "fix": c.fix}
            for c in plan.checklist
        ],
        "score": f"{sum(c.ok for c in plan.checklist)}/{len(plan.checklist)}",
        "warnings": plan.warnings,
    }


def _verdict_json(v: Verdict) -> dict[str, Any]:
    return {
        "path": v.path,
        "step_ref": v.step_ref,
        "verdict": v.status,
        "expected": v.expected,
        "actual": v.actual,
        "target": v.target,
        "diff": v.diff,
        "note": v.note,
    }


def ok(report: RunReport, *, strict: bool) -> bool:
    """Every step ran (and, when strict, every output came back byte for byte)."""
    return report.all_ran and (report.all_reproduced or not strict)


def report_json(plan: Plan, report: RunReport, *, strict: bool) -> dict[str, Any]:
    return {
        "plan": plan_json(plan),
        "mode": report.mode,
        "checkout": report.checkout,
        "project": report.project,
        "venv": report.venv,
        "python": report.python,
        "steps": [
            {
                "step_ref": s.step_ref,
                "command": s.command,
                "ran": s.ran,
                "exit_code": s.exit_code,
                "note": s.note,
                "outcome": s.outcome,
            }
            for s in report.steps
        ],
        "outputs": [_verdict_json(v) for v in report.verdicts],
        "ok": ok(report, strict=strict),
    }


def report_lines(report: RunReport, *, strict: bool) -> list[str]:
    """Steps that ran, a verdict per output (with the first differing lines), the summary."""
    outcomes = Counter(s.outcome for s in report.steps)
    head = f"Steps: {outcomes['ran']}/{len(report.steps)} ran"
    cached = [f"{outcomes[o]} {o}" for o in ("skipped", "restored") if outcomes[o]]
    if cached:
        head += f", {' and '.join(cached)} by the run cache (--force runs them)"
    lines = [head]
    for step in report.steps:
        state = step.outcome if step.done else "NOT RUN"
        note = f"  ({step.note})" if step.note else ""
        lines.append(f"  {step.step_ref:<5} {state:<8} {step.command}{note}")
    lines.append(f"Outputs ({len(report.verdicts)}):")
    width = max((len(v.path) for v in report.verdicts), default=0)
    for v in report.verdicts:
        tags = [v.step_ref, *(["target"] if v.target else []), *([v.note] if v.note else [])]
        lines.append(f"  {v.status:<10}  {v.path:<{width}}  ({'; '.join(tags)})")
        lines += [f"      {d}" for d in v.diff]
    counts = Counter(v.status for v in report.verdicts)
    summary = ", ".join(f"{counts[s]} {s}" for s in ("reproduced", "recreated", "missing"))
    if not report.all_ran:
        verdict = "incomplete: not every step ran"
    elif report.all_reproduced and cached:
        verdict = (
            "reproduced: every output has its recorded bytes "
            f"({' and '.join(cached)} step(s) not re-run: the run cache stood in for them)"
        )
    elif report.all_reproduced:
        verdict = "reproduced: every output has its recorded bytes"
    elif counts["missing"]:
        verdict = "recreated, with missing outputs"
    else:
        verdict = (
            "recreated: every step ran, some outputs differ from the recorded bytes "
            "(non-determinism in the pipeline: seeds, timestamps, ...)"
        )
    if strict and report.all_ran and not report.all_reproduced:
        verdict += "; --strict requires every output to be reproduced"
    lines.append(f"Result: {verdict} ({summary})")
    lines.append(f"Replay recorded in the roar project {report.project}")
    return lines
