#!/usr/bin/env python3
"""Benchmark: checkpoint writes through roar's embedded proxy vs straight to S3, in one run.

What examples/checkpoint/train.py does, timed: ``--count`` checkpoints of ``--size-mb`` MiB,
each a multipart upload in ``--part-mb`` MiB parts, ``--concurrency`` at a time (boto3's
TransferConfig), written by a client in the same process as the proxy (``project.proxy()``,
recording into a throwaway project) and, alternately, straight to the server. Servers:
``scripts/bench/proxy_sink.py`` (discards bytes at socket speed: the proxy's own cost) and
moto (a real S3 implementation, slow and in memory). Prints MB/s and the ratio proxied/direct
per server, best of --rounds, rounds interleaved.

    .venv/bin/python scripts/bench/checkpoint.py [--size-mb 512] [--count 2] [--part-mb 64]
        [--concurrency 8] [--rounds 3] [--servers sink,moto]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

from proxy import _free_port, _moto, _process, _ready_line  # noqa: E402

import roar  # noqa: E402

BUCKET = "checkpoints"


def _write_checkpoints(
    url: str, blob: bytes, count: int, config: TransferConfig, tag: str
) -> float:
    """MB/s of ``count`` uploads of ``blob`` to ``url`` (one client, as a training job has)."""
    s3 = boto3.client("s3", endpoint_url=url)
    started = time.perf_counter()
    for index in range(count):
        s3.upload_fileobj(io.BytesIO(blob), BUCKET, f"{tag}/ckpt-{index}.bin", Config=config)
    elapsed = time.perf_counter() - started
    for index in range(count):
        # moto keeps every byte in memory; the sink keeps nothing (and answers 404).
        with contextlib.suppress(ClientError):
            s3.delete_object(Bucket=BUCKET, Key=f"{tag}/ckpt-{index}.bin")
    s3.close()
    return len(blob) * count / elapsed / 1e6


async def _proxied(
    project: roar.Project, upstream: str, blob: bytes, count: int, config: TransferConfig, tag: str
) -> float:
    async with project.proxy(upstream=upstream) as proxy:
        rate = await asyncio.to_thread(_write_checkpoints, proxy.url, blob, count, config, tag)
    return rate


async def _bench(args: argparse.Namespace, servers: dict[str, str], scratch: Path) -> None:
    blob = os.urandom(args.size_mb << 20)
    part = args.part_mb << 20
    config = TransferConfig(
        multipart_threshold=part, multipart_chunksize=part, max_concurrency=args.concurrency
    )
    async with roar.open_project(scratch / "project", create=True) as project:
        for label, url in servers.items():
            boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
            best = {"direct": 0.0, "proxy": 0.0}
            for round_ in range(args.rounds):
                tag = f"{label}-{round_}"
                direct = await asyncio.to_thread(
                    _write_checkpoints, url, blob, args.count, config, f"direct-{tag}"
                )
                proxied = await _proxied(project, url, blob, args.count, config, f"proxy-{tag}")
                best = {"direct": max(best["direct"], direct), "proxy": max(best["proxy"], proxied)}
            ratio = best["proxy"] / best["direct"]
            verdict = "ok" if ratio >= 0.9 else "MISSED"
            print(
                f"{label}: {args.count} x {args.size_mb} MiB checkpoints, {args.part_mb} MiB "
                f"parts x {args.concurrency}: direct {best['direct']:.0f} MB/s, through the "
                f"embedded proxy {best['proxy']:.0f} MB/s: {ratio:.2f}x "
                f"(target >= 0.9x: {verdict})"
            )
        jobs = await project.jobs()
        recorded = sum(len(j.outputs) for j in jobs)
        print(f"checkpoints recorded in the project: {recorded} (with their whole-object BLAKE3)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--part-mb", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default="sink,moto")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        os.environ.pop(name, None)
    wanted = set(args.servers.split(","))
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roar-ckpt-")))
        servers: dict[str, str] = {}
        if "sink" in wanted:
            _, line = stack.enter_context(
                _process([sys.executable, str(HERE / "proxy_sink.py"), "0"], _ready_line("READY"))
            )
            servers["sink"] = f"http://127.0.0.1:{line.split()[1]}"
        if "moto" in wanted:
            port = _free_port()
            _, url = stack.enter_context(
                _process(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    _moto(port),
                )
            )
            servers["moto"] = url
        (scratch / "project").mkdir()
        subprocess.run(["git", "init", "-q"], cwd=scratch / "project", check=True)
        asyncio.run(_bench(args, servers, scratch))
    print(f"machine: {os.cpu_count()} CPUs; client, proxy and server share them", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
