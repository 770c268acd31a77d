"""Getting the recorded code: reuse the current checkout, or clone the recorded remote.

The user's checkout is only ever used as it is: in place means it already is the recorded
repository, at the recorded commit, with no uncommitted changes, and no step needs a patch. Every
other case clones into a new directory, where commits are checked out on a branch of our own and
patches applied; the user's HEAD, branch and working tree are never touched.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from roar.core.git import read_git_state
from roar.errors import UsageError
from roar.reproduce._checklist import is_local_remote
from roar.reproduce._errors import ReproduceError
from roar.reproduce._model import CodeState, Plan, RemoteFacts

BRANCH = "roar-reproduce"
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?(?P<host>[^/:]+)(?::\d+)?/?(?P<path>.*)$")
_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>.*)$")


async def git(cwd: Path, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run git in ``cwd``: (exit code, stdout, stderr)."""
    from roar.core.git import git_process

    try:
        code, out, err = await git_process(cwd, *args, input=stdin)
    except FileNotFoundError:
        raise ReproduceError(
            "git is not installed; it is needed to fetch the recorded code"
        ) from None
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def normalize_remote(url: str) -> str:
    """A comparable form of a git remote: ``host/path`` for network remotes (https, ssh and
    scp-style alike), the resolved path for local ones; without a trailing ``.git``."""
    url = url.strip()
    if is_local_remote(url):
        path = url.removeprefix("file://")
        return os.path.realpath(path).rstrip("/").removesuffix(".git")
    match = _URL.match(url) or _SCP.match(url)
    if match is None:
        return url.rstrip("/").removesuffix(".git")
    path = match.group("path").strip("/").removesuffix(".git")
    return f"{match.group('host').lower()}/{path}"


def repo_name(remote: str | None, repo_path: str | None) -> str:
    """The directory name a clone gets: the last component of the remote (or recorded path)."""
    for candidate in (remote, repo_path):
        if candidate:
            name = os.path.basename(normalize_remote(candidate).rstrip("/"))
            name = re.sub(r"[^\w.-]+", "-", name).strip(".-")
            if name:
                return name
    return "repo"


def free_directory(parent: Path, name: str) -> Path:
    """``parent/name``, or ``parent/name-2``, ``-3``... whichever does not exist yet."""
    candidate = parent / name
    number = 2
    while candidate.exists():
        candidate = parent / f"{name}-{number}"
        number += 1
    return candidate


async def in_place_checkout(cwd: Path, plan: Plan) -> tuple[Path | None, str]:
    """(the checkout root, "") when ``cwd`` can be used in place, else (None, why not); the
    reason is empty when ``cwd`` is not in a git repository at all."""
    state = await read_git_state(cwd)
    if not state.repo:
        return None, ""
    same = bool(
        state.remote_url
        and plan.remote_url
        and normalize_remote(state.remote_url) == normalize_remote(plan.remote_url)
    ) or bool(plan.repo_path and os.path.realpath(state.repo) == os.path.realpath(plan.repo_path))
    if not same:
        return None, "this git repository is not the recorded one"
    if len(plan.commits) != 1:
        return None, "the steps ran at more than one commit"
    if plan.patches:
        return None, "steps ran on uncommitted changes, which are applied to a clone"
    if state.commit != plan.commits[0]:
        head = state.commit[:12] if state.commit else "no commit"
        return None, f"HEAD is {head}, not the recorded {plan.commits[0][:12]}"
    if state.dirty:
        return None, "the checkout has uncommitted changes"
    return Path(state.repo), ""


async def has_commit(repo: Path, commit: str) -> bool:
    code, _, _ = await git(repo, "cat-file", "-e", f"{commit}^{{commit}}")
    return code == 0


def clone_url(plan: Plan) -> tuple[str, str]:
    """(what to clone, a note for the user); raises UsageError when there is nothing."""
    if plan.remote_url:
        return plan.remote_url, ""
    if plan.repo_path and os.path.isdir(plan.repo_path):
        note = f"no remote was recorded: cloning the original repository {plan.repo_path}"
        return plan.repo_path, note
    commit = plan.commits[0][:12] if plan.commits else "the recorded commit"
    raise UsageError(
        f"{commit} has no recorded remote and its repository is not on this machine; "
        "push it to a remote and record the steps again"
    )


async def clone(url: str, dest: Path, commit: str) -> None:
    """Clone ``url`` into ``dest`` and check out ``commit`` on a branch of our own."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    code, _, err = await git(dest.parent, "clone", "-q", "--no-checkout", url, str(dest))
    if code != 0:
        raise ReproduceError(f"git clone {url} failed: {last_line(err)}")
    if not await has_commit(dest, commit):
        await git(dest, "fetch", "-q", "origin", commit)
        if not await has_commit(dest, commit):
            raise ReproduceError(
                f"commit {commit[:12]} is not on {url}: push it (git push origin BRANCH) "
                "and reproduce again"
            )
    await checkout(dest, commit)


async def checkout(repo: Path, commit: str) -> None:
    code, _, err = await git(repo, "checkout", "-q", "-f", "-B", BRANCH, commit)
    if code != 0:
        raise ReproduceError(f"git checkout {commit[:12]} failed: {last_line(err)}")


async def switch_code(
    checkout_root: Path, current: CodeState | None, wanted: CodeState, patch: bytes | None
) -> None:
    """Move a clone from the ``current`` code state to ``wanted``: undo the current patch, check
    out the commit, apply the wanted patch. Untracked files (earlier steps' outputs) stay."""
    if current == wanted:
        return
    if current is not None and current.patch is not None:
        await git(checkout_root, "reset", "-q", "--hard")
        for rel in current.patch.untracked_files:
            target = checkout_root / rel
            if target.is_file():
                target.unlink()
    if wanted.commit and (current is None or current.commit != wanted.commit):
        await checkout(checkout_root, wanted.commit)
    if wanted.patch is not None:
        if patch is None:
            raise ReproduceError(
                f"patch {wanted.patch.hash[:12]} (the uncommitted changes the step ran on) "
                "is not available"
            )
        code, _, err = await git(checkout_root, "apply", "--whitespace=nowarn", "-", stdin=patch)
        if code != 0:
            raise ReproduceError(
                f"git apply of patch {wanted.patch.hash[:12]} failed: {last_line(err)}"
            )


async def remote_facts(plan: Plan) -> RemoteFacts:
    """Whether each recorded commit is on the recorded remote, as far as this machine can tell
    without fetching: a remote that is a local path is asked directly; otherwise the recorded
    repository's remote-tracking branches are, when that repository is here."""
    repo = Path(plan.repo_path) if plan.repo_path else None
    repo_available = bool(repo and repo.is_dir() and (repo / ".git").exists())
    facts: dict[str, bool | None] = {}
    remote = plan.remote_url
    local_remote = (
        Path(remote.removeprefix("file://")) if remote and is_local_remote(remote) else None
    )
    for commit in plan.commits:
        answer: bool | None = None
        if local_remote is not None:
            answer = local_remote.is_dir() and await has_commit(local_remote, commit)
        elif remote and repo is not None and repo_available:
            code, out, _ = await git(repo, "branch", "-r", "--contains", commit)
            if code == 0:
                code_any, refs, _ = await git(repo, "branch", "-r")
                answer = bool(out.strip()) if code_any == 0 and refs.strip() else None
        facts[commit] = answer
    return RemoteFacts(commit_on_remote=facts, repo_available=repo_available)
