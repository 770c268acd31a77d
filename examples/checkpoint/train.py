"""A training loop that checkpoints to S3 through roar's embedded proxy, then reads the lineage.

The "model" is a NumPy weight vector trained by gradient descent on a dataset read from S3. Every
epoch's checkpoint goes to S3 as a multipart upload (8 MiB parts, 8 at a time: boto3's
TransferConfig) through ``project.proxy()``; roar records each object with the BLAKE3 of the
whole checkpoint, combined from the parts as they stream through. At the end the lineage is read
back with the library, no CLI: which checkpoints were written, their digests (checked against
the bytes sent), and that the dataset was read.

    python examples/checkpoint/train.py [--project DIR] [--bucket NAME] [--epochs 3]
        [--size-mb 24] [--upstream URL]

``--upstream`` is the S3 endpoint (default: ``S3_UPSTREAM`` if set, else AWS); credentials come
from the usual AWS chain. Needs numpy and boto3 beside roar.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
from pathlib import Path

import blake3
import boto3
import numpy as np
from boto3.s3.transfer import TransferConfig

import roar

PART = 8 * 1024 * 1024
TRANSFER = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=8)


def make_dataset(rows: int, features: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    true_w = np.linspace(-1, 1, features, dtype=np.float32)
    y = x @ true_w + rng.normal(scale=0.01, size=rows).astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()


def train_epoch(w: np.ndarray, x: np.ndarray, y: np.ndarray, rate: float = 0.1) -> float:
    """One epoch of full-batch gradient descent on squared error; returns the loss."""
    error = x @ w[: x.shape[1]] - y
    w[: x.shape[1]] -= rate * (x.T @ error) / len(y)
    return float(np.mean(error**2))


async def main(args: argparse.Namespace) -> int:
    project_dir = Path(args.project).resolve()
    project_dir.mkdir(parents=True, exist_ok=True)
    # The checkpoint carries the whole "model": a weight vector of --size-mb MiB.
    weights = np.zeros((args.size_mb << 20) // 4, dtype=np.float32)
    sent: dict[str, str] = {}
    async with roar.open_project(project_dir, create=True) as project:
        async with project.proxy(upstream=args.upstream) as proxy:
            s3 = boto3.client("s3", endpoint_url=proxy.url)
            existing = await asyncio.to_thread(s3.list_buckets)
            if args.bucket not in {b["Name"] for b in existing["Buckets"]}:
                await asyncio.to_thread(s3.create_bucket, Bucket=args.bucket)
                dataset = make_dataset(4096, 64)
                await asyncio.to_thread(
                    s3.put_object, Bucket=args.bucket, Key="data/train.npz", Body=dataset
                )
            raw = await asyncio.to_thread(s3.get_object, Bucket=args.bucket, Key="data/train.npz")
            arrays = np.load(io.BytesIO(await asyncio.to_thread(raw["Body"].read)))
            x, y = arrays["x"], arrays["y"]
            for epoch in range(1, args.epochs + 1):
                loss = train_epoch(weights, x, y)
                blob = weights.tobytes()
                key = f"runs/demo/epoch-{epoch:03d}.ckpt"
                await asyncio.to_thread(
                    s3.upload_fileobj, io.BytesIO(blob), args.bucket, key, Config=TRANSFER
                )
                sent[f"s3://{args.bucket}/{key}"] = blake3.blake3(blob).hexdigest()
                print(f"epoch {epoch}: loss {loss:.4f}, checkpoint {len(blob) >> 20} MiB -> {key}")
            s3.close()

        # The lineage, read back through the library.
        for url, digest in sent.items():
            shown = await project.show(url)
            recorded = shown.payload["hashes"].get("blake3")
            maker = shown.payload["produced_by"][0]["command"]
            verdict = "verified" if recorded == digest else "MISMATCH"
            print(f"{url}: blake3 {recorded} ({verdict}), written by {maker!r}")
            if recorded != digest:
                return 1
        dataset_url = f"s3://{args.bucket}/data/train.npz"
        readers = (await project.show(dataset_url)).payload["consumed_by"]
        print(f"{dataset_url}: read by {len(readers)} job(s)")
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=".", help="roar project directory (created if new)")
    parser.add_argument("--bucket", default="roar-checkpoints")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=24)
    parser.add_argument("--upstream", default=os.environ.get("S3_UPSTREAM"))
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
