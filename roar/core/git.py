"""What git says about the working tree a job ran in.

A job needs the repository root, HEAD commit, branch, whether tracked files differ from HEAD, and
the origin remote. That is three git processes, started together, never dozens.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from roar.models import GitInfo


class GitState(GitInfo, frozen=True, kw_only=True):
    """A look at the working tree: the facts a job records, and which paths differ from HEAD."""

    changed_paths: tuple[str, ...] = ()
    untracked_paths: tuple[str, ...] = ()


async def run_git(cwd: Path, *args: str) -> tuple[int, str]:
    """Run git quietly in ``cwd``; (exit code, stdout). Exit 127 when git is not installed."""
    code, out = await run_git_bytes(cwd, *args)
    return code, out.decode("utf-8", "surrogateescape")


async def git_process(
    cwd: Path | str,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, bytes, bytes]:
    """The one way roar runs git: (exit code, stdout, stderr). C locale, never a credential
    prompt, ``env`` on top; raises FileNotFoundError when git is not installed."""
    options: dict[str, Any] = (
        {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    )
    result = await anyio.run_process(
        ["git", *args],
        cwd=cwd,
        check=False,
        env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        **options,
    )
    return result.returncode, result.stdout, result.stderr


async def run_git_bytes(
    cwd: Path | str,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """``run_git`` for binary output (patches), with optional stdin and extra environment."""
    # Paths roar passes are file names, never patterns: "data[1].csv" is one file.
    quiet = {"GIT_OPTIONAL_LOCKS": "0", "GIT_LITERAL_PATHSPECS": "1", **(env or {})}
    try:
        code, out, _ = await git_process(cwd, *args, input=input, env=quiet)
    except FileNotFoundError:
        return 127, b""
    return code, out


def parse_status_v2(text: str, ignore_prefixes: tuple[str, ...] = ()) -> GitState:
    """Parse ``git status --porcelain=v2 --branch -z`` into commit, branch and changed paths."""
    commit: str | None = None
    branch: str | None = None
    changed: list[str] = []
    untracked: list[str] = []
    entries = text.split("\0")
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if not entry:
            continue
        if entry.startswith("# branch.oid "):
            oid = entry[len("# branch.oid ") :]
            commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            head = entry[len("# branch.head ") :]
            branch = None if head == "(detached)" else head
        elif entry.startswith("? "):
            untracked.append(entry[2:])
        elif entry.startswith("1 "):
            changed.append(entry.split(" ", 8)[8])
        elif entry.startswith("2 "):
            changed.append(entry.split(" ", 9)[9])
            index += 1  # the rename's original path follows as its own NUL-terminated field
        elif entry.startswith("u "):
            changed.append(entry.split(" ", 10)[10])

    def keep(path: str) -> bool:
        return not any(path == p.rstrip("/") or path.startswith(p) for p in ignore_prefixes)

    changed = [p for p in changed if keep(p)]
    untracked = [p for p in untracked if keep(p)]
    return GitState(
        commit=commit,
        branch=branch,
        dirty=bool(changed),
        changed_paths=tuple(changed),
        untracked_paths=tuple(untracked),
    )


async def read_git_state(cwd: Path, roar_dir: Path | None = None) -> GitState:
    """Collect the git state of ``cwd``; an empty state when it is not inside a repository.

    ``roar_dir`` (the project's `.roar/`) never makes the tree dirty, gitignored or not.
    """
    calls = {
        "toplevel": ("rev-parse", "--show-toplevel"),
        "status": ("status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal"),
        "remote": ("config", "--get", "remote.origin.url"),
    }
    answers: dict[str, tuple[int, str]] = {}

    async def ask(name: str) -> None:
        answers[name] = await run_git(cwd, *calls[name])

    async with anyio.create_task_group() as tg:
        for name in calls:
            tg.start_soon(ask, name)
    toplevel, status, remote = answers["toplevel"], answers["status"], answers["remote"]
    if toplevel[0] != 0 or status[0] != 0:
        return GitState()
    root = toplevel[1].strip()
    ignore: tuple[str, ...] = ()
    if roar_dir is not None:
        rel = os.path.relpath(roar_dir, root)
        if not rel.startswith(".."):
            ignore = (rel.replace(os.sep, "/") + "/",)
    parsed = parse_status_v2(status[1], ignore_prefixes=ignore)
    return GitState(
        repo=root,
        commit=parsed.commit,
        branch=parsed.branch,
        dirty=parsed.dirty,
        remote_url=(remote[1].strip() or None) if remote[0] == 0 else None,
        changed_paths=parsed.changed_paths,
        untracked_paths=parsed.untracked_paths,
    )
