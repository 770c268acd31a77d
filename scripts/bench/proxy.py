#!/usr/bin/env python3
"""Benchmark: S3 through the roar proxy vs direct, in the same run, with boto3 at default settings.

The proxy is the real standalone daemon (``roar.proxy._daemon``: uvloop, one log line per request,
events appended to a JSON-lines file), started in its own process. Phases:

  large   1 x PUT and 1 x GET of one object (512 MiB by default), direct then through the proxy,
          best of --rounds. Against ``scripts/bench/proxy_sink.py``: moto holds objects in
          memory and takes large PUTs at ~65 MB/s (1.1 GB RSS for 512 MB), which would hide the
          proxy's cost entirely.
  small   N x 4 KiB PUT then GET (2,000 by default) from 16 threads with their own clients,
          against moto and against the sink (the sink shows the proxy's own per-request cost).

  large   also against moto (--moto-mb, 256 MiB by default): what a real, slower server sees.
  multipart  a checkpoint-sized upload (--multipart-mb, 2048 MiB by default) in 64 MiB parts,
          8 at a time (boto3's TransferConfig), against the sink and against moto.
  memory  --requests (10,000) 4 KiB PUTs through the proxy: its RSS after the first 1,000 and
          after all of them (flat = no growth per request).

Prints MB/s and req/s for each path, the ratios proxy/direct, and the proxy daemon's peak RSS
(VmHWM) over the whole run. Targets: large and multipart >= 0.9x, small >= 0.7x, RSS <= 64 MiB.

    .venv/bin/python scripts/bench/proxy.py [--size-mb 512] [--moto-mb 256] [--multipart-mb 2048]
        [--small 2000] [--threads 16] [--requests 10000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUCKET = "bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _process(argv: list[str], ready: Callable[[subprocess.Popen[bytes]], str]) -> Iterator[Any]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        url = ready(proc)
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready_line(prefix: str) -> Callable[[subprocess.Popen[bytes]], str]:
    def wait(proc: subprocess.Popen[bytes]) -> str:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith(prefix):
            raise SystemExit(f"{proc.args[:3]} did not start: {line!r}")
        return line

    return wait


def _moto(port: int) -> Callable[[subprocess.Popen[bytes]], str]:
    def wait(proc: subprocess.Popen[bytes]) -> str:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/moto-api/", timeout=2):
                    return url
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    return wait


def _daemon_argv(project: Path, upstream: str) -> list[str]:
    boot = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from roar.proxy._daemon import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = [sys.executable, "-c", boot, str(ROOT), "--project", str(project)]
    # Events stay in the file (no store here): the proxy's own cost is what is measured.
    return [*argv, "--port", "0", "--upstream", upstream, "--ingest-interval", "0"]


def _hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _client(endpoint: str, threads: int = 10) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, config=Config(max_pool_connections=max(10, threads))
    )


def _large(endpoints: dict[str, str], path: Path, size: int, rounds: int) -> dict[str, list[float]]:
    """Best PUT and GET MB/s of one ``size``-byte object per endpoint, rounds interleaved.

    Interleaving (direct, proxy, direct, proxy...) keeps a load swing on a shared machine from
    favouring one side.
    """
    clients = {label: _client(url) for label, url in endpoints.items()}
    best: dict[str, list[float]] = {label: [0.0, 0.0] for label in endpoints}
    for _ in range(rounds):
        for label, s3 in clients.items():
            with open(path, "rb") as handle:
                started = time.perf_counter()
                s3.put_object(Bucket=BUCKET, Key=f"large-{label}.bin", Body=handle)
                put = size / (time.perf_counter() - started) / 1e6
            started = time.perf_counter()
            body = s3.get_object(Bucket=BUCKET, Key=f"large-{label}.bin")["Body"]
            got = 0
            while chunk := body.read(1 << 20):
                got += len(chunk)
            get = size / (time.perf_counter() - started) / 1e6
            assert got == size, (got, size)
            best[label] = [max(best[label][0], put), max(best[label][1], get)]
    for s3 in clients.values():
        s3.close()
    return best


def _multipart(endpoints: dict[str, str], path: Path, size: int, rounds: int) -> dict[str, float]:
    """Best MB/s of a ``size``-byte upload in 64 MiB parts, 8 concurrent, per endpoint."""
    from boto3.s3.transfer import TransferConfig

    part = 64 << 20
    config = TransferConfig(
        multipart_threshold=part, multipart_chunksize=part, max_concurrency=8, use_threads=True
    )
    clients = {label: _client(url, threads=8) for label, url in endpoints.items()}
    best = dict.fromkeys(endpoints, 0.0)
    for round_ in range(rounds):
        for label, s3 in clients.items():
            started = time.perf_counter()
            s3.upload_file(str(path), BUCKET, f"ckpt-{label}-{round_}.bin", Config=config)
            best[label] = max(best[label], size / (time.perf_counter() - started) / 1e6)
            if "moto" in label:
                # moto keeps every object in memory: drop it before the next round.
                s3.delete_object(Bucket=BUCKET, Key=f"ckpt-{label}-{round_}.bin")
    for s3 in clients.values():
        s3.close()
    return best


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _memory(url: str, pid: int, requests: int, threads: int) -> tuple[float, float]:
    """The proxy's RSS after the first 1,000 requests and after ``requests`` of them."""
    payload = os.urandom(4096)
    clients = [_client(url) for _ in range(threads)]

    def put(i: int) -> None:
        clients[i % threads].put_object(Bucket=BUCKET, Key=f"mem/{i % 500}", Body=payload)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(1000)))
        early = _rss_mib(pid)
        list(pool.map(put, range(1000, requests)))
        late = _rss_mib(pid)
    for made in clients:
        made.close()
    return early, late


