"""``python -m roar.proxy._daemon``: the standalone proxy that ``roar proxy start`` detaches.

It serves until SIGTERM or SIGINT, appends every event to ``.roar/proxy-events.jsonl``, keeps
``.roar/proxy.json`` (pid, port, upstream, session) while it runs, and logs one line per request
to stderr, which ``roar proxy start`` points at ``.roar/proxy.log``. Start-up ends with exactly
one line on stdout, the handshake ``roar proxy start`` waits for::

    READY {"pid": ..., "port": ..., ...}        listening
    ERROR <exit code> <message>                 not started (no credentials, port in use, ...)

Log lines never carry secrets: requests are logged by operation and ``s3://`` URL only, and a
filter masks anything that looks like a signature, credential scope or access key in messages
from libraries (aiohttp's parse errors quote the request line).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import os
import re
import signal
import sys
import tempfile
from pathlib import Path

import anyio
import anyio.to_thread
import msgspec

from roar.core.context import RoarContext
from roar.core.loop import run
from roar.errors import RoarError
from roar.proxy._control import (
    CREDENTIALS_NAME,
    CREDENTIALS_PROFILE,
    EVENTS_NAME,
    STATE_NAME,
    DaemonInfo,
)
from roar.proxy._event import encode_event
from roar.proxy._server import Proxy, new_session_id, serve
from roar.proxy._verify import ClientKey

_SECRETS = [
    (re.compile(r"(?i)(x-amz-(?:signature|credential|security-token)=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"(?i)((?:^|[\s,])(?:signature|credential)=)[^,\s\"']+"), r"\1***"),
    (re.compile(r"(?i)(authorization:?\s*)\S[^\r\n]*"), r"\1***"),
    (re.compile(r"\b(?:AKIA|ASIA|ROAR)[0-9A-Z]{16}\b"), "***"),
]


def redact(text: str) -> str:
    """``text`` with presigned-URL signatures, SigV4 credentials and access key ids masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class _RedactingFormatter(logging.Formatter):
    """One line per record, secrets masked; exceptions as ``Type: message``, no traceback."""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None
        message = super().format(record)
        return redact(message.replace("\n", " | "))

    def formatException(self, ei: object) -> str:
        exc = ei[1] if isinstance(ei, tuple) else None
        return f"{type(exc).__name__}: {exc}" if exc is not None else ""


