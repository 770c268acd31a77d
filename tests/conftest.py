"""Shared fixtures: real projects in temporary git repositories, and the real `roar` command.

Tests make their own data (``gen``), run the installed ``roar`` console script as a subprocess (the
way users run it), and never reach beyond 127.0.0.1.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from roar.tracing.base import SkipReads

GIT_ENV = {
    "GIT_AUTHOR_NAME": "roar-tests",
    "GIT_AUTHOR_EMAIL": "tests@roar.invalid",
    "GIT_COMMITTER_NAME": "roar-tests",
    "GIT_COMMITTER_EMAIL": "tests@roar.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


@functools.cache
def ebpf_unusable() -> str | None:
    """Why the eBPF tracer cannot run here (it needs root and a kernel with BTF), or None.
    CI runs as root on such a kernel, so there the eBPF cases run."""
    from roar.tracing.ebpf import EbpfBackend

    status = EbpfBackend().availability()
    return None if status.usable else status.reason


def tracer_param(name: str) -> Any:
    """A pytest parameter for tracer backend ``name``, skipped (saying why) where it cannot run."""
    reason = ebpf_unusable() if name == "ebpf" else None
    marks = [pytest.mark.skip(reason=f"eBPF tracer unusable here: {reason}")] if reason else []
    return pytest.param(name, marks=marks, id=name)


TRACERS = ["ptrace", "preload", "ebpf"]


def gen(root: Path, tree: Mapping[str, Any]) -> None:
    """Create files from a nested mapping: str/bytes values are file contents, dicts are dirs."""
    for name, content in tree.items():
        path = root / name
        if isinstance(content, Mapping):
            path.mkdir(parents=True, exist_ok=True)
            gen(path, content)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)


def roar_executable() -> str:
    found = shutil.which("roar", path=os.path.dirname(sys.executable))
    assert found, "the roar console script is not installed next to the test interpreter"
    return found


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Workspace:
    """A directory with helpers to create files, run git and run roar in it."""

    root: Path
    env: dict[str, str]

    def gen(self, tree: Mapping[str, Any]) -> None:
        gen(self.root, tree)

    def git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=self.root, env=self.env, check=True, capture_output=True, text=True
        )
        return out.stdout

    def commit_all(self, message: str = "work") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def roar(
        self, *args: str, check: bool = True, cwd: Path | None = None, timeout: float = 120
    ) -> Result:
        proc = subprocess.run(
            [roar_executable(), *args],
            cwd=cwd or self.root,
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"roar {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return result

    def run_json(self, *args: str) -> Any:
        return self.roar(*args, "--json").json() if args else None


# A job that says it is ready ('ready'), then waits: Ctrl-C writes interrupted.txt and exits 130,
# SIGTERM writes term.txt and exits 7 (the tests of interrupting a traced run).
INTERRUPTIBLE_JOB = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: (open('term.txt', 'w').write('t'), sys.exit(7)))\n"
    "open('ready', 'w').close()\n"
    "try:\n"
    "    time.sleep(60)\n"
    "except KeyboardInterrupt:\n"
    "    open('interrupted.txt', 'w').write('saved on Ctrl-C\\n')\n"
    "    sys.exit(130)\n"
)


def record_with_no_room(ws: Workspace) -> Result:
    """`roar run` (ptrace) of a job writing 3,000 small files, with the file-size limit (the
    stand-in for a full disk) just above the store's size: the command's files fit, the job's
    3,000 artifacts do not."""
    import resource
    import signal

    used = max(p.stat().st_size for p in (ws.root / ".roar").glob("roar.db*"))
    limit = used + 32 * 1024

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [roar_executable(), "run", "--tracer", "ptrace", "python", "-c",
         "import os\nos.makedirs('many', exist_ok=True)\n"
         "for i in range(3000): open(f'many/{i}.txt', 'w').write(str(i))"],
        cwd=ws.root, env=ws.env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, preexec_fn=no_room, timeout=120,
    )  # fmt: skip
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _clean_env(tmp_home: Path) -> dict[str, str]:
    # XDG_* out too: roar keeps its login and the running server's note there, under HOME.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROAR_", "GIT_", "XDG_"))}
    env.pop("GLAAS_URL", None)
    env.update(GIT_ENV)
    env["HOME"] = str(tmp_home)
    if os.environ.get("ROAR_TEST_OWN_PROCESS"):
        env["ROAR_RESIDENT"] = "0"  # scripts/test's pass with roar in the process it starts
    # The test interpreter's bin first, so `python` in traced commands is the venv's.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", os.defpath)
    return env


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server: scripts/test's (ROAR_TEST_POSTGRES_URL), else one started here."""
    from tests.servers import postgres_binaries, postgres_server

    given = os.environ.get("ROAR_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    if postgres_binaries() is None:
        pytest.skip("PostgreSQL is not installed here (scripts/test installs and starts it)")
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on that server for one test, dropped afterwards."""
    import asyncio
    import secrets

    import asyncpg

    name = f"roar_test_{secrets.token_hex(6)}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, for Playwright's ``executable_path`` (so no browser is downloaded)."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.skip("Debian's chromium is not installed here (scripts/test installs it)")
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """An empty directory (not a git repo, not a roar project)."""
    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "ws"
    root.mkdir()
    yield Workspace(root, _clean_env(home))


@pytest.fixture
def git_workspace(workspace: Workspace) -> Workspace:
    """A git repository with one commit."""
    workspace.git("init", "-q", "-b", "main")
    workspace.gen({"README.md": "test project\n"})
    workspace.commit_all("initial")
    return workspace


@pytest.fixture
def project(git_workspace: Workspace) -> Workspace:
    """An initialised roar project inside a git repository (.roar/ gitignored)."""
    git_workspace.roar("init", "-y")
    git_workspace.commit_all("ignore .roar")
    return git_workspace


def create_flags_layout(root: Path) -> dict[str, bool]:
    """Prepare ``root`` for tests/programs/create_flags.c; return what it opens (relative path of
    the file each OPEN record names) -> whether that open created the file (OPEN_CREATED)."""
    gen(root, {"sub": {"deep": {}, "old_rel.txt": "old\n"}})
    for name in ("existing.txt", "existing_aplus.txt", "existing_append.txt", "x.txt"):
        (root / name).write_text("old\n")
    (root / "link").symlink_to("sub/deep")
    (root / "dangling").symlink_to("target.txt")
    created = ["new_rdwr.txt", "new_excl.txt", "new_trunc.txt", "new_creat.txt", "new_aplus.txt"]
    created += ["new_nofollow.txt", "target.txt", "sub/x.txt", "sub/new_rel.txt"]
    existed = ["existing.txt", "existing_aplus.txt", "existing_append.txt", "sub/old_rel.txt"]
    return {**dict.fromkeys(created, True), **dict.fromkeys(existed, False)}


@dataclass(frozen=True)
class SkipReadsCase:
    """tests/programs/skip_reads.c's layout: what to pass, and what the OPEN records must say."""

    skip_reads: SkipReads
    reported: frozenset[str]  # paths with an OPEN record when skip_reads is passed
    plain_reads: frozenset[str]  # paths with an OPEN record when nothing is skipped
    read_write: frozenset[str]  # the opens among them that are not plain reads


def skip_reads_layout(system: Path, proj: Path) -> SkipReadsCase:
    """Prepare ``system`` (the "skip" directory) and ``proj`` for tests/programs/skip_reads.c."""
    gen(system, {name: f"{name}\n" for name in ("plain.txt", "plain2.txt", "x.txt", "rw.txt")})
    gen(system, {"hidden.txt": "h\n", "dirfd.txt": "d\n", "rel.txt": "r\n", "libfoo.so.1": "so"})
    gen(system, {"keep": {"kept.txt": "k\n"}, "sub": {}, "py": {"site-packages": {"mod.py": ""}}})
    gen(proj, {"target.txt": "t\n", "x.txt": "x\n", "magic.txt": "m\n", "plain.txt": "p\n"})
    (proj / "dir").mkdir()
    (system / "out-link").symlink_to(proj / "target.txt")
    (system / "dir-link").symlink_to(proj / "dir")
    (proj / "in-link").symlink_to(system / "hidden.txt")
    kept = [f"{system}/{n}" for n in ("keep/kept.txt", "libfoo.so.1", "py/site-packages/mod.py")]
    kept += [f"{proj}/{n}" for n in ("target.txt", "x.txt", "magic.txt", "plain.txt")]
    skipped = [f"{system}/{n}" for n in ("plain.txt", "hidden.txt", "plain2.txt")]
    skipped += [f"{system}/{n}" for n in ("dirfd.txt", "rel.txt")]
    read_write = frozenset({f"{system}/rw.txt"})
    return SkipReadsCase(
        skip_reads=SkipReads(
            under=(f"{system}/",),
            keep_under=(f"{system}/keep",),
            keep_containing=("/site-packages/", "/dist-packages/", ".so"),
        ),
        reported=frozenset(kept) | read_write,
        plain_reads=frozenset(kept + skipped),
        read_write=read_write,
    )