def _small(
    endpoints: dict[str, str], count: int, threads: int, rounds: int
) -> dict[str, list[float]]:
    """Best req/s of ``count`` 4 KiB PUTs, then GETs, from ``threads`` threads, interleaved."""
    payload = os.urandom(4096)
    best: dict[str, list[float]] = {label: [0.0, 0.0] for label in endpoints}
    with ThreadPoolExecutor(threads) as pool:
        for round_ in range(rounds):
            for label, url in endpoints.items():
                clients = [_client(url) for _ in range(threads)]
                keys = [f"small/{label}/{round_}/{i:05d}" for i in range(count)]

                def put(i: int, clients: list[Any] = clients, keys: list[str] = keys) -> None:
                    clients[i % threads].put_object(Bucket=BUCKET, Key=keys[i], Body=payload)

                def get(i: int, clients: list[Any] = clients, keys: list[str] = keys) -> None:
                    body = clients[i % threads].get_object(Bucket=BUCKET, Key=keys[i])["Body"]
                    assert len(body.read()) == 4096

                list(pool.map(put, range(min(threads * 4, count))))  # warm connections
                for index, work in enumerate((put, get)):
                    started = time.perf_counter()
                    list(pool.map(work, range(count)))
                    rate = count / (time.perf_counter() - started)
                    best[label][index] = max(best[label][index], rate)
                for made in clients:
                    made.close()
    return best


