#!/usr/bin/env python3
"""Benchmark: `roar get` / `roar put` of a many-file prefix against the aws CLI, in the same run.

Starts moto's S3 server on 127.0.0.1, fills a prefix with --files files of --size bytes, then
times, alternating, for --rounds rounds:

* download: ``aws s3 cp --recursive s3://bench/data/ DIR`` against ``roar get s3://bench/data/ DIR``
  (roar also hashes every file with BLAKE3 and SHA-256 and records the Get job);
* upload: ``aws s3 cp --recursive DIR s3://bench/up-N/`` against ``roar put DIR s3://bench/up-N/``
  (roar also hashes, records the Put job and tags nothing: --no-tag).

Which tool goes first alternates by round, and each round's downloads and uploads are deleted
after it (moto holds objects in memory and slows down as it fills).

The aws CLI is installed from PyPI into its own virtual environment under the cache directory on
first use (it pins its own botocore). Ratios are aws time / roar time: above 1 is roar faster.

    .venv/bin/python scripts/bench/getput.py [--files 1000] [--size 65536] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ROAR = [sys.executable, "-m", "roar"]
AWS_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "roar-bench-awscli"


def _aws_cli() -> Path:
    aws = AWS_VENV / "bin" / "aws"
    if not aws.exists():
        print(f"installing the aws CLI into {AWS_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(AWS_VENV)], check=True)
        subprocess.run([str(AWS_VENV / "bin" / "pip"), "install", "-q", "awscli"], check=True)
    return aws


def _moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto did not start")


PEAK_RSS: dict[str, int] = {}


def _timed(argv: list[str], env: dict[str, str], cwd: Path, name: str) -> float:
    """Wall time of the command; its peak RSS (KiB) is kept under ``name``."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed with exit {proc.returncode}")
    PEAK_RSS[name] = max(PEAK_RSS.get(name, 0), usage.ru_maxrss)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    aws = _aws_cli()
    proc, url = _moto()
    work = Path(tempfile.mkdtemp(prefix="roar-bench-getput-"))
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIABENCH0000000000",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": url,
        "AWS_ENDPOINT_URL": url,
        "PYTHONPATH": str(ROOT),
    }
    try:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="AKIABENCH0000000000",
            aws_secret_access_key="bench",
        )
        s3.create_bucket(Bucket="bench")
        source = work / "source"
        for i in range(args.files):
            path = source / f"shard-{i // 100:02d}" / f"part-{i:05d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(args.size))
        subprocess.run([str(aws), "s3", "cp", "--recursive", "--quiet", str(source), "s3://bench/data/"],
                       env=env, check=True)  # fmt: skip
        project = work / "project"
        project.mkdir()
        subprocess.run(
            [*ROAR, "init", "-y"], env=env, cwd=project, check=True, stdout=subprocess.DEVNULL
        )
        times: dict[str, list[float]] = {
            "aws get": [],
            "roar get": [],
            "aws put": [],
            "roar put": [],
        }

        def drop(prefix: str) -> None:
            # moto keeps objects in memory: each round's uploads go, or later rounds slow down.
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket="bench", Delete={"Objects": keys})

        for n in range(args.rounds):
            order = ("aws", "roar") if n % 2 == 0 else ("roar", "aws")  # no one always goes first
            for name in order:
                target = project / f"{name}-{n}"
                if name == "aws":
                    argv = [
                        str(aws),
                        "s3",
                        "cp",
                        "--recursive",
                        "--quiet",
                        "s3://bench/data/",
                        str(target),
                    ]
                else:
                    argv = [*ROAR, "get", "s3://bench/data/", str(target)]
                times[f"{name} get"].append(_timed(argv, env, project, f"{name} get"))
                shutil.rmtree(target)
            for name in order:
                dest = f"s3://bench/up-{name}-{n}/"
                if name == "aws":
                    argv = [str(aws), "s3", "cp", "--recursive", "--quiet", str(source), dest]
                else:
                    argv = [*ROAR, "put", str(source), dest, "-m", "bench", "--no-tag"]
                times[f"{name} put"].append(_timed(argv, env, project, f"{name} put"))
                drop(f"up-{name}-{n}/")
        total = args.files * args.size
        size = f"{args.files} files x {args.size} B = {total / 1e6:.1f} MB"
        print(f"{size}, {args.rounds} rounds, median:")
        for direction in ("get", "put"):
            ours = statistics.median(times[f"roar {direction}"])
            theirs = statistics.median(times[f"aws {direction}"])
            print(
                f"  {direction}: aws {theirs:.2f} s ({total / theirs / 1e6:.1f} MB/s), "
                f"roar {ours:.2f} s ({total / ours / 1e6:.1f} MB/s): {theirs / ours:.2f}x aws; "
                f"peak RSS aws {PEAK_RSS[f'aws {direction}'] / 1024:.0f} MiB, "
                f"roar {PEAK_RSS[f'roar {direction}'] / 1024:.0f} MiB"
            )
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
