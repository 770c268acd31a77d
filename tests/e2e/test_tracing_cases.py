"""Every hard case of the tracing issue, end to end through `roar run --tracer X`, on every
backend. Each case states what a person reading the program would list as its inputs and
outputs; the recorded job must say exactly that."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from tests.conftest import TRACERS, Workspace, ebpf_unusable, gen, tracer_param

pytestmark = pytest.mark.e2e
PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
BACKENDS = [tracer_param(name) for name in TRACERS]


@pytest.fixture(scope="session")
def cbin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C fixture programs of tests/programs, compiled once."""
    out = tmp_path_factory.mktemp("cbin")
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed"
    for source in PROGRAMS.glob("*.c"):
        subprocess.run(
            [cc, "-O1", "-pthread", "-o", str(out / source.stem), str(source)], check=True
        )
    return out


def io(project: Workspace, backend: str, *argv: str) -> tuple[set[str], set[str]]:
    """Run ``argv`` traced; the inputs and outputs of that job (the newest: a re-run of the same
    command may be the same step)."""
    project.roar("run", "--tracer", backend, *argv)
    newest = project.roar("log", "--json").json()[-1]
    job = project.roar("show", newest["job_uid"], "--json").json()
    assert job["tracer"] == backend
    return {f["path"] for f in job["inputs"]}, {f["path"] for f in job["outputs"]}


def py(project: Workspace, name: str, code: str) -> str:
    project.gen({name: textwrap.dedent(code)})
    return name


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def data(project: Workspace) -> Workspace:
    project.gen({"a.txt": "b\na\nc\n", "b.txt": "bee\n", "sub": {"in.txt": "inside\n"}})
    project.commit_all("data")
    return project


def test_open_flags(data: Workspace, backend: str) -> None:
    script = py(
        data,
        "flags.py",
        """
        import os
        open('a.txt').read()                                   # read
        open('trunc.txt', 'w').write('x')                      # O_WRONLY|O_TRUNC: write only
        fd = os.open('b.txt', os.O_RDWR); os.write(fd, b'B'); os.close(fd)   # read + write
        open('log.txt', 'a').write('line\\n')                  # O_APPEND
        import ctypes; ctypes.CDLL(None).creat(b'created.txt', 0o644)  # creat(2) itself
        os.chdir('sub'); open('in.txt').read()                 # relative path after chdir
        dfd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
        fd = os.open('made.txt', os.O_WRONLY | os.O_CREAT, dir_fd=dfd); os.close(fd)  # openat
        os.chdir('/'); os.fchdir(dfd); open('after_fchdir.txt', 'w').write('x')    # fchdir
        """,
    )
    ins, outs = io(data, backend, "python", script)
    assert ins == {"flags.py", "a.txt", "b.txt", "sub/in.txt"}
    assert outs == {
        "trunc.txt", "b.txt", "log.txt", "created.txt", "sub/made.txt", "sub/after_fchdir.txt",
    }  # fmt: skip


def test_fopen_modes_in_c(data: Workspace, backend: str, cbin: Path) -> None:
    program = str(cbin / "preload_fopen")
    ins, outs = io(data, backend, program, "a.txt", "upper.txt", "fopen.log")
    assert ins == {program, "a.txt"}  # the program itself is an input too
    assert outs == {"upper.txt", "fopen.log"}
    assert (data.root / "upper.txt").read_text() == "B\nA\nC\n"


def test_rename_link_unlink_truncate(data: Workspace, backend: str) -> None:
    script = py(
        data,
        "moves.py",
        """
        import os
        with open('out.tmp', 'w') as f: f.write('final')
        os.replace('out.tmp', 'out.txt')                 # temp renamed over the target
        open('scratch.txt', 'w').write('gone soon'); os.unlink('scratch.txt')
        os.link('out.txt', 'hard.txt')
        open('trim.txt', 'w').write('0123456789'); os.truncate('trim.txt', 3)
        os.symlink('a.txt', 'alias.txt'); open('alias.txt').read()   # symlink resolved
        os.rename('b.txt', 'b_moved.txt')                # pre-existing file moved: consumed
        import ctypes
        open('swap.tmp', 'w').write('v2')
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.renameat2(-100, b'swap.tmp', -100, b'swapped.txt', 0) == 0  # renameat2
        fd = os.open('ftrunc.txt', os.O_WRONLY | os.O_CREAT); os.ftruncate(fd, 5); os.close(fd)
        """,
    )
    ins, outs = io(data, backend, "python", script)
    assert ins == {"moves.py", "a.txt", "b.txt"}
    assert outs == {"out.txt", "hard.txt", "trim.txt", "b_moved.txt", "swapped.txt", "ftrunc.txt"}
    job = data.roar("show", "@1", "--json").json()
    b_in = next(f for f in job["inputs"] if f["path"] == "b.txt")
    assert b_in["hash"] == blake3.blake3(b"bee\n").hexdigest()


