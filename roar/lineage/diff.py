"""What differs between two recorded jobs: parameters, code, inputs, environment (pure).

``roar diff A B`` answers "why are these two results different?". This module compares two
:class:`Job` records field by field; the caller (``roar.api``) resolves references, walks
upstream to the job where the difference starts, and fetches file contents for text diffs.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from roar.models import FileDigest, Job

Change = Literal["changed", "added", "removed"]


class ValueChange(msgspec.Struct, frozen=True, kw_only=True):
    """One named value that differs (``None`` on a side: absent there)."""

    name: str
    a: str | None
    b: str | None


class InputChange(msgspec.Struct, frozen=True, kw_only=True):
    """An input read by one job and not the other, or read with other content."""

    path: str
    change: Change
    a_hash: str | None = None
    b_hash: str | None = None
    source: str | None = None  # "git" (tracked code), "config", "produced", ...
    text_diff: str | None = None  # unified diff, for tracked text files whose content is known


class JobDiff(msgspec.Struct, frozen=True, kw_only=True):
    """Every difference between job ``a`` and job ``b`` (empty lists: none of that kind)."""

    a: str  # step ref and uid, as shown
    b: str
    parameters: list[ValueChange] = []
    code: list[InputChange] = []  # inputs tracked in git
    commit: ValueChange | None = None
    inputs: list[InputChange] = []  # every other input
    environment: list[ValueChange] = []

    @property
    def identical(self) -> bool:
        return not (self.parameters or self.code or self.commit or self.inputs or self.environment)


def diff_jobs(a: Job, b: Job) -> JobDiff:
    """Compare two jobs: argv, git commit, inputs by digest, packages, interpreter, env vars."""
    code: list[InputChange] = []
    inputs: list[InputChange] = []
    sources = {**_sources(b), **_sources(a)}
    for change in _input_changes(a.inputs, b.inputs, sources):
        (code if change.source == "git" else inputs).append(change)
    commit = None
    if a.git.commit != b.git.commit or a.git.dirty != b.git.dirty:
        commit = ValueChange(name="git", a=_commit_text(a), b=_commit_text(b))
    return JobDiff(
        a=f"{a.step_ref} ({a.job_uid})",
        b=f"{b.step_ref} ({b.job_uid})",
        parameters=_argv_changes(a.argv, b.argv),
        code=code,
        commit=commit,
        inputs=inputs,
        environment=_environment_changes(a, b),
    )


def unified(a_text: str, b_text: str, path: str) -> str:
    """A unified diff of two versions of a text file (empty if equal)."""
    lines = difflib.unified_diff(
        a_text.splitlines(keepends=True),
        b_text.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _argv_changes(a: list[str], b: list[str]) -> list[ValueChange]:
    """Argument-level differences; ``--name value`` and ``--name=value`` pairs by name."""
    a_opts, a_rest = _options(a)
    b_opts, b_rest = _options(b)
    changes = [
        ValueChange(name=name, a=a_opts.get(name), b=b_opts.get(name))
        for name in sorted(set(a_opts) | set(b_opts))
        if a_opts.get(name) != b_opts.get(name)
    ]
    if a_rest != b_rest:
        matcher = difflib.SequenceMatcher(a=a_rest, b=b_rest, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                changes.append(
                    ValueChange(
                        name=f"argument {i1 + 1}" if i2 > i1 else f"argument {j1 + 1}",
                        a=" ".join(a_rest[i1:i2]) or None,
                        b=" ".join(b_rest[j1:j2]) or None,
                    )
                )
    return changes


def _options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """``--name value`` / ``--name=value`` / ``-n value`` options by name, and the rest."""
    options: dict[str, str] = {}
    rest: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token.startswith("-") and len(token) > 1 and not _number(token):
            name, eq, value = token.partition("=")
            if eq:
                options[name] = value
            elif index + 1 < len(argv) and not (
                argv[index + 1].startswith("-") and not _number(argv[index + 1])
            ):
                options[name] = argv[index + 1]
                index += 1
            else:
                options[name] = ""  # a flag
        else:
            rest.append(token)
        index += 1
    return options, rest


def _number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _sources(job: Job) -> dict[str, str]:
    found = job.metadata.get("input_sources")
    if not isinstance(found, Mapping):
        return {}
    return {str(k): str(v) for k, v in found.items() if v is not None}


def _input_changes(
    a: list[FileDigest], b: list[FileDigest], sources: Mapping[str, str]
) -> list[InputChange]:
    a_by, b_by = {f.path: f for f in a}, {f.path: f for f in b}
    changes: list[InputChange] = []
    for path in sorted(set(a_by) | set(b_by)):
        left, right = a_by.get(path), b_by.get(path)
        if left is not None and right is not None and left.hash == right.hash:
            continue
        change: Change = "changed" if left and right else ("removed" if left else "added")
        changes.append(
            InputChange(
                path=path,
                change=change,
                a_hash=left.hash if left else None,
                b_hash=right.hash if right else None,
                source=sources.get(path),
            )
        )
    return changes


def _commit_text(job: Job) -> str | None:
    if job.git.commit is None:
        return None
    return job.git.commit[:12] + (" (dirty)" if job.git.dirty else "")


def _environment_changes(a: Job, b: Job) -> list[ValueChange]:
    changes: list[ValueChange] = []
    a_python, b_python = _python(a), _python(b)
    if a_python != b_python:
        changes.append(ValueChange(name="python", a=a_python, b=b_python))
    a_pkgs, b_pkgs = _packages(a), _packages(b)
    for name in sorted(set(a_pkgs) | set(b_pkgs)):
        if a_pkgs.get(name) != b_pkgs.get(name):
            changes.append(
                ValueChange(name=f"package {name}", a=a_pkgs.get(name), b=b_pkgs.get(name))
            )
    for name in sorted(set(a.env) | set(b.env)):
        if a.env.get(name) != b.env.get(name):
            changes.append(ValueChange(name=f"${name}", a=a.env.get(name), b=b.env.get(name)))
    # Variables the processes read (getenv, os.environ), as they saw them. Compared only where
    # both jobs read the variable: a name only one read is a code difference, shown there.
    a_read, b_read = _variables_read(a), _variables_read(b)
    for name in sorted(set(a_read) & set(b_read) - set(a.env) - set(b.env)):
        if a_read[name] != b_read[name]:
            changes.append(ValueChange(name=f"${name} (read)", a=a_read[name], b=b_read[name]))
    return changes


def _variables_read(job: Job) -> dict[str, str | None]:
    runtime = job.metadata.get("runtime")
    found: Any = runtime.get("env_vars") if isinstance(runtime, Mapping) else None
    if not isinstance(found, Mapping):
        return {}
    return {str(k): None if v is None else str(v) for k, v in found.items()}


def _python(job: Job) -> str | None:
    runtime = job.metadata.get("runtime")
    python: Any = runtime.get("python") if isinstance(runtime, Mapping) else None
    if not isinstance(python, Mapping) or not python.get("version"):
        return None
    return f"{python.get('implementation', 'Python')} {python['version']}"


def _packages(job: Job) -> dict[str, str]:
    """Every package the job's environment had, by manager-qualified name (pip:numpy)."""
    found = job.metadata.get("packages")
    out: dict[str, str] = {}
    if not isinstance(found, Mapping):
        return out
    for manager, table in found.items():
        if not isinstance(table, Mapping):
            continue
        kind = "pip" if str(manager).startswith("pip") else str(manager)
        for name, version in table.items():
            out[f"{kind}:{name}"] = str(version)
    return out