def _configure_logging(level: str = "warning") -> None:
    """proxy.log: what happened at ``level`` (``logging.level``: debug shows aiohttp's and
    asyncio's own diagnostics too), plus, always, the proxy's one line per request."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.WARNING))
    # The request log is the daemon's access log, not a diagnostic: it is kept at any level.
    logging.getLogger("roar.proxy").setLevel(min(logging.INFO, root.level))


def _handshake(line: str) -> None:
    """Write the one stdout line, then point stdout at the log (the reader goes away)."""
    with contextlib.suppress(OSError):
        os.write(1, (line.replace("\n", " ") + "\n").encode())
    with contextlib.suppress(OSError):
        os.dup2(2, 1)


def _append(path: Path, data: bytes) -> None:
    # One write per batch on an O_APPEND descriptor: lines from concurrent writers never mix.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _write_state(path: Path, info: DaemonInfo) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".proxy.", suffix=".json")
    with os.fdopen(fd, "wb") as handle:
        handle.write(msgspec.json.encode(info))
    os.replace(tmp, path)


def _write_credentials(path: Path, key: ClientKey, url: str) -> None:
    """The daemon's key pair as an AWS shared-credentials file only the owner can read.

    Created 0600 from the start (never readable by others, even for an instant) and swapped in
    whole, so a reader sees the old file or the new one.
    """
    text = (
        f"# roar proxy daemon at {url}: a key pair that works only against this proxy, for S3\n"
        "# clients without AWS credentials of their own (the proxy re-signs with yours).\n"
        f"# Use: AWS_SHARED_CREDENTIALS_FILE={path} AWS_PROFILE={CREDENTIALS_PROFILE}\n"
        f"[{CREDENTIALS_PROFILE}]\n"
        f"aws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret_access_key}\n"
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".proxy-credentials.")  # mode 0600
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _remove_credentials(path: Path, key: ClientKey) -> None:
    # Only our own key: a newer daemon may have written its own since.
    with contextlib.suppress(OSError):
        if key.access_key_id in path.read_text():
            path.unlink()


def _remove_state(path: Path) -> None:
    # Only our own state file: a newer daemon may have replaced it.
    with contextlib.suppress(OSError, msgspec.DecodeError, msgspec.ValidationError):
        if msgspec.json.decode(path.read_bytes(), type=DaemonInfo).pid == os.getpid():
            path.unlink()


async def _write_events(proxy: Proxy, path: Path, lock: anyio.Lock) -> None:
    log = logging.getLogger("roar.proxy")
    async for event in proxy.events():
        data = b"".join(encode_event(e) for e in [event, *proxy.pending()])
        try:
            async with lock:
                await anyio.to_thread.run_sync(_append, path, data)
        except OSError as exc:
            log.error("cannot append events to %s: %s", path, exc.strerror)


async def _stream_into_store(project: Path, interval: float, lock: anyio.Lock) -> None:
    """Every ``interval`` seconds, move the appended events into the store.

    The events file is claimed under the append lock (no batch is half in the old file), and
    each ingest runs shielded: a stop waits for it rather than leaving it half-recorded.
    """
    from roar.recording.proxy_sessions import claim_events, ingest_claims, pending_claims

    log = logging.getLogger("roar.proxy")
    events_path = project / ".roar" / EVENTS_NAME
    while True:
        await anyio.sleep(interval)
        with anyio.CancelScope(shield=True):
            try:
                async with lock:
                    claim_events(project)
                claims = pending_claims(project)
                if not claims:
                    continue
                ctx = RoarContext.load(project)
                summary = await ingest_claims(ctx, claims, final=False)
                if summary.deferred:
                    data = b"".join(encode_event(e) for e in summary.deferred)
                    async with lock:
                        await anyio.to_thread.run_sync(_append, events_path, data)
                log.info(
                    "recorded %d S3 event(s) in the store (%d waiting for their job)",
                    summary.events,
                    len(summary.deferred),
                )
            except (RoarError, OSError) as exc:
                # The claim stays on disk: the next ingest (or 'roar proxy stop') retries it.
                message = exc.message if isinstance(exc, RoarError) else str(exc)
                log.error("events not moved into the store yet: %s", message)


async def _serve(args: argparse.Namespace) -> int:
    roar_dir = Path(args.project) / ".roar"
    state_path = roar_dir / STATE_NAME
    session_id = args.session_id or new_session_id()
    log = logging.getLogger("roar.proxy")
    events_path = roar_dir / EVENTS_NAME
    credentials_path = roar_dir / CREDENTIALS_NAME
    key = ClientKey.generate()
    try:
        async with serve(
            upstream=args.upstream,
            port=args.port,
            region=args.region,
            session_id=session_id,
            client_key=key,
        ) as proxy:
            # Signals are caught from before the handshake: a stop right after READY is clean.
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                info = DaemonInfo(
                    pid=os.getpid(),
                    port=proxy.port,
                    url=proxy.url,
                    upstream=proxy.upstream,
                    region=proxy.region,
                    session_id=session_id,
                    started_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    credentials_file=str(credentials_path),
                )
                _write_credentials(credentials_path, key, proxy.url)
                _write_state(state_path, info)
                log.info("listening on %s, forwarding to %s", proxy.url, proxy.upstream)
                _handshake("READY " + msgspec.json.encode(info).decode())
                append_lock = anyio.Lock()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_write_events, proxy, events_path, append_lock)
                    if args.ingest_interval > 0:
                        tg.start_soon(
                            _stream_into_store,
                            Path(args.project),
                            args.ingest_interval,
                            append_lock,
                        )
                    async for signum in signals:
                        log.info("stopping (%s)", signal.Signals(signum).name)
                        break
                    tg.cancel_scope.cancel()
        # The server has drained its requests; whatever they recorded since is written now.
        tail = b"".join(encode_event(e) for e in proxy.pending())
        if tail:
            _append(events_path, tail)
    except RoarError as exc:
        log.error("%s", exc.message)
        _handshake(f"ERROR {exc.exit_code} {exc.message}")
        return exc.exit_code
    finally:
        _remove_state(state_path)
        _remove_credentials(credentials_path, key)
    log.info("stopped")
    return 0


def _raise_open_files_limit() -> None:
    """Every client connection is a descriptor: allow as many as the hard limit does."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1 << 20), hard))


def main(argv: list[str] | None = None) -> int:
    """Parse the daemon's arguments and serve until told to stop; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m roar.proxy._daemon")
    parser.add_argument("--project", required=True, help="project root (holds .roar/)")
    parser.add_argument("--port", type=int, default=0)  # 0: a free port
    parser.add_argument("--upstream", default=None)
    parser.add_argument("--region", default=None)
    parser.add_argument("--session-id", default=None)
    parser.add_argument("--ingest-interval", type=float, default=10.0)  # 0: only at stop
    parser.add_argument(
        "--log-level", default="warning", choices=("debug", "info", "warning", "error")
    )
    args = parser.parse_args(argv)
    # aiohttp and asyncio would otherwise ignore SIGPIPE only partly; a vanished client must not
    # kill the daemon.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _raise_open_files_limit()
    _configure_logging(args.log_level)
    try:
        return run(_serve(args))
    except Exception as exc:  # the handshake must always come
        message = f"internal error: {type(exc).__name__}: {redact(str(exc))}"
        logging.getLogger("roar.proxy").error("%s", message)
        _handshake(f"ERROR 1 {message}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