def test_script_and_program_are_inputs(data: Workspace, backend: str) -> None:
    data.gen({"tool.sh": "#!/bin/sh\ncat a.txt > tool_out.txt\n"})
    (data.root / "tool.sh").chmod(0o755)
    data.commit_all("tool")
    ins, outs = io(data, backend, "./tool.sh")
    assert ins == {"tool.sh", "a.txt"} and outs == {"tool_out.txt"}


def test_shell_redirections_and_pipelines(data: Workspace, backend: str) -> None:
    ins, outs = io(data, backend, "sh", "-c", "cat a.txt > r.txt; sort a.txt | uniq > c.txt")
    assert ins == {"a.txt"} and outs == {"r.txt", "c.txt"}


def test_process_trees_threads_and_multiprocessing(data: Workspace, backend: str) -> None:
    script = py(
        data,
        "tree.py",
        """
        import multiprocessing as mp, os, subprocess, sys, threading

        def work(name):
            open(name, 'w').write(name)

        if __name__ == '__main__':
            code = "open('sub_out.txt', 'w').write(open('a.txt').read())"
            subprocess.run([sys.executable, '-c', code], check=True)
            subprocess.run(['sh', '-c', 'cat b.txt > sh_out.txt'], check=True, close_fds=True)
            t = threading.Thread(target=work, args=('thread_out.txt',)); t.start(); t.join()
            pid = os.fork()
            if pid == 0:
                work('fork_out.txt'); os._exit(0)
            os.waitpid(pid, 0)
            pid = os.posix_spawnp('sh', ['sh', '-c', 'cat a.txt > spawned.txt'], dict(os.environ))
            os.waitpid(pid, 0)
            for method in ('fork', 'spawn'):
                p = mp.get_context(method).Process(target=work, args=(f'mp_{method}.txt',))
                p.start(); p.join()
        """,
    )
    ins, outs = io(data, backend, "python", script)
    assert ins == {"tree.py", "a.txt", "b.txt"}
    assert outs == {
        "sub_out.txt", "sh_out.txt", "thread_out.txt", "fork_out.txt", "mp_fork.txt",
        "mp_spawn.txt", "spawned.txt",
    }  # fmt: skip


def test_c_threads_vfork_and_copies(data: Workspace, backend: str, cbin: Path) -> None:
    (data.root / "src.txt").write_text("source\n")
    data.commit_all("src")
    copy_calls, threads = str(cbin / "copy_calls"), str(cbin / "threads")
    ins, outs = io(data, backend, copy_calls, str(data.root))
    assert ins == {copy_calls, "src.txt"} and outs == {"dst1.txt", "dst2.txt", "dst3.txt"}
    ins, outs = io(data, backend, threads, str(data.root))
    assert ins == {threads} and outs == {"t0.txt", "t1.txt"}
    vfork = str(cbin / "vfork_exec")
    result = data.roar("run", "--tracer", backend, vfork, check=False)
    assert result.returncode == 3  # the exec'd child's status came back through vfork


def test_cp_uses_copy_file_range(data: Workspace, backend: str) -> None:
    ins, outs = io(data, backend, "cp", "a.txt", "copy.txt")
    assert ins == {"a.txt"} and outs == {"copy.txt"}


def test_mmap_read(data: Workspace, backend: str) -> None:
    script = py(
        data,
        "mm.py",
        """
        import mmap
        with open('a.txt', 'rb') as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            open('mm_out.txt', 'wb').write(m[:])
        """,
    )
    ins, outs = io(data, backend, "python", script)
    assert ins == {"mm.py", "a.txt"} and outs == {"mm_out.txt"}


def test_read_then_rewritten_keeps_its_original_digest(data: Workspace, backend: str) -> None:
    script = py(
        data,
        "bump.py",
        "n = open('a.txt').read(); open('a.txt', 'w').write(n.upper())\n",
    )
    ins, outs = io(data, backend, "python", script)
    assert ins == {"bump.py", "a.txt"} and outs == {"a.txt"}
    job = data.roar("show", "@1", "--json").json()
    a_in = next(f for f in job["inputs"] if f["path"] == "a.txt")
    a_out = next(f for f in job["outputs"] if f["path"] == "a.txt")
    assert a_in["hash"] == blake3.blake3(b"b\na\nc\n").hexdigest()
    assert a_out["hash"] == blake3.blake3(b"B\nA\nC\n").hexdigest()


