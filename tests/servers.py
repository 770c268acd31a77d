"""Real servers for end-to-end tests, on 127.0.0.1: a server process started and waited for,
and an aiohttp application served from a thread of the test process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(argv: Sequence[str], ready_url: str, timeout: float = 30) -> Iterator[None]:
    """Run ``argv`` until the block ends; enter once ``ready_url`` answers at all."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(ready_url, timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                proc.wait(10)
                raise
            time.sleep(0.1)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in its own process (its objects weigh on neither the test nor roar)."""
    import sys

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with server_process(argv, url + "/moto-api/"):
        yield url


class ThreadedApp:
    """An aiohttp application on 127.0.0.1 (a free port), served by a thread's own event loop.

    ``routes`` adds the handlers: ``lambda app: app.router.add_get("/x", handler)``."""

    def __init__(self, routes: Callable[[Any], None]) -> None:
        from aiohttp import web

        ready = threading.Event()
        self.port = 0

        async def main() -> None:
            app = web.Application()
            routes(app)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            self._stop = asyncio.Event()
            ready.set()
            await self._stop.wait()
            await runner.cleanup()

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(main(),))
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the test server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()


def postgres_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl: Debian keeps them out of PATH, in
    /usr/lib/postgresql/<version>/bin (the newest version wins), else wherever PATH has them."""
    import glob
    import shutil

    def version(bin_dir: str) -> tuple[int, ...]:
        name = Path(bin_dir).parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL on 127.0.0.1 (trust auth, no fsync), its data in a temp dir; yields
    ``postgresql://postgres@127.0.0.1:PORT/postgres``. scripts/test starts the same server itself.

    initdb and postgres refuse to run as root, so as root they run as the ``postgres`` system user
    (the Debian package creates it). A server that does not start raises with its log, and
    nothing is left behind either way."""
    import os
    import pwd
    import shutil
    import tempfile

    binaries = postgres_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (scripts/test installs it)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root, but there is no postgres user to run PostgreSQL as"
            ) from None
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="roar-pg-"))
    data, log = root / "data", root / "log"
    pg_ctl = [*as_user, str(binaries / "pg_ctl"), "-D", str(data)]

    def run(step: str, argv: list[str]) -> None:
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(
                f"could not start PostgreSQL: {step} exited {proc.returncode}\n"
                f"{proc.stderr}{server_log}"
            )

    try:
        if as_user:
            shutil.chown(root, "postgres")
        initdb = [*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "postgres"]
        run("initdb", [*initdb, "--auth=trust", "-E", "UTF8", "--no-sync"])
        port = free_port()
        options = f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c full_page_writes=off"
        run("pg_ctl start", [*pg_ctl, "-l", str(log), "-o", options, "-w", "start"])
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*pg_ctl, "-m", "immediate", "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class RayHead:
    """A head node :func:`ray_head_node` runs: its job server, and after it stopped, what (if
    anything) outlived it."""

    url: str
    leftovers: list[str] = field(default_factory=list)


@contextmanager
def ray_head_node(env: dict[str, str], timeout: float = 60) -> Iterator[RayHead]:
    """A Ray head node on 127.0.0.1 with its job server (``ray start --head --block``, free
    ports, a temp dir of its own).

    Stopped by process id, never with ``ray stop`` (which stops every Ray on the machine):
    ``ray start --block`` runs in a session of its own, which every process of the cluster
    stays in (workers, agents, the dashboard's helpers); it is terminated, then every process
    left in its session, or holding its temp dir's files, is killed until none is left.
    """
    import os
    import shutil
    import signal
    import tempfile

    # Short: Ray's unix sockets live under it (a socket path is at most 107 bytes).
    temp_dir = tempfile.mkdtemp(prefix="rayhead-", dir="/tmp")
    dashboard = free_port()
    ports = {
        "--port": free_port(),
        "--dashboard-port": dashboard,
        "--ray-client-server-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
    }
    argv = [shutil.which("ray", path=env["PATH"]) or "ray", "start", "--head", "--block"]
    argv += ["--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", "--num-cpus=2"]
    argv += ["--include-dashboard=true", f"--temp-dir={temp_dir}", "--disable-usage-stats"]
    argv += [f"{flag}={port}" for flag, port in ports.items()]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    head = RayHead(f"http://127.0.0.1:{dashboard}")

    def members() -> set[int]:
        return _session_members(proc.pid) | set(_processes_mentioning(temp_dir))

    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(head.url + "/api/version", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield head
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        deadline = time.monotonic() + 30
        while (left := members()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        head.leftovers = describe_processes(members())
        time.sleep(0.5)  # a process that was exiting may still create its last file
        shutil.rmtree(temp_dir, ignore_errors=True)


def _session_members(sid: int) -> set[int]:
    """The live processes of session ``sid`` (zombies are dead already: their parent reaps)."""
    import os

    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.add(int(entry))
    return found


def _processes_mentioning(text: str) -> list[int]:
    """Processes whose command line, or a file they hold open, contains ``text`` (Ray renames
    some of its processes, ``ray::DashboardAgent``, but they keep their session's logs open);
    this process excluded."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
            if not cmdline:
                continue  # a zombie: already dead, its parent reaps it
            if text in cmdline or any(
                text in _link(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")
            ):
                found.append(int(entry))
        except OSError:
            continue  # gone meanwhile, or not ours to look into
    return found


def describe_processes(pids: Iterable[int]) -> list[str]:
    """``pid state command line`` of each process (for a failure message)."""
    described = []
    for pid in sorted(pids):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")[:160]
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        described.append(f"{pid} {state} {cmdline}")
    return described


def _link(path: str) -> str:
    import os

    try:
        return os.readlink(path)
    except OSError:
        return ""  # the descriptor closed meanwhile
