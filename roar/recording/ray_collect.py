"""Fragments the workers could not write where the host reads them: fetched from the cluster.

A node that does not see the host's fragment directory (another machine, no shared filesystem)
puts its fragments in the cluster's GCS KV store (``_roar_ray_worker/_transport.py``). The host
reaches the cluster only as `ray job submit` does, through the job server, so it fetches them the
same way: it submits a small job of its own (``_roar_ray_worker.collect``, shipped like the agent)
that prints the run's fragments, each on a line of its own after :data:`LINE_PREFIX`, and removes
them from the store.
"""

from __future__ import annotations

import json
import shutil
import socket
from urllib.parse import urlsplit

import anyio

from roar.recording.ray_fragments import Fragment, decode_lines
from roar.recording.ray_runtime_env import WORKER_PACKAGE

LINE_PREFIX = b"roar-fragment "  # the collector's lines (see _roar_ray_worker/collect.py)
_TIMEOUT = 120.0


def is_loopback(address: str | None) -> bool:
    """Whether the job server at ``address`` runs on this machine (Ray's default address is)."""
    if not address:
        return True
    host = urlsplit(address if "://" in address else f"http://{address}").hostname or ""
    return host in ("localhost", "::1", socket.gethostname()) or host.startswith("127.")


async def fetch_from_cluster(
    ray: str, address: str | None, run_id: str
) -> tuple[list[Fragment], int, str | None]:
    """The fragments of run ``run_id`` in the KV store of the cluster at ``address`` (through
    the ``ray`` CLI at ``ray``), how many could not be read, and why none could be fetched."""
    program = shutil.which(ray)
    if program is None:
        return [], 0, f"{ray} is not found"
    # Only the agent's modules: reading the store needs Ray alone (no blake3, no user packages).
    env = {"py_modules": [WORKER_PACKAGE]}
    argv = [program, "job", "submit", "--runtime-env-json", json.dumps(env)]
    if address:
        argv += ["--address", address]
    argv += ["--", "python", "-m", "_roar_ray_worker.collect", run_id]
    with anyio.move_on_after(_TIMEOUT):
        done = await anyio.run_process(argv, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            return [], 0, f"the collecting job failed: {last[-1] if last else done.returncode}"
        lines = [
            line[len(LINE_PREFIX) :]
            for line in done.stdout.splitlines()
            if line.startswith(LINE_PREFIX)
        ]
        return (*decode_lines(lines), None)
    return [], 0, f"the collecting job did not end within {_TIMEOUT:.0f} s"
