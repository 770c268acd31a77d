"""roar-ptrace, compiled from ext/ptrace and run on real commands.

Each test runs the tracer with its event descriptor on a file the test opened, decodes the file
with the pure-Python decoder (the specification) and asserts the exact records that matter.
The tiny C programs in tests/programs/ say in their header what each one exercises.

Tests marked with the ``mode`` fixture run three times: with the seccomp filter (the normal
path), with --no-seccomp (every syscall stops, as when seccomp is unavailable) and with
--no-syscall-info (registers instead of PTRACE_GET_SYSCALL_INFO, as on kernels before 5.3).
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from roar.tracing import wire
from roar.tracing._decoder_py import Decoder
from roar.tracing.ptrace import skip_read_options
from tests.conftest import create_flags_layout, skip_reads_layout

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = REPO / "tests" / "programs"
O_ACCMODE = os.O_RDONLY | os.O_WRONLY | os.O_RDWR
CREATE_TRUNC = os.O_WRONLY | os.O_CREAT | os.O_TRUNC

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "aarch64"),
        reason="roar-ptrace runs on Linux x86_64/aarch64",
    ),
]


def _ptrace_scope() -> int:
    try:
        return int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except (OSError, ValueError):
        return 0


# ---- building ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) to build roar-ptrace and the test programs")
    if _ptrace_scope() >= 3:
        pytest.skip("ptrace is disabled here (kernel.yama.ptrace_scope = 3)")
    return tmp_path_factory.mktemp("ptrace-build")


@pytest.fixture(scope="session")
def tracer(build_dir: Path) -> Path:
    """roar-ptrace built the way packaging builds it, plus -Werror (no warnings allowed).

    ROAR_TEST_SANITIZE=1 builds it with AddressSanitizer and UBSan instead.
    """
    out = build_dir / "roar-ptrace"
    sources = sorted(str(p) for p in (REPO / "ext" / "ptrace").glob("*.c"))
    generated = build_dir / "generated"
    subprocess.run(
        [sys.executable, str(REPO / "ext" / "gen_syscall_names.py"), "cc", str(generated)],
        check=True,
    )
    cmd = ["cc", "-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", str(REPO / "ext")]
    cmd += ["-I", str(generated)]
    if os.environ.get("ROAR_TEST_SANITIZE"):
        cmd += ["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    subprocess.run([*cmd, *sources, "-o", str(out)], check=True)
    return out


# The programs of tests/programs/ written for this tracer (others belong to other backends).
TRACER_PROGRAMS = (
    "copy_calls",
    "create_flags",
    "daemonize",
    "fd_juggle",
    "long_path",
    "openat_dirfd",
    "rename_over",
    "sigstop",
    "skip_reads",
    "threads",
    "truncate_link",
    "vfork_exec",
)


def _libc_a_exists() -> bool:
    probe = subprocess.run(["cc", "-print-file-name=libc.a"], capture_output=True, text=True)
    return os.path.isabs(probe.stdout.strip())


@pytest.fixture(scope="session")
def programs(build_dir: Path) -> dict[str, Path]:
    """The tests/programs/*.c used here, plus NAME-static builds when libc.a is installed."""
    built: dict[str, Path] = {}
    static = _libc_a_exists()
    for source in (PROGRAMS / f"{name}.c" for name in TRACER_PROGRAMS):
        out = build_dir / source.stem
        base = ["cc", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread", str(source)]
        subprocess.run([*base, "-o", str(out)], check=True)
        built[source.stem] = out
        if static and source.stem in ("rename_over", "threads", "fd_juggle"):
            subprocess.run([*base, "-static", "-o", f"{out}-static"], check=True)
            built[f"{source.stem}-static"] = Path(f"{out}-static")
    return built


# ---- running -----------------------------------------------------------------------------------


@dataclass
class Trace:
    records: list[wire.Record]
    returncode: int
    stderr: str

    @property
    def root(self) -> int:
        return self.records[0][2]

    def kinds(self, *kinds: int) -> list[wire.Record]:
        return [r for r in self.records if r[0] in kinds]

    def names(self) -> list[str]:
        return [wire.EVK_NAMES[r[0]] for r in self.records]

    def under(self, top: Path, *kinds: int) -> list[tuple[str, str, str | None]]:
        """(kind, path1, path2) of records touching paths below top, paths made relative."""
        prefix = str(top) + "/"
        out = []
        for r in self.records:
            paths = [p for p in (r[7], r[8]) if p]
            if kinds and r[0] not in kinds:
                continue
            if paths and any(p.startswith(prefix) for p in paths):
                rel = [p[len(prefix) :] if p.startswith(prefix) else p for p in (r[7], r[8]) if p]
                out.append((wire.EVK_NAMES[r[0]], rel[0], rel[1] if len(rel) > 1 else None))
        return out

    def process_of_exec(self, path: str) -> int:
        pids = [r[2] for r in self.kinds(wire.EVK_EXEC) if r[7] == path]
        assert pids, f"no EXEC of {path} in {self.names()}"
        return pids[0]


def run_traced(
    tracer: Path,
    argv: Sequence[str | os.PathLike[str]],
    tmp_path: Path,
    *,
    cwd: Path | None = None,
    options: Sequence[str] = (),
    timeout: float = 60,
    backend: str = "ptrace",
) -> Trace:
    events = tmp_path / f"events-{time.monotonic_ns()}.bin"
    with events.open("wb") as sink:
        fd = sink.fileno()
        proc = subprocess.run(
            [str(tracer), "--event-fd", str(fd), *options, "--", *map(str, argv)],
            pass_fds=(fd,),
            cwd=cwd or tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    records = Decoder().feed(events.read_bytes())
    trace = Trace(records, proc.returncode, proc.stderr)
    assert records, f"no records; stderr: {proc.stderr}"
    check_framing(trace, backend)
    return trace


def check_framing(trace: Trace, backend: str = "ptrace") -> None:
    """HELLO first, END last and once, FORK before anything a child does, one EXIT per process."""
    first, last = trace.records[0], trace.records[-1]
    assert first[0] == wire.EVK_HELLO and first[4] == wire.EVT_VERSION and first[7] == backend
    assert last[0] == wire.EVK_END and last[2] == first[2]
    assert trace.names().count("end") == 1 and trace.names().count("hello") == 1
    known = {trace.root}
    exited: list[int] = []
    for r in trace.records[1:-1]:
        if r[0] == wire.EVK_FORK:
            assert r[2] in known
            if not r[6] & wire.FORK_THREAD:
                known.add(r[4])
        elif r[0] == wire.EVK_EXIT:
            exited.append(r[2])
            assert r[2] == r[3]
        elif r[0] != wire.EVK_WARN:
            assert r[2] in known, f"record from unannounced pid: {r}"
            assert r[7].startswith("/"), f"relative path: {r}"
    assert sorted(exited) == sorted(known), "every process (and only those) has one EXIT"


@pytest.fixture(params=["seccomp", "no-seccomp", "no-syscall-info"])
def mode(request: pytest.FixtureRequest) -> list[str]:
    return {
        "seccomp": [],
        "no-seccomp": ["--no-seccomp"],
        "no-syscall-info": ["--no-syscall-info"],
    }[request.param]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    top = (tmp_path / "work").resolve()
    top.mkdir()
    return top


def which_real(name: str) -> str:
    found = shutil.which(name)
    assert found, name
    return os.path.realpath(found)


# ---- the stream --------------------------------------------------------------------------------


def test_shell_redirect(tracer: Path, work: Path, tmp_path: Path, mode: list[str]) -> None:
    (work / "a").write_text("alpha\n")
    t = run_traced(tracer, ["sh", "-c", "cat a > b"], tmp_path, cwd=work, options=mode)
    assert t.returncode == 0, t.stderr
    assert (work / "b").read_text() == "alpha\n"

    sh = which_real("sh")
    assert t.records[1][0] == wire.EVK_EXEC
    assert t.records[1][2] == t.root and t.records[1][7:] == (sh, sh)
    cat_pid = t.process_of_exec(which_real("cat"))
    assert cat_pid != t.root
    (fork,) = [r for r in t.kinds(wire.EVK_FORK) if r[4] == cat_pid]
    assert fork[2] == t.root

    opens = {r[7]: r for r in t.kinds(wire.EVK_OPEN) if r[7].startswith(str(work))}
    assert set(opens) == {f"{work}/a", f"{work}/b"}
    assert opens[f"{work}/a"][2] == cat_pid
    assert opens[f"{work}/a"][4] & O_ACCMODE == os.O_RDONLY
    assert opens[f"{work}/b"][4] & (O_ACCMODE | os.O_CREAT | os.O_TRUNC) == CREATE_TRUNC
    end = t.records[-1]
    assert end[4] == 0 and end[5] == 0


def test_python_reads_and_writes(tracer: Path, work: Path, tmp_path: Path) -> None:
    (work / "in.txt").write_text("x")
    code = (
        "import threading\n"
        "data = open('in.txt').read()\n"
        "data = open('in.txt').read()\n"  # the second identical open is deduplicated
        "def w(): open('out.txt', 'w').write(data * 2)\n"
        "th = threading.Thread(target=w); th.start(); th.join()\n"
    )
    t = run_traced(tracer, [sys.executable, "-c", code], tmp_path, cwd=work)
    assert t.returncode == 0, t.stderr
    py = t.process_of_exec(os.path.realpath(sys.executable))
    mine = [r for r in t.kinds(wire.EVK_OPEN) if r[7].startswith(f"{work}/")]
    assert [(r[7], r[4] & (O_ACCMODE | os.O_CREAT | os.O_TRUNC)) for r in mine] == [
        (f"{work}/in.txt", os.O_RDONLY),
        (f"{work}/out.txt", CREATE_TRUNC),
    ]
    assert mine[0][4] & os.O_CLOEXEC
    thread_forks = [r for r in t.kinds(wire.EVK_FORK) if r[6] & wire.FORK_THREAD]
    writer = mine[1]
    assert writer[2] == py and writer[3] != py  # opened by the thread, reported for the process
    assert writer[3] in {r[4] for r in thread_forks}
    assert (f"{work}/out.txt", writer[5]) in {(r[7], r[5]) for r in t.kinds(wire.EVK_CLOSE)}


def test_rename_over(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path, mode: list[str]
) -> None:
    t = run_traced(tracer, [programs["rename_over"], work], tmp_path, options=mode)
    assert t.returncode == 0, t.stderr
    once = [
        ("open", "target.tmp", None),
        ("close", "target.tmp", None),
        ("rename", "target.tmp", "target"),
    ]
    assert t.under(work) == once + once
    opens = [r for r in t.kinds(wire.EVK_OPEN) if r[7] == f"{work}/target.tmp"]
    assert [r[4] & (O_ACCMODE | os.O_CREAT | os.O_TRUNC) for r in opens] == [CREATE_TRUNC] * 2
    assert all(r[2] == r[3] == t.root for r in t.kinds(wire.EVK_RENAME, wire.EVK_CLOSE))
    assert all(r[4] == 0 for r in t.kinds(wire.EVK_RENAME))
    assert (work / "target").read_text() == "data\n"


@pytest.mark.parametrize("program", ["rename_over", "threads", "fd_juggle"])
def test_static_binaries(
    tracer: Path, programs: dict[str, Path], tmp_path: Path, program: str
) -> None:
    """Static binaries make raw syscalls without libc.so: the same records must come out."""
    if f"{program}-static" not in programs:
        pytest.skip("no static libc (libc.a) to link with")
    records = []
    for variant in (program, f"{program}-static"):
        top = (tmp_path / variant).resolve()
        top.mkdir()
        t = run_traced(tracer, [programs[variant], top], tmp_path)
        assert t.returncode == 0, t.stderr
        records.append(sorted(t.under(top)))
    assert records[0] == records[1]


def test_openat_dirfd(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path, mode: list[str]
) -> None:
    (work / "sub").mkdir()
    (work / "sub" / "in.txt").write_text("in")
    t = run_traced(tracer, [programs["openat_dirfd"], work], tmp_path, options=mode)
    assert t.returncode == 0, t.stderr
    assert t.under(work) == [
        ("open", "sub/in.txt", None),
        ("open", "out.txt", None),
        ("close", "out.txt", None),
        ("rename", "out.txt", "sub/moved.txt"),
        ("link", "sub/moved.txt", "hard.txt"),
        ("unlink", "hard.txt", None),
        ("chdir", "sub", None),
        ("unlink", "sub/moved.txt", None),
    ]
    # Neither the O_DIRECTORY open of the directory nor the O_PATH one gave a record, and the
    # calls relative to that descriptor (and the fchdir to it) were resolved all the same.
    assert not [r for r in t.kinds(wire.EVK_OPEN) if r[7] == str(work)]
    assert [r[7] for r in t.kinds(wire.EVK_CHDIR)] == [str(work), f"{work}/sub"]


@pytest.mark.parametrize("snapshots", [False, True], ids=["plain", "snapshots"])
def test_open_created_flag(
    tracer: Path,
    programs: dict[str, Path],
    work: Path,
    tmp_path: Path,
    mode: list[str],
    snapshots: bool,
) -> None:
    """OPEN_CREATED is set exactly when an O_CREAT open created the file (see create_flags.c),
    with snapshots off and on (then only the existing files opened read-write are saved)."""
    expected = create_flags_layout(work)
    options = list(mode)
    if snapshots:
        (tmp_path / "snaps").mkdir()
        options += ["--snapshot-dir", str(tmp_path / "snaps")]
    t = run_traced(tracer, [programs["create_flags"], work], tmp_path, options=options)
    assert t.returncode == 0, t.stderr
    prefix = f"{work}/"
    opens = {r[7][len(prefix) :]: r[6] for r in t.kinds(wire.EVK_OPEN) if r[7].startswith(prefix)}
    assert opens == {p: wire.OPEN_CREATED if c else 0 for p, c in expected.items()}
    saved = {r[7][len(prefix) :] for r in t.kinds(wire.EVK_SNAPSHOT)}
    assert saved == (
        {"existing.txt", "existing_aplus.txt", "sub/old_rel.txt"} if snapshots else set()
    )


@pytest.mark.parametrize("skipping", [False, True], ids=["report-all", "skip-reads"])
def test_skip_reads(
    tracer: Path, programs: dict[str, Path], tmp_path: Path, mode: list[str], skipping: bool
) -> None:
    """--skip-reads-under & co. (see skip_reads.c): the reads the rule leaves out give no OPEN,
    decided at the seccomp stop or (a symlink into the skip directory) at the exit stop; the
    others are reported with their canonical path.  Nothing is left out without the options,
    except the O_DIRECTORY open, which never gives a record."""
    system, proj = (tmp_path / "sys").resolve(), (tmp_path / "proj").resolve()
    case = skip_reads_layout(system, proj)
    options = [*mode, *(skip_read_options(case.skip_reads) if skipping else [])]
    t = run_traced(tracer, [programs["skip_reads"], system, proj], tmp_path, options=options)
    assert t.returncode == 0, t.stderr
    opens = {r[7] for r in t.kinds(wire.EVK_OPEN) if r[7].startswith((str(system), str(proj)))}
    assert opens == (case.reported if skipping else case.plain_reads | case.read_write)
    # The Python twin of the rule says the same of every plain read.
    assert {p for p in case.plain_reads if not case.skip_reads.skips(p)} == case.reported - (
        case.read_write
    )


def test_symlinked_directory_is_canonicalised(tracer: Path, work: Path, tmp_path: Path) -> None:
    (work / "real").mkdir()
    (work / "real" / "f").write_text("f")
    (work / "link").symlink_to("real")
    t = run_traced(
        tracer, ["sh", "-c", "cat link/f > /dev/null; mv link/f link/../link/g"], tmp_path, cwd=work
    )
    assert t.returncode == 0, t.stderr
    assert ("open", "real/f", None) in t.under(work)
    assert ("rename", "real/f", "real/g") in t.under(work)


# ---- processes ---------------------------------------------------------------------------------


def test_daemonized_grandchild(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path
) -> None:
    late = work / "late.txt"
    start = time.monotonic()
    t = run_traced(tracer, [programs["daemonize"], late], tmp_path)
    assert time.monotonic() - start >= 0.3, "the tracer returned before the grandchild finished"
    assert t.returncode == 0
    assert late.read_text() == "late\n"
    forks = t.kinds(wire.EVK_FORK)
    assert len(forks) == 2
    middle, grandchild = forks[0][4], forks[1][4]
    assert forks[0][2] == t.root and forks[1][2] == middle
    (opened,) = [r for r in t.kinds(wire.EVK_OPEN) if r[7] == str(late)]
    assert opened[2] == grandchild
    exits = [r[2] for r in t.kinds(wire.EVK_EXIT)]
    assert exits == [t.root, middle, grandchild] or exits == [middle, t.root, grandchild]
    assert t.records[-2][0] == wire.EVK_EXIT and t.records[-2][2] == grandchild


def test_threads(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path, mode: list[str]
) -> None:
    t = run_traced(tracer, [programs["threads"], work], tmp_path, options=mode)
    assert t.returncode == 0, t.stderr
    threads = {r[4] for r in t.kinds(wire.EVK_FORK)}
    assert all(r[6] == wire.FORK_THREAD and r[2] == t.root for r in t.kinds(wire.EVK_FORK))
    opens = {r[7]: r for r in t.kinds(wire.EVK_OPEN) if r[7].startswith(str(work))}
    assert set(opens) == {f"{work}/t0.txt", f"{work}/t1.txt"}
    assert all(r[2] == t.root and r[3] in threads for r in opens.values())
    # t0.txt was opened by a thread and closed by the main thread: the table is shared.
    closes = {r[7]: r for r in t.kinds(wire.EVK_CLOSE)}
    assert closes[f"{work}/t0.txt"][3] == t.root
    assert closes[f"{work}/t0.txt"][5] == opens[f"{work}/t0.txt"][5]
    assert [r[2] for r in t.kinds(wire.EVK_EXIT)] == [t.root]


def test_exec_from_a_thread(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path, mode: list[str]
) -> None:
    t = run_traced(tracer, [programs["threads"], work, "exec"], tmp_path, options=mode)
    assert t.returncode == 0, t.stderr
    execs = t.kinds(wire.EVK_EXEC)
    assert [r[7] for r in execs] == [str(programs["threads"]), which_real("true")]
    # The exec'ing thread takes over the process id.
    assert execs[1][2] == execs[1][3] == t.root
    assert [r[2] for r in t.kinds(wire.EVK_EXIT)] == [t.root]


FORK_STORM = """
import os, threading
def spawn():
    for _ in range(15):
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        assert os.waitpid(pid, 0)[1] == 7 << 8
threads = [threading.Thread(target=spawn) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
"""


@pytest.mark.parametrize("options", [[], ["--no-seccomp"]], ids=["seccomp", "no-seccomp"])
def test_fork_storm(tracer: Path, tmp_path: Path, options: list[str]) -> None:
    """Threads forking at once: new children often stop before their parent's fork event is
    seen.  Every child must still be announced by a FORK before it appears, and exit once."""
    t = run_traced(tracer, [sys.executable, "-c", FORK_STORM], tmp_path, options=options)
    assert t.returncode == 0, t.stderr
    children = [r for r in t.kinds(wire.EVK_FORK) if not r[6] & wire.FORK_THREAD]
    assert len(children) == 6 * 15
    exits = {r[2]: r[4] for r in t.kinds(wire.EVK_EXIT)}
    assert all(exits[r[4]] == 7 << 8 for r in children)


def test_vfork(tracer: Path, programs: dict[str, Path], tmp_path: Path, mode: list[str]) -> None:
    t = run_traced(tracer, [programs["vfork_exec"]], tmp_path, options=mode)
    assert t.returncode == 3
    (fork,) = t.kinds(wire.EVK_FORK)
    assert fork[6] == wire.FORK_VFORK and fork[2] == t.root
    assert t.process_of_exec(which_real("sh")) == fork[4]
    exits = {r[2]: r[4] for r in t.kinds(wire.EVK_EXIT)}
    assert exits == {fork[4]: 3 << 8, t.root: 3 << 8}
    assert t.records[-1][4] == 3 << 8


def test_shebang_script(tracer: Path, work: Path, tmp_path: Path) -> None:
    script = work / "x.sh"
    script.write_text("#!/bin/sh\necho hi > out.txt\n")
    script.chmod(0o755)
    t = run_traced(tracer, ["./x.sh"], tmp_path, cwd=work)
    assert t.returncode == 0, t.stderr
    (exec_,) = t.kinds(wire.EVK_EXEC)
    assert exec_[7] == str(script)
    assert exec_[8] == os.path.realpath("/bin/sh")
    assert ("open", "x.sh", None) in t.under(work)  # the interpreter reads the script
    assert ("open", "out.txt", None) in t.under(work)


def test_sigstop_and_signals(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path, mode: list[str]
) -> None:
    out = work / "stop.txt"
    t = run_traced(tracer, [programs["sigstop"], out], tmp_path, options=mode, timeout=30)
    # The program checks that SIGUSR1 reached its handler, that the child really stayed stopped
    # and that its parent saw the stop: exit 0 means all of that held under the tracer.
    assert t.returncode == 0, f"sigstop exited {t.returncode}: {t.stderr}"
    assert out.read_text() == "ok\n"


# ---- descriptors -------------------------------------------------------------------------------


def test_fd_juggle_close_records(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path, mode: list[str]
) -> None:
    t = run_traced(tracer, [programs["fd_juggle"], work], tmp_path, options=mode)
    assert t.returncode == 0, t.stderr
    (child,) = [r[4] for r in t.kinds(wire.EVK_FORK)]
    closes = [(r[2], r[5], os.path.basename(r[7])) for r in t.kinds(wire.EVK_CLOSE)]
    assert closes == [
        (t.root, 3, "a.txt"),
        (t.root, 20, "a.txt"),  # dup2 over fd 20
        (child, 20, "b.txt"),  # the child's copy of the table
        (t.root, 20, "b.txt"),  # close_range
        (t.root, 4, "b.txt"),
        (t.root, 30, "c.txt"),  # close-on-exec copy dropped by exec
    ]
    exec_index = t.names().index("exec", 2)
    assert t.names()[exec_index - 1] == "close"  # closed at the exec, before EXEC


def test_truncate_link_and_dedupe(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path, mode: list[str]
) -> None:
    (work / "f.txt").write_text("content")
    t = run_traced(tracer, [programs["truncate_link"], work], tmp_path, options=mode)
    assert t.returncode == 0, t.stderr
    assert t.under(work) == [
        ("open", "f.txt", None),  # the second identical open is deduplicated
        ("truncate", "f.txt", None),  # through the symlink: the target is named
        ("open", "f.txt", None),  # reported again: truncate forgot the path
        ("open", "f.txt", None),  # O_RDWR: another access class
        ("truncate", "f.txt", None),  # ftruncate
        ("close", "f.txt", None),
        ("link", "f.txt", "hard.txt"),
        ("unlink", "sym", None),  # the symlink itself, not its target
    ]
    assert [r[5] for r in t.kinds(wire.EVK_TRUNCATE)] == [3, 1]
    assert (work / "f.txt").read_text() == "c"


def test_copy_calls(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path, mode: list[str]
) -> None:
    (work / "src.txt").write_text("0123456789")
    t = run_traced(tracer, [programs["copy_calls"], work], tmp_path, options=mode)
    assert t.returncode == 0, t.stderr
    moved = t.under(work, wire.EVK_READ, wire.EVK_WRITE)
    assert moved == [
        ("read", "src.txt", None),  # once: deduplicated per process
        ("write", "dst1.txt", None),
        ("write", "dst2.txt", None),
        ("write", "dst3.txt", None),
    ]
    for name in ("dst1.txt", "dst2.txt", "dst3.txt"):
        assert (work / name).read_text() == "0123"


def test_long_path_is_truncated(
    tracer: Path, programs: dict[str, Path], work: Path, tmp_path: Path
) -> None:
    t = run_traced(tracer, [programs["long_path"], work], tmp_path)
    assert t.returncode == 0, t.stderr
    (cut,) = [r for r in t.kinds(wire.EVK_OPEN) if r[7].startswith(str(work))]
    assert cut[1] & wire.EVF_TRUNCATED
    assert len(cut[7].encode()) == wire.EVT_MAX_RECORD - wire.EVT_HEADER_SIZE
    assert t.records[-1][5] >= 1  # END counts it


def test_event_fd_is_not_inherited(tracer: Path, tmp_path: Path) -> None:
    probe = "import os, sys; sys.exit(len(os.listdir('/proc/self/fd')) > 4)"
    t = run_traced(tracer, [sys.executable, "-c", probe], tmp_path)
    assert t.returncode == 0, "the traced program inherited more than stdin/out/err"


# ---- snapshots ---------------------------------------------------------------------------------


def test_snapshots_keep_inputs_the_job_destroys(tracer: Path, work: Path, tmp_path: Path) -> None:
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    for name in ("a", "b", "c", "d", "e"):
        (work / name).write_text(f"original {name}\n")
    (work / "new").write_text("replacement\n")
    script = (
        "cat a b c d > /dev/null\n"
        "echo changed > a\n"  # O_TRUNC over an input: copied first
        "mv new b\n"  # renamed over: hard-linked first
        "rm c\n"  # unlinked: hard-linked first
        "truncate -s 0 d\n"  # truncated: copied first
        "echo only-written > e\n"  # never read: nothing to keep
        "cat a > /dev/null; echo again > a\n"  # the job's own data now: no second snapshot
    )
    t = run_traced(
        tracer, ["sh", "-c", script], tmp_path, cwd=work, options=["--snapshot-dir", str(snaps)]
    )
    assert t.returncode == 0, t.stderr
    saved = {r[7]: r[8] for r in t.kinds(wire.EVK_SNAPSHOT)}
    assert sorted(saved) == [f"{work}/{n}" for n in ("a", "b", "c", "d")]
    for name in ("a", "b", "c", "d"):
        copy = Path(saved[f"{work}/{name}"] or "")
        assert copy.parent == snaps.resolve()
        assert copy.read_text() == f"original {name}\n"
    # Each snapshot comes before the record of the change it guards against.
    names = t.names()
    first_unlink = names.index("unlink")
    assert any(r[0] == wire.EVK_SNAPSHOT and r[7].endswith("/c") for r in t.records[:first_unlink])


def test_no_snapshot_dir_means_no_snapshots(tracer: Path, work: Path, tmp_path: Path) -> None:
    (work / "a").write_text("x")
    t = run_traced(tracer, ["sh", "-c", "cat a >/dev/null; echo y > a"], tmp_path, cwd=work)
    assert not t.kinds(wire.EVK_SNAPSHOT)


# ---- exit status, failures, signals ------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "code", "status"),
    [
        ("exit 0", 0, 0),
        ("exit 7", 7, 7 << 8),
        ("kill -TERM $$", 128 + signal.SIGTERM, signal.SIGTERM),
        ("kill -KILL $$", 128 + signal.SIGKILL, signal.SIGKILL),
    ],
)
def test_exit_status_passes_through(
    tracer: Path, tmp_path: Path, script: str, code: int, status: int
) -> None:
    t = run_traced(tracer, ["sh", "-c", script], tmp_path)
    assert t.returncode == code
    assert t.records[-1][4] == status
    assert [r[4] for r in t.kinds(wire.EVK_EXIT) if r[2] == t.root] == [status]


def test_missing_program(tracer: Path, tmp_path: Path) -> None:
    t = run_traced(tracer, ["roar-no-such-program-x"], tmp_path)
    assert t.returncode == 127
    assert "roar-ptrace: cannot execute roar-no-such-program-x: No such file or directory" in (
        t.stderr
    )
    assert t.names() == ["hello", "exit", "end"]
    assert t.records[-1][4] == 127 << 8


def test_program_not_executable(tracer: Path, work: Path, tmp_path: Path) -> None:
    data = work / "data.txt"
    data.write_text("not a program")
    data.chmod(0o644)
    t = run_traced(tracer, [data], tmp_path)
    assert t.returncode == 126
    assert f"cannot execute {data}: Permission denied" in t.stderr


def test_usage_errors(tracer: Path) -> None:
    assert subprocess.run([str(tracer)], capture_output=True).returncode == 2
    bad_fd = subprocess.run(
        [str(tracer), "--event-fd", "987", "--", "true"], capture_output=True, text=True
    )
    assert bad_fd.returncode == 2 and "--event-fd 987" in bad_fd.stderr
    for option, value in [
        ("--skip-reads-under", "usr/"),  # prefixes are absolute
        ("--keep-reads-under", ""),
        ("--keep-reads-containing", ""),
    ]:
        bad = subprocess.run(
            [str(tracer), "--event-fd", "1", option, value, "--", "true"], capture_output=True
        )
        assert bad.returncode == 2, option


@pytest.fixture
def slow_child(tracer: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    events = tmp_path / "events.bin"
    with events.open("wb") as sink:
        proc = subprocess.Popen(
            [str(tracer), "--event-fd", str(sink.fileno()), "--", "sleep", "30"],
            pass_fds=(sink.fileno(),),
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until sleep runs (its EXEC is flushed)
            if any(r[0] == wire.EVK_EXEC for r in Decoder().feed(events.read_bytes())):
                break
            time.sleep(0.02)
        yield proc, events
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_sigterm_is_forwarded_and_sigint_ignored(
    slow_child: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, events = slow_child
    proc.send_signal(signal.SIGINT)  # the tracer alone gets it: ignored, as by system(3)
    # Pending signals arrive lowest number first: SIGINT is handled before SIGTERM, so a tracer
    # that died of it could not forward SIGTERM and end with the command's status.
    proc.send_signal(signal.SIGTERM)  # forwarded to the command
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    records = Decoder().feed(events.read_bytes())
    assert records[-1][0] == wire.EVK_END and records[-1][4] == signal.SIGTERM


def test_tracer_death_kills_the_tracees(slow_child: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, events = slow_child
    (exec_,) = [r for r in Decoder().feed(events.read_bytes()) if r[0] == wire.EVK_EXEC]
    sleeper = exec_[2]
    proc.kill()
    proc.wait()

    def alive() -> bool:
        try:
            stat = Path(f"/proc/{sleeper}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie is dead

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and alive():
        time.sleep(0.02)
    assert not alive(), "a tracee outlived the tracer (no EXITKILL?)"


def test_verbose_logs_unhandled_syscalls(tracer: Path, tmp_path: Path) -> None:
    t = run_traced(tracer, ["true"], tmp_path, options=["--verbose", "--no-seccomp"])
    assert t.returncode == 0
    assert "unhandled syscall" in t.stderr and "(mmap)" in t.stderr