def _ratio(proxy: float, direct: float, target: float) -> str:
    ratio = proxy / direct
    return f"{ratio:5.2f}x  (target >= {target}x: {'ok' if ratio >= target else 'MISSED'})"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--moto-mb", type=int, default=256, help="0 skips the phase")
    parser.add_argument("--multipart-mb", type=int, default=2048, help="0 skips the phase")
    parser.add_argument("--requests", type=int, default=10_000, help="0 skips the phase")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        os.environ.pop(name, None)
    size = args.size_mb << 20
    moto_port = _free_port()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roar-bench-")))
        for name in ("sink", "moto"):
            (scratch / name / ".roar").mkdir(parents=True)
        source = scratch / "large.bin"
        with open(source, "wb") as handle:
            block = os.urandom(1 << 20)
            for _ in range(args.size_mb):
                handle.write(block)
        _, sink_line = stack.enter_context(
            _process([sys.executable, str(HERE / "proxy_sink.py"), "0"], _ready_line("READY"))
        )
        sink = f"http://127.0.0.1:{sink_line.split()[1]}"
        _, moto = stack.enter_context(
            _process(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                _moto(moto_port),
            )
        )
        sink_proxy, sink_ready = stack.enter_context(
            _process(_daemon_argv(scratch / "sink", sink), _ready_line("READY"))
        )
        moto_proxy, moto_ready = stack.enter_context(
            _process(_daemon_argv(scratch / "moto", moto), _ready_line("READY"))
        )
        via_sink = sink_ready.split('"url":"')[1].split('"')[0]
        via_moto = moto_ready.split('"url":"')[1].split('"')[0]
        for endpoint in (sink, moto):
            _client(endpoint).create_bucket(Bucket=BUCKET)

        print(f"large object: {args.size_mb} MiB, best of {args.rounds}, upstream = sink")
        large = _large({"direct": sink, "proxy": via_sink}, source, size, args.rounds)
        for index, phase in enumerate(("PUT", "GET")):
            direct, proxied = large["direct"][index], large["proxy"][index]
            print(f"  {phase}  direct {direct:7.0f} MB/s  proxy {proxied:7.0f} MB/s  ", end="")
            print(_ratio(proxied, direct, 0.9))
        if args.moto_mb:
            moto_source = scratch / "moto.bin"
            with open(source, "rb") as src, open(moto_source, "wb") as dst:
                dst.write(src.read(args.moto_mb << 20))
            print(f"large object: {args.moto_mb} MiB, best of {args.rounds}, upstream = moto")
            large = _large(
                {"direct": moto, "proxy": via_moto}, moto_source, args.moto_mb << 20, args.rounds
            )
            for index, phase in enumerate(("PUT", "GET")):
                direct, proxied = large["direct"][index], large["proxy"][index]
                print(f"  {phase}  direct {direct:7.0f} MB/s  proxy {proxied:7.0f} MB/s  ", end="")
                print(_ratio(proxied, direct, 0.9))
        if args.multipart_mb:
            checkpoint = scratch / "checkpoint.bin"
            with open(checkpoint, "wb") as handle:
                block = os.urandom(1 << 20)
                for _ in range(args.multipart_mb):
                    handle.write(block)
            for label, upstream, via in (("sink", sink, via_sink), ("moto", moto, via_moto)):
                print(
                    f"multipart: {args.multipart_mb} MiB in 64 MiB parts, 8 concurrent, best of "
                    f"{args.rounds}, upstream = {label}"
                )
                rates = _multipart(
                    {f"direct-{label}": upstream, f"proxy-{label}": via},
                    checkpoint,
                    args.multipart_mb << 20,
                    args.rounds,
                )
                direct, proxied = rates[f"direct-{label}"], rates[f"proxy-{label}"]
                print(f"  PUT  direct {direct:7.0f} MB/s  proxy {proxied:7.0f} MB/s  ", end="")
                print(_ratio(proxied, direct, 0.9))
            checkpoint.unlink()

        small_phases = (("moto", moto, via_moto), ("sink", sink, via_sink)) if args.small else ()
        for label, upstream, via in small_phases:
            print(
                f"small objects: {args.small} x 4 KiB, {args.threads} threads, best of "
                f"{args.rounds}, upstream = {label}"
            )
            small = _small(
                {"direct": upstream, "proxy": via}, args.small, args.threads, args.rounds
            )
            for index, phase in enumerate(("PUT", "GET")):
                direct, proxied = small["direct"][index], small["proxy"][index]
                print(
                    f"  {phase}  direct {direct:7.0f} req/s  proxy {proxied:7.0f} req/s  ", end=""
                )
                print(_ratio(proxied, direct, 0.7))
        if args.requests:
            early, late = _memory(via_sink, sink_proxy.pid, args.requests, args.threads)
            print(
                f"memory: proxy RSS {early:.1f} MiB after 1,000 requests, {late:.1f} MiB after "
                f"{args.requests:,} ({late - early:+.1f} MiB)"
            )
        for label, proc in (("sink", sink_proxy), ("moto", moto_proxy)):
            peak = _hwm_mib(proc.pid)
            verdict = "ok" if peak <= 64 else "MISSED"
            print(
                f"proxy daemon ({label} upstream) peak RSS: {peak:.1f} MiB "
                f"(target <= 64: {verdict})"
            )
        events = sum(
            len((scratch / name / ".roar" / "proxy-events.jsonl").read_bytes().splitlines())
            for name in ("sink", "moto")
        )
        print(f"events recorded by the proxies: {events}")
    print(f"machine: {os.cpu_count()} CPUs; client, proxy and server share them", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
