"""Dirty trees are recreatable: the uncommitted state a job ran on, kept as a git patch.

When tracked files differ from HEAD, or the job read untracked (not ignored) files inside the
repository, roar stores ``git diff HEAD --binary`` plus those files as one patch under
`.roar/patches/<blake3>.patch`; ``git apply`` on a checkout of the recorded commit recreates
the tree the job saw. The tracked diff is taken before the command runs, so nothing the job
itself writes ends up in it; untracked files the job also wrote are left out for the same reason.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import blake3
import msgspec

from roar.core.git import GitState, run_git, run_git_bytes


class PatchInfo(msgspec.Struct, frozen=True, kw_only=True):
    hash: str
    size: int
    path: str  # project-relative location of the stored patch
    tracked_changes: list[str]
    untracked_files: list[str]


async def tracked_diff(git: GitState) -> bytes:
    """``git diff HEAD --binary`` when tracked files differ from HEAD (before the job runs)."""
    if not git.repo or not git.commit or not git.dirty:
        return b""
    code, out = await run_git_bytes(
        git.repo, "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff"
    )
    return out if code == 0 else b""


async def untracked_inputs(git: GitState, inputs: Iterable[str], written: set[str]) -> list[str]:
    """Repo-relative paths of inputs that git does not track and does not ignore."""
    if not git.repo:
        return []
    candidates = []
    for path in inputs:
        if path in written:
            continue
        rel = os.path.relpath(path, git.repo)
        if not rel.startswith(".."):
            candidates.append(rel)
    if not candidates:
        return []
    code, out = await run_git(
        Path(git.repo), "ls-files", "--others", "--exclude-standard", "-z", "--", *candidates
    )
    return sorted(p for p in out.split("\0") if p) if code == 0 else []


async def _new_files_diff(repo_root: str, rels: list[str]) -> bytes:
    """One ``git diff --binary`` that adds every file of ``rels`` as new: they are marked
    intent-to-add in a scratch index (the repository's own index is never touched), so a job
    that read a thousand untracked files costs two git processes, not a thousand."""
    if not rels:
        return b""
    with tempfile.TemporaryDirectory(prefix="roar-patch-") as scratch:
        index = {"GIT_INDEX_FILE": os.path.join(scratch, "index")}
        names = "\0".join(rels).encode("utf-8", "surrogateescape")
        code, _ = await run_git_bytes(
            repo_root,
            *("add", "--intent-to-add", "--pathspec-from-file=-", "--pathspec-file-nul"),
            input=names,
            env=index,
        )
        if code != 0:
            return b""
        code, out = await run_git_bytes(
            repo_root, "diff", "--binary", "--no-color", "--no-ext-diff", env=index
        )
    return out if code == 0 else b""


async def store_patch(
    git: GitState, diff: bytes, untracked: list[str], patches_dir: Path, project_root: Path
) -> PatchInfo | None:
    """Write the patch (content-addressed) and describe it; None when the tree was clean."""
    if not git.repo or (not diff and not untracked):
        return None
    patch = diff + await _new_files_diff(git.repo, untracked)
    if not patch:
        return None
    digest = blake3.blake3(patch).hexdigest()
    patches_dir.mkdir(parents=True, exist_ok=True)
    target = patches_dir / f"{digest}.patch"
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(patch)
        os.replace(tmp, target)
    return PatchInfo(
        hash=digest,
        size=len(patch),
        path=os.path.relpath(target, project_root),
        tracked_changes=list(git.changed_paths),
        untracked_files=untracked,
    )
