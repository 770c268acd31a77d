"""Starting, finding and stopping the standalone proxy daemon (what ``roar proxy`` drives).

Light on purpose: stdlib and msgspec only, so ``roar proxy stop`` and the status view never import
aiohttp or botocore. The daemon itself lives in :mod:`roar.proxy._daemon`.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import msgspec

from roar.core.config import Config
from roar.core.project import Project
from roar.proxy._errors import ProxyError
from roar.s3.urls import AWS_UPSTREAM

STATE_NAME = "proxy.json"
LOG_NAME = "proxy.log"
EVENTS_NAME = "proxy-events.jsonl"
CREDENTIALS_NAME = "proxy-credentials"
# The profile the daemon's key pair is filed under in its credentials file.
CREDENTIALS_PROFILE = "roar-proxy"


class DaemonInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What ``.roar/proxy.json`` says about the running daemon."""

    pid: int
    port: int
    url: str
    upstream: str
    region: str
    session_id: str
    started_at: str
    # An AWS shared-credentials file (owner-only, profile "roar-proxy") holding the key pair
    # clients without AWS credentials of their own may sign with; empty from older daemons.
    credentials_file: str = ""


def read_client_key(info: DaemonInfo) -> tuple[str, str] | None:
    """The daemon's (access key id, secret) from its credentials file, or None."""
    import configparser

    if not info.credentials_file:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(Path(info.credentials_file).read_text())
        section = parser[CREDENTIALS_PROFILE]
        return section["aws_access_key_id"], section["aws_secret_access_key"]
    except (OSError, KeyError, configparser.Error):
        return None


def daemon_upstream(
    config: Config, env: Mapping[str, str], override: str | None = None
) -> tuple[str | None, str]:
    """The upstream for a daemon and where that choice came from (None means AWS).

    ``--upstream`` first, then ``ROAR_UPSTREAM_S3_ENDPOINT``, then ``proxy.upstream_endpoint``.
    """
    if override:
        return override, "--upstream"
    if env.get("ROAR_UPSTREAM_S3_ENDPOINT", "").strip():
        return env["ROAR_UPSTREAM_S3_ENDPOINT"].strip(), "ROAR_UPSTREAM_S3_ENDPOINT"
    configured = config.get_str("proxy.upstream_endpoint")
    if configured:
        return configured, "proxy.upstream_endpoint"
    return None, f"default: AWS S3, {AWS_UPSTREAM}"


# The daemon imports the very roar this process runs, however it was installed (a wheel, an
# editable install, or a source tree on sys.path); the module name stays in its command line,
# which is how `roar proxy stop` recognises it.
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from roar.proxy._daemon import main; sys.exit(main(sys.argv[1:]))"
)


def _import_root() -> str:
    import roar

    return str(Path(roar.__file__).resolve().parent.parent)


def _is_daemon(pid: int) -> bool:
    """True if ``pid`` is a live (not zombie) roar proxy daemon."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rpartition(")")[2].split()[0] == "Z":
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the pid file
    return b"roar.proxy._daemon" in cmdline


def read_daemon(project: Project) -> DaemonInfo | None:
    """The running daemon of ``project``, or None (a stale ``proxy.json`` is removed)."""
    path = project.roar_dir / STATE_NAME
    try:
        info = msgspec.json.decode(path.read_bytes(), type=DaemonInfo)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        info = None
    if info is not None and _is_daemon(info.pid):
        return info
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def _read_line(stream: object, deadline: float) -> bytes:
    fd = stream.fileno()  # type: ignore[attr-defined]
    data = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return bytes(data).partition(b"\n")[0]


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def start_daemon(
    project: Project,
    *,
    port: int,
    upstream: str | None,
    region: str | None = None,
    ingest_interval: int = 10,
    timeout: float = 60.0,
    log_level: str = "warning",
) -> DaemonInfo:
    """Start a detached daemon for ``project`` and wait until it listens (or says why not).

    Raises :class:`ProxyError`: exit 2 when a daemon already runs, the port is in use or there
    are no credentials; exit 1 when it dies or does not answer within ``timeout`` seconds.
    """
    running = read_daemon(project)
    if running is not None:
        raise ProxyError(
            f"a proxy daemon is already running (pid={running.pid}, port={running.port}); "
            "stop it first with 'roar proxy stop'",
            exit_code=2,
        )
    argv = [sys.executable, "-c", _BOOT, _import_root(), "--project", str(project.root)]
    argv += ["--port", str(port), "--ingest-interval", str(ingest_interval)]
    argv += ["--log-level", log_level]
    if upstream:
        argv += ["--upstream", upstream]
    if region:
        argv += ["--region", region]
    env = dict(os.environ)
    # Never stall on the EC2 metadata endpoint while looking for credentials (opt back in with
    # AWS_EC2_METADATA_DISABLED=false on an instance with a role).
    env.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    log_path = project.roar_dir / LOG_NAME
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=project.root,
            env=env,
            start_new_session=True,
        )
    assert proc.stdout is not None
    try:
        line = _read_line(proc.stdout, time.monotonic() + timeout).decode(errors="replace")
    except TimeoutError:
        proc.kill()
        proc.wait()
        raise ProxyError(
            f"the proxy daemon did not start within {timeout:.0f} s (see {log_path})"
        ) from None
    finally:
        proc.stdout.close()
    if line.startswith("READY "):
        return msgspec.json.decode(line[6:], type=DaemonInfo)
    if line.startswith("ERROR "):
        code, _, message = line[6:].partition(" ")
        proc.wait()
        raise ProxyError(message, exit_code=int(code) if code.isdigit() else 1)
    status = proc.wait()
    reason = _log_tail(log_path) or f"exit status {status}"
    raise ProxyError(f"the proxy daemon exited at start: {reason} (see {log_path})")


def stop_daemon(project: Project, *, timeout: float = 10.0) -> DaemonInfo | None:
    """SIGTERM the daemon and wait for it (SIGKILL after ``timeout``); None if none ran."""
    info = read_daemon(project)
    if info is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_daemon(info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _is_daemon(info.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
        while _is_daemon(info.pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)
    with contextlib.suppress(OSError):
        (project.roar_dir / STATE_NAME).unlink()
    if info.credentials_file and not _is_daemon(info.pid):
        # A killed daemon could not remove its key pair; it is worthless now, but not left.
        with contextlib.suppress(OSError):
            Path(info.credentials_file).unlink()
    return info
