"""roar-ebpf, built from ext/ebpf (loader with -Werror, kernel half with clang -target bpf) and run
on real commands.

The records it writes must be the ones roar-ptrace writes for the same program: each fixture
program of tests/programs/ is traced by both and the records touching its work directory
compared. Then what only this tracer has: a self-test in `roar tracer status`, events lost to a
full ring buffer counted and reported, and a plain error when it cannot run. These tests need
root (or CAP_BPF and CAP_PERFMON) and a kernel with BTF; elsewhere they skip saying why (CI runs
as root on such a kernel, so there they run).
"""

# ruff: noqa: F811 -- the fixtures of the roar-ptrace tests, imported, are parameters here

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from roar.tracing import wire
from roar.tracing._decoder_py import Decoder
from tests.conftest import Workspace, create_flags_layout, ebpf_unusable
from tests.e2e.test_ptrace_tracer import (  # noqa: F401 -- fixtures shared with roar-ptrace
    REPO,
    Trace,
    build_dir,
    programs,
    run_traced,
    tracer,
    work,
)

pytestmark = [pytest.mark.e2e]

BPF_ARCH = {"x86_64": "x86", "aarch64": "arm64"}


@pytest.fixture(scope="session")
def ebpf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """roar-ebpf and its BPF object, built as packaging builds them but with -Werror."""
    reason = ebpf_unusable()
    if reason is not None:
        pytest.skip(f"eBPF tracer unusable here: {reason}")
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    for tool, found in (
        ("cc", shutil.which("cc")),
        ("clang", shutil.which("clang")),
        ("bpftool", bpftool),
    ):
        if found is None:
            pytest.skip(f"{tool} is needed to build roar-ebpf")
    assert bpftool is not None
    out = tmp_path_factory.mktemp("ebpf-build")
    header = out / "vmlinux.h"
    with header.open("wb") as sink:
        subprocess.run(
            [bpftool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"],
            stdout=sink,
            check=True,
        )
    src = REPO / "ext" / "ebpf"
    bpf_object = out / "roar-ebpf.bpf.o"
    subprocess.run(
        ["clang", "-target", "bpf", f"-D__TARGET_ARCH_{BPF_ARCH[platform.machine()]}", "-g",
         "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-I", str(out),
         "-c", str(src / "roar.bpf.c"), "-o", str(bpf_object)],
        check=True,
    )  # fmt: skip
    shared = [REPO / "ext" / "ptrace" / n for n in ("emit.c", "fdtable.c", "paths.c", "log.c")]
    shared.append(REPO / "ext" / "ptrace" / "snapshot.c")
    sources = [p for p in sorted(src.glob("*.c")) if not p.name.endswith(".bpf.c")] + shared
    loader = out / "roar-ebpf"
    subprocess.run(
        ["cc", "-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", str(REPO / "ext"),
         "-I", str(REPO / "ext" / "ptrace"), *map(str, sources), "-o", str(loader), "-lbpf",
         "-lpthread"],
        check=True,
    )  # fmt: skip
    return loader, bpf_object


def run_ebpf(
    ebpf: tuple[Path, Path],
    argv: Sequence[str | os.PathLike[str]],
    tmp_path: Path,
    *,
    cwd: Path | None = None,
    options: Sequence[str] = (),
    timeout: float = 60,
) -> Trace:
    loader, bpf_object = ebpf
    return run_traced(
        loader,
        argv,
        tmp_path,
        cwd=cwd,
        options=["--bpf-object", str(bpf_object), *options],
        timeout=timeout,
        backend="ebpf",
    )


# ---- the same records as roar-ptrace ------------------------------------------------------------

# (program, its arguments after the work directory); each one's header says what it exercises.
SAME_AS_PTRACE = [
    pytest.param("rename_over", [], id="rename_over"),
    pytest.param("openat_dirfd", [], id="openat_dirfd"),
    pytest.param("create_flags", [], id="create_flags"),
    pytest.param("threads", [], id="threads"),
    pytest.param("threads", ["exec"], id="threads exec"),
    pytest.param("fd_juggle", [], id="fd_juggle"),
    pytest.param("truncate_link", [], id="truncate_link"),
    pytest.param("copy_calls", [], id="copy_calls"),
]


@pytest.mark.parametrize(("program", "args"), SAME_AS_PTRACE)
def test_same_records_as_ptrace(
    ebpf: tuple[Path, Path],
    tracer: Path,
    programs: dict[str, Path],
    tmp_path: Path,
    program: str,
    args: list[str],
) -> None:
    seen = {}
    for name in ("ptrace", "ebpf"):
        top = (tmp_path / name).resolve()
        top.mkdir()
        if program == "openat_dirfd":
            (top / "sub").mkdir()
            (top / "sub" / "in.txt").write_text("in")
        elif program == "create_flags":
            create_flags_layout(top)
        elif program == "truncate_link":
            (top / "f.txt").write_text("content")
        elif program == "copy_calls":
            (top / "src.txt").write_text("0123456789")
        argv = [programs[program], top, *args]
        # As roar runs them: with snapshots (whose records must match too).
        (top / "snaps").mkdir()
        snapshots = ["--snapshot-dir", str(top / "snaps")]
        if name == "ptrace":
            t = run_traced(tracer, argv, tmp_path, options=snapshots)
        else:
            t = run_ebpf(ebpf, argv, tmp_path, options=snapshots)
        assert t.returncode == 0, t.stderr
        prefix = f"{top}/"
        opens = [
            (r[7][len(prefix) :], r[6]) for r in t.kinds(wire.EVK_OPEN) if r[7].startswith(prefix)
        ]
        records = t.under(top)
        if program == "threads":
            records.sort()  # two threads race each other under either tracer
        seen[name] = (records, sorted(opens))  # opens: OPEN_CREATED too
        if name == "ebpf":
            assert t.records[-1][5] == 0, "no event may be lost"
    assert seen["ebpf"] == seen["ptrace"]


def test_a_parallel_build_gives_the_same_records_as_ptrace(
    ebpf: tuple[Path, Path], tracer: Path, tmp_path: Path
) -> None:
    """`make -j2` of roar-ptrace's own sources: dozens of processes, compilers piping into
    assemblers, temporary files. Every OPEN, EXEC, UNLINK and CLOSE must match (the compiler's
    randomly named temporary files aside)."""
    if shutil.which("make") is None:
        pytest.skip("make is needed")
    seen = {}
    for name in ("ptrace", "ebpf"):
        top = (tmp_path / name).resolve()
        shutil.copytree(REPO / "ext" / "ptrace", top / "ptrace")
        for header in (REPO / "ext").glob("*.h"):
            shutil.copy(header, top)
        shutil.copy(REPO / "ext" / "gen_syscall_names.py", top)  # the Makefile generates a table
        argv = ["make", "-j2", "-C", str(top / "ptrace"), "roar-ptrace"]
        if name == "ptrace":
            t = run_traced(tracer, argv, tmp_path, timeout=300)
        else:
            t = run_ebpf(ebpf, argv, tmp_path, timeout=300)
        assert t.returncode == 0, t.stderr
        kinds = (wire.EVK_OPEN, wire.EVK_EXEC, wire.EVK_UNLINK, wire.EVK_CLOSE)
        prefix = str(top)
        seen[name] = sorted(
            (
                wire.EVK_NAMES[r[0]],
                r[7].replace(prefix, "TOP"),
                r[4] if r[0] == wire.EVK_OPEN else 0,
            )
            for r in t.kinds(*kinds)
            if not os.path.basename(r[7]).startswith("cc")  # gcc's /tmp/ccXXXXXX.s and .o
        )
    assert seen["ebpf"] == seen["ptrace"]


def test_exit_statuses_and_vfork(
    ebpf: tuple[Path, Path], programs: dict[str, Path], tmp_path: Path
) -> None:
    t = run_ebpf(ebpf, [programs["vfork_exec"]], tmp_path)
    assert t.returncode == 3  # `sh -c "exit 3"` in the vforked child, passed back by the parent
    (fork,) = t.kinds(wire.EVK_FORK)
    assert fork[6] & wire.FORK_VFORK
    assert t.records[-1][4] == 3 << 8  # END carries the root's raw wait status
    killed = run_ebpf(ebpf, ["sh", "-c", "kill -9 $$"], tmp_path)
    assert killed.returncode == 128 + signal.SIGKILL
    missing = run_ebpf(ebpf, ["/nonexistent/program"], tmp_path)
    assert missing.returncode == 127 and "cannot execute" in missing.stderr


def test_daemonized_grandchild_is_waited_for(
    ebpf: tuple[Path, Path], programs: dict[str, Path], tmp_path: Path
) -> None:
    late = tmp_path / "late.txt"
    t = run_ebpf(ebpf, [programs["daemonize"], late], tmp_path)
    assert t.returncode == 0 and late.exists()
    assert str(late) in {r[7] for r in t.kinds(wire.EVK_OPEN)}


def test_snapshots_keep_inputs_the_job_destroys(
    ebpf: tuple[Path, Path], work: Path, tmp_path: Path
) -> None:
    """Rewritten, unlinked, and rewritten through a symlink of another name (the seccomp check's
    short cut by name must not miss it): each input is saved as the job read it."""
    (work / "data.txt").write_text("original\n")
    (work / "gone.txt").write_text("doomed\n")
    (work / "target.txt").write_text("pointed at\n")
    (work / "alias.txt").symlink_to("target.txt")
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    code = (
        "open('data.txt').read(); open('gone.txt').read(); open('target.txt').read()\n"
        "open('data.txt', 'w').write('rewritten')\n"
        "import os; os.unlink('gone.txt')\n"
        "open('alias.txt', 'w').write('through the link')\n"
        "open('fresh.txt', 'w').write('never read: nothing to save')\n"
    )
    options = ["--snapshot-dir", str(snaps)]
    t = run_ebpf(ebpf, [sys.executable, "-c", code], tmp_path, cwd=work, options=options)
    assert t.returncode == 0, t.stderr
    saved = {r[7]: Path(str(r[8])).read_text() for r in t.kinds(wire.EVK_SNAPSHOT)}
    assert saved == {
        f"{work}/data.txt": "original\n",
        f"{work}/gone.txt": "doomed\n",
        f"{work}/target.txt": "pointed at\n",
    }


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int $0x80 is x86")
def test_32_bit_syscalls_are_warned_about_once(ebpf: tuple[Path, Path], tmp_path: Path) -> None:
    """tests/programs/int80_syscall.c: a 32-bit syscall has other numbers (i386 3 is read,
    x86_64 3 is close), so it is not decoded with the 64-bit table, and one WARN names the
    process."""
    binary = tmp_path / "int80_syscall"
    source = REPO / "tests" / "programs" / "int80_syscall.c"
    subprocess.run(
        ["cc", "-O1", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(source)], check=True
    )
    t = run_ebpf(ebpf, [binary], tmp_path)
    if t.returncode != 0:
        pytest.skip("this kernel runs no 32-bit syscalls (IA32 emulation is off)")
    (warned,) = t.kinds(wire.EVK_WARN)
    assert "32-bit" in warned[7] and warned[2] == t.root


# ---- what only this tracer has ------------------------------------------------------------------


# Eight processes reading files with long names as fast as they can: an event per open and per
# close, a dozen of them fill a page.  Reads, because a write to an existing file would wait for
# the loader to look for a snapshot first (roar's runs save inputs), which lets it catch up.
FILE_STORM = (
    "import os\n"
    "names = [f'f{i}-' + 'x' * 200 for i in range(20)]\n"
    "for name in names: open(name, 'w').close()\n"
    "for n in range(3):\n"
    "    os.fork()\n"
    "for i in range(4000):\n"
    "    os.close(os.open(names[i % 20], os.O_RDONLY))\n"
)


def test_a_full_ring_buffer_is_counted_and_reported(
    ebpf: tuple[Path, Path], work: Path, tmp_path: Path
) -> None:
    """A one-page ring buffer cannot keep up with a file storm: the kernel half counts what it
    had no room for, and the loader says how much in a WARN record and in END."""
    loader, bpf_object = ebpf
    events = tmp_path / "events.bin"
    with events.open("wb") as sink:
        done = subprocess.run(
            [str(loader), "--event-fd", str(sink.fileno()), "--bpf-object", str(bpf_object),
             "--ring-bytes", "4096", "--", sys.executable, "-c", FILE_STORM],
            pass_fds=(sink.fileno(),),
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = Decoder().feed(events.read_bytes())
    lost = records[-1][5]
    assert records[-1][0] == wire.EVK_END and lost > 0
    (warned,) = [r for r in records if r[0] == wire.EVK_WARN and "ring buffer was full" in r[7]]
    assert 0 < warned[4] <= lost  # the WARN says how many events it stands for
    assert f"{warned[4]} events were lost" in warned[7]


def test_the_minimal_btf_is_used_only_on_the_kernel_it_was_cut_from(
    ebpf: tuple[Path, Path], tmp_path: Path
) -> None:
    """The install cuts the kernel types the object needs out of the kernel's BTF (setup.py
    _write_minimal_btf); the loader parses that instead of /sys/kernel/btf/vmlinux, and only
    while the kernel is the one it was cut from. Either way the trace is the same."""
    loader, built = ebpf
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    assert bpftool is not None
    here = tmp_path / "bin"
    here.mkdir()
    bpf_object = here / "roar-ebpf.bpf.o"
    shutil.copy(built, bpf_object)
    minimal = here / "roar-ebpf.min.btf"
    btf = "/sys/kernel/btf/vmlinux"
    subprocess.run([bpftool, "gen", "min_core_btf", btf, str(minimal), str(bpf_object)], check=True)
    assert minimal.stat().st_size < os.stat(btf).st_size // 100
    u = os.uname()
    identity = f"{u.release}\n{u.version}\n{u.machine}\n{os.stat(btf).st_size}\n"
    sidecar = here / "roar-ebpf.min.btf.kernel"
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("x")
    seen: dict[str, list[str]] = {}
    for case, written in (
        ("this kernel", identity),
        ("another kernel", identity.replace(u.release, u.release + "-other", 1)),
    ):
        sidecar.write_text(written)
        trace = run_traced(
            loader, ["cat", "in.txt"], tmp_path, cwd=data, backend="ebpf",
            options=["--bpf-object", str(bpf_object), "--verbose"],
        )  # fmt: skip
        assert trace.returncode == 0, trace.stderr
        used = [line for line in trace.stderr.splitlines() if "BTF: " in line]
        seen[case] = used
        assert ("open", "in.txt", None) in trace.under(data, wire.EVK_OPEN), trace.under(data)
    assert seen["this kernel"] == [f"roar-ebpf: BTF: {minimal}"]
    assert seen["another kernel"] == ["roar-ebpf: BTF: the kernel's (/sys/kernel/btf/vmlinux)"]


def test_a_missing_bpf_object_is_one_line_and_no_stream(
    ebpf: tuple[Path, Path], tmp_path: Path
) -> None:
    loader, _ = ebpf
    events = tmp_path / "events.bin"
    with events.open("wb") as sink:
        done = subprocess.run(
            [str(loader), "--event-fd", str(sink.fileno()), "--bpf-object", "/nonexistent.bpf.o",
             "--", "true"],
            pass_fds=(sink.fileno(),),
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
    assert done.returncode == 125
    assert done.stderr.count("\n") == 1 and "/nonexistent.bpf.o" in done.stderr
    assert events.read_bytes() == b""  # no HELLO, no END: roar sees a tracer failure


def test_a_trace_that_saw_nothing_is_an_error(ebpf: tuple[Path, Path], tmp_path: Path) -> None:
    """In another PID namespace the loader's idea of the child's pid is not the kernel's, so the
    programs trace nothing: that must fail, never pass for a command that touched no file."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is needed to start the loader in a PID namespace")
    loader, bpf_object = ebpf
    events = tmp_path / "events.bin"
    with events.open("wb") as sink:
        done = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", str(loader), "--event-fd",
             str(sink.fileno()), "--bpf-object", str(bpf_object), "--", "cat", "/etc/hostname"],
            pass_fds=(sink.fileno(),),
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
    assert done.returncode == 125
    assert "reported nothing of cat" in done.stderr
    records = Decoder().feed(events.read_bytes())
    assert wire.EVK_END not in [
        r[0] for r in records
    ]  # roar: "stopped before the command finished"


def test_second_interrupt_kills_the_traced_tree(ebpf: tuple[Path, Path], tmp_path: Path) -> None:
    loader, bpf_object = ebpf
    marker = tmp_path / "started"
    events = tmp_path / "events.bin"
    with events.open("wb") as sink:
        proc = subprocess.Popen(
            [str(loader), "--event-fd", str(sink.fileno()), "--bpf-object", str(bpf_object), "--",
             "sh", "-c", f"touch {marker}; sleep 60 & sleep 60; wait"],
            pass_fds=(sink.fileno(),),
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(signal.SIGUSR1)  # what roar sends on a second Ctrl-C
        assert proc.wait(timeout=30) == 128 + signal.SIGKILL
    killed = [r for r in Decoder().feed(events.read_bytes()) if r[0] == wire.EVK_EXIT and r[4] == 9]
    assert len(killed) == 3  # sh and both sleeps


# ---- through roar -------------------------------------------------------------------------------


def test_tracer_status_runs_the_self_test(project: Workspace) -> None:
    if (reason := ebpf_unusable()) is not None:
        pytest.skip(f"eBPF tracer unusable here: {reason}")
    status = project.roar("tracer", "status", "--json").json()
    (ebpf_status,) = [b for b in status["backends"] if b["name"] == "ebpf"]
    assert ebpf_status["usable"] is True and ebpf_status["reason"] is None
    assert ebpf_status["self_test"] == {
        "passed": True,
        "cached": False,  # status always tests afresh
        "detail": "traced an open of a temporary file end to end",
    }
    text = project.roar("tracer", "status").stdout
    assert "self-test passed: traced an open of a temporary file end to end" in text
    assert "tracefs" in text

    # `roar run` keeps the answer for the rest of the boot, so the next run does not pay for it.
    project.roar("run", "--tracer", "ebpf", "true")
    note = project.root.parent / "home" / ".local" / "state" / "roar" / "ebpf-selftest.json"
    kept = json.loads(note.read_text())
    assert kept["passed"] is True and os.uname().release in kept["key"]


def test_chosen_by_config_and_by_auto(project: Workspace) -> None:
    if (reason := ebpf_unusable()) is not None:
        pytest.skip(f"eBPF tracer unusable here: {reason}")
    project.roar("run", "true")
    assert project.roar("show", "@1", "--json").json()["tracer"] == "ebpf"  # auto's first choice
    project.roar("config", "set", "tracer.default", "ebpf")
    project.roar("run", "python", "-c", "open('out.txt', 'w').write('x')")
    job = project.roar("show", "@2", "--json").json()
    assert job["tracer"] == "ebpf" and [f["path"] for f in job["outputs"]] == ["out.txt"]


def test_ring_buffer_losses_reach_the_user(project: Workspace) -> None:
    if (reason := ebpf_unusable()) is not None:
        pytest.skip(f"eBPF tracer unusable here: {reason}")
    project.env["ROAR_EBPF_RING_BYTES"] = "4096"
    result = project.roar("run", "--tracer", "ebpf", "python", "-c", FILE_STORM)
    assert "ring buffer was full" in result.stderr and "events were lost" in result.stderr


def test_unusable_ebpf_is_a_one_line_error(project: Workspace, tmp_path: Path) -> None:
    project.env["ROAR_EBPF_OBJECT"] = str(tmp_path / "missing.bpf.o")
    result = project.roar("run", "--tracer", "ebpf", "true", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "ebpf" in result.stderr and "missing.bpf.o" in result.stderr
    status = project.roar("tracer", "status", "--json").json()
    (ebpf_status,) = [b for b in status["backends"] if b["name"] == "ebpf"]
    assert ebpf_status["usable"] is False and "missing.bpf.o" in ebpf_status["reason"]

    # An object the kernel cannot use fails the self-test, with the reason.
    broken = tmp_path / "broken.bpf.o"
    broken.write_bytes(b"not an ELF file")
    project.env["ROAR_EBPF_OBJECT"] = str(broken)
    result = project.roar("run", "--tracer", "ebpf", "true", check=False)
    assert result.returncode != 0 and result.stderr.count("\n") == 1
    assert "self-test failed" in result.stderr and "broken.bpf.o" in result.stderr
