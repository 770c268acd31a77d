"""The preload backend end to end: the real shim in real processes, its events fed to AccessModel.

Every test runs a real command under :class:`PreloadBackend` (on asyncio, uvloop and trio) and
checks the exact inputs and outputs the recorder would see inside the test's data directory.
The shim is the installed one when the package has it, else compiled here with setup.py's flags.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from roar.core.config import Config
from roar.recording.semantics import Accesses, AccessModel
from roar.tracing import wire
from roar.tracing.base import SKIP_NOTHING, SkipReads, TraceOutcome, native_binary
from roar.tracing.preload import PreloadBackend, TraceStats
from roar.tracing.preload_ring import ENV_RING_BYTES
from roar.tracing.programs import (
    elf_has_interp,
    inspect_program,
    parse_shebang,
    preload_obstacle,
)
from roar.tracing.select import choose_backend
from roar.tracing.wire import Record
from tests.conftest import create_flags_layout, skip_reads_layout

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = REPO / "tests" / "programs"
SHIM_FLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-fPIC", "-fvisibility=hidden"]
LIBRARY_OVERRIDE = "ROAR_LIBROAR_PRELOAD.SO_BIN"  # what native_binary() reads for the shim


def _cc() -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    return cc


@pytest.fixture(scope="session")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed shim, unless the sources next to these tests are newer (an in-place build
    from before the last edit): then one compiled here with setup.py's flags.

    ROAR_TEST_SANITIZE=1 always compiles it, with UBSan (ASan cannot be preloaded into arbitrary
    programs without preloading libasan first), so undefined behaviour aborts the test."""
    sanitize = (
        ["-g", "-fno-omit-frame-pointer", "-fsanitize=undefined", "-fno-sanitize-recover=undefined"]
        if os.environ.get("ROAR_TEST_SANITIZE")
        else []
    )
    installed = native_binary("libroar_preload.so")
    source_dir = REPO / "ext" / "preload"
    newest = max(
        (p.stat().st_mtime for p in [*source_dir.glob("*.[ch]"), *(REPO / "ext").glob("*.h")]),
        default=0.0,
    )
    if not sanitize and installed.is_file() and installed.stat().st_mtime >= newest:
        return installed
    out = tmp_path_factory.mktemp("shim") / "libroar_preload.so"
    sources = sorted(str(p) for p in source_dir.glob("*.c"))
    subprocess.run(
        [
            _cc(),
            *SHIM_FLAGS,
            *sanitize,
            "-shared",
            "-I",
            str(REPO / "ext"),
            "-o",
            str(out),
            *sources,
            "-ldl",
            "-lpthread",
        ],
        check=True,
    )
    return out


@dataclass(frozen=True)
class Programs:
    fopen: Path
    threads: Path
    spawn: Path
    getenv: Path
    create_flags: Path
    skip_reads: Path
    vfork_chdir: Path
    fopen_static: Path | None


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Programs:
    out = tmp_path_factory.mktemp("programs")
    built = {}
    for name in (
        "preload_fopen",
        "preload_threads",
        "preload_spawn",
        "getenv_reads",
        "create_flags",
        "skip_reads",
        "vfork_chdir",
    ):
        built[name] = out / name
        subprocess.run(
            [
                _cc(),
                "-std=gnu11",
                "-O2",
                "-Wall",
                "-Wextra",
                "-o",
                str(built[name]),
                str(PROGRAMS / f"{name}.c"),
                "-lpthread",
            ],
            check=True,
        )
    static: Path | None = out / "preload_fopen_static"
    result = subprocess.run(
        [_cc(), "-static", "-O2", "-o", str(static), str(PROGRAMS / "preload_fopen.c")],
        capture_output=True,
    )
    if result.returncode != 0:
        static = None
    return Programs(
        built["preload_fopen"],
        built["preload_threads"],
        built["preload_spawn"],
        built["getenv_reads"],
        built["create_flags"],
        built["skip_reads"],
        built["vfork_chdir"],
        static,
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROAR_") and k != "LD_PRELOAD"}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", os.defpath)
    return env


@dataclass
class Traced:
    outcome: TraceOutcome
    accesses: Accesses
    records: list[Record]
    stats: TraceStats
    seconds: float

    def inputs(self, root: Path) -> set[str]:
        return _inside(self.accesses.inputs, root)

    def outputs(self, root: Path) -> set[str]:
        return _inside(self.accesses.outputs, root)

    def of_kind(self, kind: int) -> list[Record]:
        return [r for r in self.records if r[0] == kind]


def _inside(paths: Sequence[str], root: Path) -> set[str]:
    prefix = str(root) + os.sep
    return {p[len(prefix) :] for p in paths if p.startswith(prefix)}