def _pattern(mib: int) -> bytes:
    """What tests/programs/rdwr_create.c writes."""
    return b"0123456789abcdef" * (mib << 16)


def test_read_write_create_of_a_new_file_is_an_output_only(
    data: Workspace, backend: str, cbin: Path
) -> None:
    """O_RDWR|O_CREAT of a file that did not exist, written at once and held open: roar cannot
    hash it before the job fills it, so only the tracer's OPEN_CREATED keeps it from being
    recorded as an input of whatever the job had written by then."""
    program = str(cbin / "rdwr_create")
    ins, outs = io(data, backend, program, "new.bin", "16", "300")
    assert ins == {program}
    assert outs == {"new.bin"}
    job = data.roar("show", "@1", "--json").json()
    (out,) = job["outputs"]
    assert out["hash"] == blake3.blake3(_pattern(16)).hexdigest()


def test_read_write_create_of_an_existing_file_is_an_input_too(
    data: Workspace, backend: str, cbin: Path
) -> None:
    (data.root / "old.bin").write_bytes(b"original content\n")
    data.commit_all("old.bin")
    program = str(cbin / "rdwr_create")
    ins, outs = io(data, backend, program, "old.bin", "1", "0")
    assert ins == {program, "old.bin"} and outs == {"old.bin"}
    job = data.roar("show", "@1", "--json").json()
    (old_in,) = [f for f in job["inputs"] if f["path"] == "old.bin"]
    (old_out,) = job["outputs"]
    assert old_in["hash"] == blake3.blake3(b"original content\n").hexdigest()  # the snapshot
    assert old_out["hash"] == blake3.blake3(_pattern(1)).hexdigest()


def test_sqlite_database(data: Workspace, backend: str) -> None:
    """SQLite opens a database O_RDWR|O_CREAT: new, it is an output only; the next job that
    adds to it reads it (as the first job left it) and writes it."""
    code = (
        "import sqlite3, sys; db = sqlite3.connect('new.db'); "
        "db.execute('create table if not exists t (x)'); "
        "db.executemany('insert into t values (?)', [(str(i) * 50,) for i in range(5000)]); "
        "db.commit(); db.close()"
    )
    ins, outs = io(data, backend, "python", "-c", code)
    assert ins == set() and outs == {"new.db"}  # the journal came and went: neither
    first = blake3.blake3((data.root / "new.db").read_bytes()).hexdigest()
    ins, outs = io(data, backend, "python", "-c", code)
    assert "new.db" in ins and outs == {"new.db"}
    job = data.roar("show", "@2", "--json").json()
    (db_in,) = [f for f in job["inputs"] if f["path"] == "new.db"]
    assert db_in["hash"] == first


def test_grandchild_that_outlives_its_parent(data: Workspace, backend: str, cbin: Path) -> None:
    program = str(cbin / "daemonize")
    ins, outs = io(data, backend, program, str(data.root / "late.txt"))
    assert ins == {program} and outs == {"late.txt"}
    assert (data.root / "late.txt").exists()


def _static_copy(tmp_path: Path) -> Path:
    """A statically linked copy program (skips the test where no static libc is installed)."""
    cc = shutil.which("cc") or "cc"
    source = tmp_path / "static_copy.c"
    source.write_text(
        '#include <stdio.h>\nint main(int c, char **v){FILE *i=fopen(v[1],"r"),*o=fopen(v[2],"w");'
        "int ch; while((ch=fgetc(i))!=EOF) fputc(ch,o); fclose(o); return 0;}\n"
    )
    binary = tmp_path / "static_copy"
    built = subprocess.run(
        [cc, "-static", "-O1", "-o", str(binary), str(source)], capture_output=True
    )
    if built.returncode != 0:
        pytest.skip(f"no static libc to link against here: {built.stderr.decode()[-200:]}")
    return binary


@pytest.mark.parametrize("backend", [tracer_param("ptrace"), tracer_param("ebpf")])
def test_static_binary(data: Workspace, backend: str, tmp_path: Path) -> None:
    """The tracers that see syscalls rather than library calls see inside a static program."""
    binary = str(_static_copy(tmp_path))
    ins, outs = io(data, backend, binary, "a.txt", "static_out.txt")
    assert ins == {binary, "a.txt"} and outs == {"static_out.txt"}


def test_auto_never_traces_a_static_binary_with_preload(data: Workspace, tmp_path: Path) -> None:
    binary = _static_copy(tmp_path)
    result = data.roar("run", str(binary), "a.txt", "static_out.txt")
    job = data.roar("show", "@1", "--json").json()
    if ebpf_unusable() is None:
        assert job["tracer"] == "ebpf"  # auto's first choice sees static programs anyway
    else:
        assert "statically linked" in result.stderr  # auto said it switched to ptrace
        assert job["tracer"] == "ptrace"
    assert {f["path"] for f in job["outputs"]} == {"static_out.txt"}
    assert "a.txt" in {f["path"] for f in job["inputs"]}


def env_vars(project: Workspace, step: int) -> dict[str, str | None]:
    job = project.roar("show", f"@{step}", "--json").json()
    found: dict[str, str | None] = job["metadata"]["runtime"]["env_vars"]
    return found


def test_environment_variables_a_c_program_reads(data: Workspace, cbin: Path) -> None:
    program = str(cbin / "getenv_reads")
    data.env.update(MY_SETTING="fast", MY_API_TOKEN="tok-not-for-the-store", GETENV_VFORK="v")
    data.env.pop("GETENV_UNSET_VAR", None)
    names = ["MY_SETTING", "MY_API_TOKEN", "GETENV_UNSET_VAR", "ROAR_JOB_ID", "LD_PRELOAD"]
    data.roar("run", "--tracer", "preload", program, "out.txt", *names)
    assert "ROAR_JOB_ID=" in (data.root / "out.txt").read_text()  # the program did read it
    seen = env_vars(data, 1)
    assert seen["MY_SETTING"] == "fast"
    assert seen["MY_API_TOKEN"] == "[REDACTED]"
    assert "GETENV_UNSET_VAR" not in seen  # an unset variable looked up with getenv is noise
    assert not [n for n in seen if n.startswith("ROAR_") or n in ("LD_PRELOAD", "PYTHONPATH")]
    stored = b"".join(p.read_bytes() for p in (data.root / ".roar").rglob("*") if p.is_file())
    assert b"tok-not-for-the-store" not in stored

    # A script that exports a variable: the value recorded is the one the program saw.
    command = f'MY_SETTING=exported; export MY_SETTING; "{program}" out2.txt MY_SETTING'
    data.roar("run", "--tracer", "preload", "sh", "-c", command)
    assert env_vars(data, 2)["MY_SETTING"] == "exported"


def test_ptrace_records_no_getenv_lookups(data: Workspace, cbin: Path) -> None:
    program = str(cbin / "getenv_reads")
    data.env.update(MY_SETTING="fast", GETENV_VFORK="v")
    ins, outs = io(data, "ptrace", program, "out.txt", "MY_SETTING")
    assert ins == {program} and outs == {"out.txt"}
    assert "MY_SETTING" not in env_vars(data, 1)  # lookups are not syscalls


@pytest.fixture
def system_site_packages() -> Iterator[Path]:
    """A site-packages directory under a system prefix (/dev/shm is under /dev/) holding one
    distribution, fakedist_pkg 1.2: its reads are dropped as system reads, but roar still needs
    them to know the job imported it."""
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("/dev/shm is not writable here")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="roar-test-") as top:
        site = Path(top).resolve() / "lib" / "site-packages"
        gen(site, {
            "fakedist_pkg": {"__init__.py": "VALUE = 1\n"},
            "fakedist_pkg-1.2.dist-info": {"METADATA": "Name: fakedist_pkg\nVersion: 1.2\n"},
        })  # fmt: skip
        yield site


def test_system_reads_are_left_out_but_what_roar_derives_from_them_stays(
    data: Workspace, backend: str, system_site_packages: Path
) -> None:
    """The tracers do not report reads roar drops as "system" reads (ext/skip_reads.h): the
    job's inputs are what they were, and an import from a site-packages under a system prefix
    still names its distribution.  With filters.ignore_system_reads off, such reads are inputs."""
    data.env["PYTHONPATH"] = str(system_site_packages)
    script = py(
        data,
        "job.py",
        """
        import fakedist_pkg
        open('/etc/hostname').read()
        open('out.txt', 'w').write(open('a.txt').read())
        """,
    )
    ins, outs = io(data, backend, "python", script)
    assert ins == {"job.py", "a.txt"} and outs == {"out.txt"}
    job = data.roar("show", "@1", "--json").json()
    assert job["metadata"]["packages"]["pip"]["fakedist_pkg"] == "1.2"

    data.roar("config", "set", "filters.ignore_system_reads", "false")
    ins, outs = io(data, backend, "python", script)
    assert {"job.py", "a.txt", "/etc/hostname"} <= ins and outs == {"out.txt"}