async def trace(
    library: Path,
    argv: Sequence[str | Path],
    cwd: Path,
    snapshot_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    skip_reads: SkipReads = SKIP_NOTHING,
) -> Traced:
    backend = PreloadBackend(library)
    model = AccessModel()
    records: list[Record] = []

    def sink(batch: list[Record]) -> None:
        records.extend(batch)
        model.feed(batch)

    started = time.monotonic()
    outcome = await backend.trace(
        [str(a) for a in argv],
        env={**_env(), **(extra_env or {})},
        cwd=cwd,
        sink=sink,
        snapshot_dir=snapshot_dir,
        skip_reads=skip_reads,
    )
    seconds = time.monotonic() - started
    assert backend.last_stats is not None
    assert records[-1][0] == wire.EVK_END, "the stream must end with END"
    return Traced(outcome, model.result(), records, backend.last_stats, seconds)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """The directory the traced commands read and write in (scripts live outside it)."""
    root = (tmp_path / "data").resolve()
    root.mkdir()
    (root / "a").write_text("b\na\nb\nc\n")
    return root


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


# ---- stdio, shells, pipes, copies -------------------------------------------------------------


@pytest.mark.anyio
async def test_fopen_read_and_write(shim: Path, programs: Programs, data: Path) -> None:
    run = await trace(shim, [programs.fopen, "a", "out.txt", "log.txt"], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == {"a"}
    assert run.outputs(data) == {"out.txt", "log.txt"}
    assert (data / "out.txt").read_text() == "B\nA\nB\nC\n"
    closed = {r[7] for r in run.of_kind(wire.EVK_CLOSE)}
    assert closed == {str(data / "out.txt"), str(data / "log.txt")}
    opens = {r[7]: r[4] for r in run.of_kind(wire.EVK_OPEN) if r[7].startswith(str(data))}
    assert opens[str(data / "out.txt")] & os.O_TRUNC
    assert opens[str(data / "log.txt")] & os.O_APPEND
    assert run.accesses.backend == "preload"
    assert run.accesses.programs[0] == str(programs.fopen)


@pytest.mark.anyio
@pytest.mark.parametrize("snapshots", [False, True], ids=["plain", "snapshots"])
async def test_open_created_flag(
    shim: Path, programs: Programs, data: Path, tmp_path: Path, snapshots: bool
) -> None:
    """OPEN_CREATED is set exactly when an O_CREAT open created the file (see create_flags.c),
    with snapshots off (the shim stats the path itself) and on (the snapshot's stat is reused)."""
    expected = create_flags_layout(data)
    snaps = tmp_path / "snapshots" if snapshots else None
    if snaps is not None:
        snaps.mkdir()
    run = await trace(shim, [programs.create_flags, data], data, snapshot_dir=snaps)
    assert run.outcome.exit_code == 0
    prefix = f"{data}/"
    opens = {
        r[7][len(prefix) :]: r[6] for r in run.of_kind(wire.EVK_OPEN) if r[7].startswith(prefix)
    }
    assert opens == {p: wire.OPEN_CREATED if c else 0 for p, c in expected.items()}
    read_write = {"existing.txt", "existing_aplus.txt", "sub/old_rel.txt"}  # existing, O_RDWR
    assert run.inputs(data) == read_write
    assert run.outputs(data) == set(expected)
    saved = {p[len(prefix) :] for p in run.accesses.snapshots}
    assert saved == (read_write if snaps else set())


@pytest.mark.anyio
async def test_shell_redirect(shim: Path, data: Path) -> None:
    run = await trace(shim, ["sh", "-c", "cat a > b"], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == {"a"}
    assert run.outputs(data) == {"b"}
    # One connection for the whole tree: the shell's child inherited it through exec.
    assert run.stats.connections == 1
    assert os.path.realpath(shutil.which("cat") or "") in run.accesses.programs


@pytest.mark.anyio
async def test_sort_uniq_pipeline(shim: Path, data: Path) -> None:
    run = await trace(shim, ["sh", "-c", "sort a | uniq > c"], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == {"a"}
    assert run.outputs(data) == {"c"}
    assert (data / "c").read_text() == "a\nb\nc\n"
    for tool in ("sort", "uniq"):
        assert os.path.realpath(shutil.which(tool) or "") in run.accesses.programs


@pytest.mark.anyio
async def test_write_then_read_in_other_processes_keeps_order(shim: Path, data: Path) -> None:
    # The shell writes f, then two other processes read it: f was made by the job, not read
    # from before it. Only a stream ordered across processes gets this right.
    run = await trace(shim, ["sh", "-c", "echo x > f; cat f > g; cat f g > h"], data)
    assert run.inputs(data) == set()
    assert run.outputs(data) == {"f", "g", "h"}


@pytest.mark.anyio
async def test_cp_uses_copy_file_range(shim: Path, data: Path) -> None:
    run = await trace(shim, ["cp", "a", "b"], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == {"a"}
    assert run.outputs(data) == {"b"}
    # (READ records also list the shared objects the loader mapped: only data's files count.)
    assert {r[7] for r in run.of_kind(wire.EVK_READ) if r[7].startswith(str(data))} == {
        str(data / "a")
    }
    assert {r[7] for r in run.of_kind(wire.EVK_WRITE)} == {str(data / "b")}


@pytest.mark.anyio
async def test_scrubbed_environment_and_posix_spawn(
    shim: Path, programs: Programs, data: Path
) -> None:
    # posix_spawnp and execle both pass an envp without LD_PRELOAD or ROAR_PRELOAD_SOCK.
    run = await trace(shim, [programs.spawn, "a", "one.txt", "two.txt"], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == {"a"}
    assert run.outputs(data) == {"one.txt", "two.txt"}
    assert (data / "two.txt").read_text() == (data / "a").read_text()
    root = run.records[-1][2]
    spawned = [r[4] for r in run.of_kind(wire.EVK_FORK) if r[2] == root]
    assert len(spawned) == 1
    execs = {(r[2], r[7]) for r in run.of_kind(wire.EVK_EXEC)}
    sh = os.path.realpath(shutil.which("sh", path=_env()["PATH"]) or "")
    assert (spawned[0], sh) in execs, "the parent reports what posix_spawn ran"
    assert (root, os.path.realpath("/bin/cat")) in execs, "execle is reported"


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["report-all", "skip-reads", "skip-reads-scrubbed-env"])
async def test_skip_reads(shim: Path, programs: Programs, tmp_path: Path, how: str) -> None:
    """The shim leaves out the reads the skip-reads rule names (see skip_reads.c), deciding on
    the path the kernel opened; the others are reported with it.  Without a rule only the
    O_DIRECTORY open gives no record.  A program exec'd with an empty environment (env -i) still
    gets the rule: the shim puts its variables back, as it does ROAR_PRELOAD_SOCK."""
    system, proj = (tmp_path / "sys").resolve(), (tmp_path / "proj").resolve()
    case = skip_reads_layout(system, proj)
    argv: list[str | Path] = [programs.skip_reads, system, proj]
    if how.endswith("scrubbed-env"):
        argv = ["env", "-i", *argv]
    skipping = how.startswith("skip-reads")
    run = await trace(
        shim, argv, tmp_path, skip_reads=case.skip_reads if skipping else SKIP_NOTHING
    )
    assert run.outcome.exit_code == 0
    opens = {r[7] for r in run.of_kind(wire.EVK_OPEN) if r[7].startswith((str(system), str(proj)))}
    assert opens == (case.reported if skipping else case.plain_reads | case.read_write)


# ---- Python ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_python_replace_over_target(shim: Path, data: Path, tmp_path: Path) -> None:
    (data / "target.txt").write_text("old")
    script = _script(
        tmp_path,
        "replace.py",
        """
        import os
        with open("target.txt.tmp", "w") as f:
            f.write("new")
        os.replace("target.txt.tmp", "target.txt")
        """,
    )
    run = await trace(shim, [sys.executable, script], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == set()
    assert run.outputs(data) == {"target.txt"}
    assert _inside(run.accesses.discarded_writes, data) == {"target.txt.tmp"}
    renames = [r for r in run.of_kind(wire.EVK_RENAME) if r[7].startswith(str(data))]
    assert [(r[7], r[8]) for r in renames] == [
        (str(data / "target.txt.tmp"), str(data / "target.txt"))
    ]


@pytest.mark.anyio
async def test_python_mkstemp_replace_over_target(shim: Path, data: Path, tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "mkstemp_replace.py",
        """
        import os, tempfile
        fd, tmp = tempfile.mkstemp(dir=".")
        with os.fdopen(fd, "w") as f:
            f.write("new")
        os.replace(tmp, "target.txt")
        """,
    )
    run = await trace(shim, [sys.executable, script], data)
    assert run.outputs(data) == {"target.txt"}
    assert run.inputs(data) == set()


@pytest.mark.anyio
async def test_python_subprocess_close_fds(shim: Path, data: Path, tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "sub.py",
        """
        import subprocess, sys
        code = "open('child.txt', 'w').write(open('a').read())"
        subprocess.run([sys.executable, "-c", code], close_fds=True, check=True)
        r, w = __import__("os").pipe()
        subprocess.run(["sh", "-c", "cat a > child2.txt"], close_fds=True, pass_fds=(w,),
                       check=True)
        """,
    )
    run = await trace(shim, [sys.executable, script], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == {"a"}
    assert run.outputs(data) == {"child.txt", "child2.txt"}
    # close_fds closed every descriptor but the shim's connection, which the children share.
    assert run.stats.connections == 1
    # subprocess starts its children with vfork: what such a child reports before its exec
    # (HELLO, its FORK) goes through the ring too, so it cannot arrive after what the exec'd
    # program reports.
    assert run.stats.ring and run.stats.socket_records == 0


@pytest.mark.anyio
async def test_vfork_child_leaves_the_parent_state_alone(
    shim: Path, data: Path, tmp_path: Path
) -> None:
    # Python's subprocess execs from a vfork child, which runs in the parent's memory: the shim
    # must report the child without disturbing the parent's bookkeeping.
    script = _script(
        tmp_path,
        "vfork.py",
        """
        import subprocess
        kept = open("kept.txt", "w")
        subprocess.run(["sh", "-c", "cat a > child.txt"], close_fds=True, check=True)
        kept.write("x")
        kept.close()
        with open("after.txt", "w") as f:
            f.write("y")
        """,
    )
    run = await trace(shim, [sys.executable, script], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == {"a"}
    assert run.outputs(data) == {"kept.txt", "child.txt", "after.txt"}
    root = run.records[-1][2]
    kept, made = str(data / "kept.txt"), str(data / "child.txt")
    children = [r[4] for r in run.of_kind(wire.EVK_FORK) if r[2] == root]
    assert len(children) == 1
    assert children[0] in {r[2] for r in run.of_kind(wire.EVK_HELLO)}
    after = [r for r in run.of_kind(wire.EVK_OPEN) if r[7] == str(data / "after.txt")]
    assert [(r[2], r[3]) for r in after] == [(root, root)], "the parent keeps its own pid and tid"
    # kept.txt is closed once, by the parent, after the child's work -- the child's close_fds
    # (close_range in shared memory) must not have reported or forgotten it.
    closes = [i for i, r in enumerate(run.records) if r[0] == wire.EVK_CLOSE and r[7] == kept]
    child_open = [i for i, r in enumerate(run.records) if r[0] == wire.EVK_OPEN and r[7] == made]
    assert len(closes) == 1 and len(child_open) == 1
    assert closes[0] > child_open[0]


@pytest.mark.anyio
async def test_a_vfork_childs_working_directory_is_not_the_parents(
    shim: Path, programs: Programs, data: Path
) -> None:
    (data / "sub" / "newdir").mkdir(parents=True)
    run = await trace(shim, [programs.vfork_chdir], data)
    assert run.outcome.exit_code == 0
    assert run.outputs(data) == {
        "parent-before.txt",
        "sub/parent-before.txt",
        "kept.txt",
        "sub/newdir/child.txt",
        "parent-after.txt",
    }


@pytest.mark.anyio
async def test_getenv_lookups_once_per_process(shim: Path, programs: Programs, data: Path) -> None:
    env = {"MY_SETTING": "fast", "EMPTY_ONE": "", "GETENV_VFORK": "v", "GETENV_VFORK_ONLY": "w"}
    names = ["MY_SETTING", "EMPTY_ONE", "UNSET_ONE", "ROAR_PRELOAD_SOCK", "LD_PRELOAD"]
    run = await trace(shim, [programs.getenv, "out.txt", *names], data, extra_env=env)
    assert run.outcome.exit_code == 0
    seen = (data / "out.txt").read_text()
    assert "MY_SETTING=fast\n" in seen and "UNSET_ONE unset\n" in seen
    assert "ROAR_PRELOAD_SOCK=/" in seen  # the program saw roar's variables; roar hides them
    root = run.records[-1][2]
    (child,) = [r[4] for r in run.of_kind(wire.EVK_FORK) if r[2] == root and r[6] == 0]
    ours = [(r[2], r[7], r[8]) for r in run.of_kind(wire.EVK_ENV) if r[2] in (root, child)]
    # 1000 getenv and one secure_getenv per name: one record each, for set variables only, and
    # none for roar's own. The vfork child reported nothing (not even GETENV_VFORK_ONLY, which
    # only it looked up) and did not hide the parent's lookup; the fork child is a process of its
    # own.
    assert sorted(ours) == sorted(
        [
            (root, "MY_SETTING", "fast"),
            (root, "EMPTY_ONE", None),
            (root, "GETENV_VFORK", "v"),
            (child, "MY_SETTING", "fast"),
        ]
    )
    assert run.accesses.env_reads["MY_SETTING"] == "fast"
    assert run.accesses.env_reads["EMPTY_ONE"] == ""
    assert not [r for r in run.of_kind(wire.EVK_ENV) if r[7].startswith("ROAR_")]
    assert run.inputs(data) == set() and run.outputs(data) == {"out.txt"}


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["fork", "spawn"])
async def test_python_multiprocessing(shim: Path, data: Path, tmp_path: Path, method: str) -> None:
    script = _script(
        tmp_path,
        "mp.py",
        """
        import multiprocessing as mp, sys

        def work(i):
            with open("a") as src, open(f"mp_{i}.txt", "w") as dst:
                dst.write(src.read())

        if __name__ == "__main__":
            ctx = mp.get_context(sys.argv[1])
            procs = [ctx.Process(target=work, args=(i,)) for i in range(3)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            sys.exit(max(p.exitcode for p in procs))
        """,
    )
    run = await trace(shim, [sys.executable, script, method], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == {"a"}
    assert run.outputs(data) == {"mp_0.txt", "mp_1.txt", "mp_2.txt"}
    writers = {r[2] for r in run.of_kind(wire.EVK_OPEN) if r[7].startswith(str(data / "mp_"))}
    assert len(writers) == 3, "each worker process reports its own writes"


@pytest.mark.anyio
async def test_pthreads_writing_files(shim: Path, programs: Programs, data: Path) -> None:
    (data / "out").mkdir()
    run = await trace(shim, [programs.threads, "a", "out", "32"], data)
    assert run.outcome.exit_code == 0
    assert run.inputs(data) == {"a"}
    assert run.outputs(data) == {f"out/thread_{i}.txt" for i in range(32)}
    opens = [r for r in run.of_kind(wire.EVK_OPEN) if r[7].startswith(str(data / "out"))]
    assert len(opens) == 32
    assert len({r[2] for r in opens}) == 1, "one process"
    assert len({r[3] for r in opens}) > 1, "several threads"


@pytest.mark.anyio
async def test_daemonised_grandchild_is_waited_for(shim: Path, data: Path, tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "daemon.py",
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1.0)
                with open("late.txt", "w") as f:
                    f.write("written after the parent exited")
                os._exit(0)
            os._exit(0)
        """,
    )
    run = await trace(shim, [sys.executable, script], data)
    assert run.outcome.exit_code == 0
    assert run.seconds >= 1.0
    assert run.outputs(data) == {"late.txt"}
    assert (data / "late.txt").exists()


# ---- snapshots of inputs the job changes ------------------------------------------------------


@pytest.mark.anyio
async def test_snapshots_keep_inputs_that_other_processes_change(
    shim: Path, data: Path, tmp_path: Path
) -> None:
    snaps = tmp_path / "snapshots"
    snaps.mkdir()
    for name in ("rewritten", "removed", "replaced", "truncated"):
        (data / name).write_text(f"original {name}\n")
    (data / "new").write_text("replacement\n")
    # One process reads them all; other processes then destroy each in a different way.
    command = (
        "cat rewritten removed replaced truncated > /dev/null; "
        "echo changed > rewritten; rm removed; mv new replaced; truncate -s 0 truncated; "
        "echo again > rewritten"
    )
    run = await trace(shim, ["sh", "-c", command], data, snapshot_dir=snaps)
    assert run.outcome.exit_code == 0
    saved = {Path(p).name: Path(s) for p, s in run.accesses.snapshots.items()}
    assert set(saved) == {"rewritten", "removed", "replaced", "truncated"}
    for name, copy in saved.items():
        assert copy.parent == snaps.resolve()
        assert copy.read_text() == f"original {name}\n", name
    assert len(run.of_kind(wire.EVK_SNAPSHOT)) == 4, "one snapshot per input: the original"
    assert run.inputs(data) >= {"rewritten", "removed", "replaced", "truncated"}


@pytest.mark.anyio
async def test_no_snapshot_of_what_the_job_wrote_first(
    shim: Path, data: Path, tmp_path: Path
) -> None:
    snaps = tmp_path / "snapshots"
    snaps.mkdir()
    script = _script(
        tmp_path,
        "own.py",
        """
        import os
        with open("mine.txt", "w") as f:
            f.write("first")
        print(open("mine.txt").read())
        with open("mine.txt", "w") as f:
            f.write("second")
        os.remove("mine.txt")
        """,
    )
    run = await trace(shim, [sys.executable, script], data, snapshot_dir=snaps)
    assert run.outcome.exit_code == 0
    assert run.of_kind(wire.EVK_SNAPSHOT) == []
    assert list(snaps.iterdir()) == []
    assert run.inputs(data) == set()


# ---- exit status ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("exit 0", 0),
        ("exit 7", 7),
        ("kill -TERM $$", 128 + signal.SIGTERM),
        ("kill -KILL $$", 128 + signal.SIGKILL),
    ],
)
async def test_exit_status_passes_through(
    shim: Path, data: Path, command: str, expected: int
) -> None:
    run = await trace(shim, ["sh", "-c", command], data)
    assert run.outcome.exit_code == expected
    assert run.outcome.completed
    end = run.records[-1]
    assert end[0] == wire.EVK_END
    assert TraceOutcome(end[4], 0, True, False).exit_code == expected
    assert run.accesses.root_status == end[4]


# ---- signals (roar's own process receives them) -----------------------------------------------

_DRIVER = """
import json, os, sys
from pathlib import Path
import anyio
from roar.tracing.preload import PreloadBackend

async def main():
    backend = PreloadBackend(Path(sys.argv[1]))
    outcome = await backend.trace(sys.argv[2:], env=dict(os.environ), cwd=Path.cwd(),
                                  sink=lambda batch: None)
    print(json.dumps({"exit_code": outcome.exit_code, "interrupted": outcome.interrupted}))

anyio.run(main)
"""


def _start_driver(shim: Path, data: Path, command: str) -> subprocess.Popen[str]:
    env = _env()
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(shim), "sh", "-c", command],
        cwd=data,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no terminal: only the signals the test sends arrive
    )


def _state(pid: int) -> str:
    """A process's state letter from /proc (``Z`` a zombie), or ``""`` once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_second_interrupt_kills_the_tree(shim: Path, data: Path) -> None:
    # The command survives SIGINT (its trap notes it) and leaves a background child that
    # outlives it (background jobs of a script ignore SIGINT).
    driver = _start_driver(
        shim,
        data,
        "trap 'touch got-int' INT; (sleep 60; touch too-late) & touch started; wait; wait",
    )
    try:
        _wait_for(data / "started")
        # Ctrl-C as a terminal sends it: to roar and the command together (one process group).
        os.killpg(driver.pid, signal.SIGINT)
        # The command has had it (its trap ran), and roar is still waiting.
        _wait_for(data / "got-int")
        assert driver.poll() is None, "one Ctrl-C only counts"
        os.killpg(driver.pid, signal.SIGINT)
        out, _ = driver.communicate(timeout=20)
    finally:
        if driver.poll() is None:
            driver.kill()
    result = json.loads(out)
    assert result["interrupted"] is True
    assert not (data / "too-late").exists()


def test_sigterm_is_forwarded_to_the_command(shim: Path, data: Path) -> None:
    driver = _start_driver(shim, data, "touch started; exec sleep 60")
    try:
        _wait_for(data / "started")
        driver.send_signal(signal.SIGTERM)
        out, _ = driver.communicate(timeout=20)
    finally:
        if driver.poll() is None:
            driver.kill()
    result = json.loads(out)
    # sh dies of the forwarded SIGTERM; the backend reports that as the command's status.
    assert result == {"exit_code": 128 + signal.SIGTERM, "interrupted": False}


def test_sigterm_reaches_what_the_command_left_behind(shim: Path, data: Path) -> None:
    # The root exits at once; roar waits for its background child, which SIGTERM then ends.
    driver = _start_driver(shim, data, "echo $$ > root.pid; sleep 60 & touch started")
    try:
        _wait_for(data / "started")
        root = int((data / "root.pid").read_text())
        # Once the root is gone, roar is still there: waiting for what it left behind.
        deadline = time.monotonic() + 20
        while Path(f"/proc/{root}").exists() and _state(root) != "Z":
            assert time.monotonic() < deadline, "the root shell never exited"
            time.sleep(0.02)
        assert driver.poll() is None, "roar waits for the background process"
        driver.send_signal(signal.SIGTERM)
        out, _ = driver.communicate(timeout=20)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert json.loads(out) == {"exit_code": 0, "interrupted": False}


# ---- auto: programs preload cannot see --------------------------------------------------------


@pytest.fixture
def shim_installed(shim: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(LIBRARY_OVERRIDE, str(shim))
    # auto takes eBPF first where it works, and eBPF sees every program; these tests are about
    # what auto does when it would take preload.
    monkeypatch.setenv("ROAR_EBPF_OBJECT", "/nonexistent/roar-ebpf.bpf.o")
    yield shim


def test_static_program_is_never_left_to_preload_by_auto(
    shim_installed: Path, programs: Programs, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if programs.fopen_static is None:
        pytest.skip("cc -static does not work here")
    config = Config.defaults()
    argv = [str(programs.fopen_static), "a", "out.txt", "log.txt"]
    chosen = choose_backend(config, None, argv=argv, env=_env(), cwd=data)
    err = capsys.readouterr().err
    # eBPF comes first where its self-test passed (it sees static programs); else preload is
    # passed over for ptrace, and one line says so.
    assert chosen.name in {"ebpf", "ptrace"}
    if chosen.name == "ptrace":
        assert err == (
            f"roar: {programs.fopen_static} is statically linked; "
            "tracing with ptrace instead of preload\n"
        )
    else:
        assert err == ""

    # A dynamically linked program stays with auto's first choice (preload without eBPF),
    # silently.
    dynamic = choose_backend(config, None, argv=[str(programs.fopen)], env=_env(), cwd=data)
    assert dynamic.name == ("ebpf" if chosen.name == "ebpf" else "preload")
    assert capsys.readouterr().err == ""


def test_inspection_follows_shebang_to_a_static_interpreter(
    programs: Programs, tmp_path: Path
) -> None:
    if programs.fopen_static is None:
        pytest.skip("cc -static does not work here")
    script = tmp_path / "tool"
    script.write_text(f"#!{programs.fopen_static} --flag\n")
    script.chmod(0o755)
    info = inspect_program(str(script), path_env=str(tmp_path), cwd=tmp_path)
    assert info is not None
    assert preload_obstacle(info) == f"{programs.fopen_static} is statically linked"
    via_path = inspect_program("tool", path_env=str(tmp_path), cwd=Path("/"))
    assert via_path is not None and via_path.path == str(script)

    env_script = tmp_path / "envtool"
    env_script.write_text(f"#!/usr/bin/env -S {programs.fopen_static.name} -x\n")
    env_script.chmod(0o755)
    shutil.copy(programs.fopen_static, tmp_path / programs.fopen_static.name)
    info = inspect_program(str(env_script), path_env=str(tmp_path), cwd=tmp_path)
    assert info is not None and preload_obstacle(info) is not None
    assert info.real == os.path.realpath("/usr/bin/env")


def test_elf_and_shebang_parsing(programs: Programs) -> None:
    assert parse_shebang(b"#!/bin/sh -e\nexit\n") == ("/bin/sh", "-e")
    assert parse_shebang(b"#!  /usr/bin/python3\n") == ("/usr/bin/python3", None)
    assert parse_shebang(b"\x7fELF") is None
    dynamic = programs.fopen.read_bytes()
    assert elf_has_interp(dynamic) is True
    if programs.fopen_static is not None:
        assert elf_has_interp(programs.fopen_static.read_bytes()) is False
    assert elf_has_interp(b"#!/bin/sh\n") is None
    with pytest.raises(ValueError):
        elf_has_interp(dynamic[:64])


# ---- the shared-memory record ring ------------------------------------------------------------


@pytest.mark.anyio
async def test_records_come_through_the_ring_without_a_message_each(
    shim: Path, data: Path, tmp_path: Path
) -> None:
    script = _script(
        tmp_path,
        "many.py",
        """
        import os
        for i in range(500):
            with open(f"f{i}.txt", "w") as f:
                f.write("x")
        """,
    )
    run = await trace(shim, [sys.executable, script], data)
    assert run.outcome.exit_code == 0
    assert run.outputs(data) == {f"f{i}.txt" for i in range(500)}
    assert run.stats.ring
    assert run.stats.socket_records == 0
    # A writer wakes roar only when it finds it asleep, never once per record.
    assert run.stats.records > 1000 and run.stats.wakeups < run.stats.records // 10
    assert run.stats.events_lost == 0


@pytest.mark.anyio
async def test_a_ring_too_small_for_the_job_wraps_and_makes_writers_wait_not_lose(
    shim: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 8 KiB holds ~80 records: 4 processes x 2 threads x 300 files go round it dozens of times,
    # and writers keep finding it full while roar sleeps between drains.
    monkeypatch.setenv(ENV_RING_BYTES, "8192")
    script = _script(
        tmp_path,
        "storm.py",
        """
        import os, sys, threading
        def work(tag):
            for i in range(300):
                with open(f"{tag}-{i}.txt", "w") as f:
                    f.write(tag)
        pids = []
        for p in range(4):
            pid = os.fork()
            if pid == 0:
                threads = [threading.Thread(target=work, args=(f"p{p}t{t}",)) for t in range(2)]
                for t in threads: t.start()
                for t in threads: t.join()
                os._exit(0)
            pids.append(pid)
        for pid in pids:
            os.waitpid(pid, 0)
        """,
    )
    run = await trace(shim, [sys.executable, script], data)
    assert run.outcome.exit_code == 0
    expected = {f"p{p}t{t}-{i}.txt" for p in range(4) for t in range(2) for i in range(300)}
    assert run.outputs(data) == expected
    assert run.stats.ring and run.stats.socket_records == 0
    assert run.stats.events_lost == 0
    assert run.stats.processes == 5


@pytest.mark.anyio
async def test_writers_killed_mid_stream_leave_the_ring_readable(
    shim: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Children open files as fast as they can and are SIGKILLed at an arbitrary instruction,
    # perhaps inside a record's copy: the ring must stay readable (a half-written record is
    # skipped, never read) and what the survivor writes afterwards must arrive.
    monkeypatch.setenv(ENV_RING_BYTES, "16384")
    script = _script(
        tmp_path,
        "kill.py",
        """
        import os, signal, time
        pids = []
        for c in range(3):
            pid = os.fork()
            if pid == 0:
                i = 0
                while True:
                    with open(f"c{c}-{i % 50}.txt", "w") as f:
                        f.write("x")
                    i += 1
            pids.append(pid)
        time.sleep(0.3)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            os.waitpid(pid, 0)
        with open("after.txt", "w") as f:
            f.write("done")
        """,
    )
    run = await trace(shim, [sys.executable, script], data)
    assert run.outcome.exit_code == 0
    outputs = run.outputs(data)
    assert "after.txt" in outputs
    assert {p for p in outputs if p.startswith("c")} <= {
        f"c{c}-{i}.txt" for c in range(3) for i in range(50)
    }
    assert run.stats.ring and run.stats.socket_records == 0
    assert run.stats.events_lost <= 3  # at most the record each child was copying


# ---- an open's path without /proc (ext/preload/lexical.c) ------------------------------------

# Each open's file as the kernel names it (readlink of /proc/self/fd/N, made by the script
# itself), through every shape of path the shim answers lexically or must not: symlinked
# directories, final symlinks, "..", relative paths after chdir, descriptor-relative paths, and
# a known directory replaced by a symlink by this process (rename, rmdir) and by another one.
_PATH_SHAPES = """
import json, os, subprocess, sys, tempfile

kernel = {"read": [], "written": []}

def opened(fd, how):
    kernel[how].append(os.readlink(f"/proc/self/fd/{fd}"))
    os.close(fd)

def read(path, **kw):
    opened(os.open(path, os.O_RDONLY, **kw), "read")

def write(path, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, **kw):
    fd = os.open(path, flags, 0o644, **kw)
    os.write(fd, b"x")
    opened(fd, "written")

write("w0"); read("real/r1"); read(os.path.abspath("real/r1b")); write("real/w1")
read("link/r2"); write("link/w2")
read("real/r3link"); write("real/w3link")
write("real/dangle")
read("deep/../r5")
os.chdir("link"); read("r6"); write("w6"); os.chdir("..")
write("swap/w7a")
os.rename("swap", "swap_old"); os.symlink("real", "swap")
write("swap/w7b")
write("empty/t8"); os.unlink("empty/t8"); os.rmdir("empty"); os.symlink("real", "empty")
write("empty/w8")
read("other/r9a")
subprocess.run(["sh", "-c", "mv other other_old && ln -s real other"], check=True)
read("other/r9b")
dirfd = os.open("link", os.O_RDONLY | os.O_DIRECTORY)
read("r10", dir_fd=dirfd); os.close(dirfd)
write("link/w12", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW)
fd, _ = tempfile.mkstemp(dir="link"); os.write(fd, b"x"); opened(fd, "written")
json.dump(kernel, open(sys.argv[1], "w"))
"""


def _path_shapes_layout(data: Path) -> None:
    real = data / "real"
    (real / "sub").mkdir(parents=True)
    (data / "swap").mkdir()
    (data / "empty").mkdir()
    (data / "other").mkdir()
    for name in ("r1", "r1b", "r2", "r3", "r5", "r6", "r9b", "r10"):
        (real / name).write_text(name)
    (data / "r5").write_text("the lexical answer, which the kernel does not give")
    (data / "other" / "r9a").write_text("r9a")
    (real / "w3target").write_text("old")
    (data / "link").symlink_to("real")
    (data / "deep").symlink_to("real/sub")
    (real / "r3link").symlink_to("r3")
    (real / "w3link").symlink_to("w3target")
    (real / "dangle").symlink_to("made")


@pytest.mark.anyio
@pytest.mark.parametrize("snapshots", [False, True], ids=["plain", "snapshots"])
@pytest.mark.parametrize("ring", [True, False], ids=["ring", "socket"])
async def test_open_paths_are_the_kernels_through_every_shape_of_path(
    shim: Path,
    data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    snapshots: bool,
    ring: bool,
) -> None:
    if not ring:
        monkeypatch.setenv(ENV_RING_BYTES, "0")  # no ring: every open asks /proc
    _path_shapes_layout(data)
    script = _script(tmp_path, "shapes.py", _PATH_SHAPES)
    answers = tmp_path / "kernel.json"
    run = await trace(
        shim,
        [sys.executable, script, answers],
        data,
        snapshot_dir=tmp_path / "snapshots" if snapshots else None,
    )
    assert run.outcome.exit_code == 0
    kernel = json.loads(answers.read_text())
    prefix = str(data) + os.sep
    written = {p[len(prefix) :] for p in kernel["written"]} - {"empty/t8"}  # unlinked
    read = {p[len(prefix) :] for p in kernel["read"]}
    # The shapes land where the kernel put them, not where the names point lexically.
    assert {"real/r5", "real/r9b", "real/w7b", "real/w8", "real/made", "real/w3target"} <= (
        read | written
    )
    moved = {"swap": "swap_old", "other": "other_old"}  # directories renamed: how roar sees it
    assert run.outputs(data) == written | set(moved.values())
    assert run.inputs(data) == read | set(moved)


def _strace() -> str:
    found = shutil.which("strace")
    if found is None:
        pytest.skip("strace is not installed (scripts/test installs it): it counts the readlinks")
    return found


@pytest.mark.anyio
@pytest.mark.parametrize("ring", [True, False], ids=["ring", "socket"])
async def test_opens_in_known_directories_ask_proc_nothing(
    shim: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ring: bool
) -> None:
    """With the ring, the files of a directory the shim knows are named without a readlink of
    /proc per open (without it, every open asks: which shows the count below means something)."""
    if not ring:
        monkeypatch.setenv(ENV_RING_BYTES, "0")
    count = 300
    script = _script(
        tmp_path,
        "storm.py",
        f"""
        import os
        os.makedirs("out")
        for i in range({count}):
            with open(f"out/f{{i}}", "w") as f:
                f.write("x")
        for i in range({count}):
            with open(f"out/f{{i}}") as f:
                f.read()
        """,
    )
    log = tmp_path / "strace.log"
    strace = [_strace(), "-f", "-qq", "-s", "4096", "-e", "trace=readlink", "-o", log]
    run = await trace(shim, [*strace, sys.executable, script], data)
    assert run.outcome.exit_code == 0
    assert run.outputs(data) == {f"out/f{i}" for i in range(count)}
    asked = [
        line for line in log.read_text().splitlines() if "/fd/" in line and f'"{data}/out/' in line
    ]
    if ring:
        assert len(asked) <= 2, asked[:5]  # the first open that taught the shim the directory
    else:
        assert len(asked) >= 2 * count
