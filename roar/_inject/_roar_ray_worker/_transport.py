"""Where a worker's fragments go: a directory the host reads, else the cluster's GCS KV store.

The host names a directory in ``ROAR_RAY_FRAGMENTS``. When this node sees it (the cluster runs on
the host, or shares its filesystem), each fragment is appended as one JSON line to a file of this
worker's own, with one ``write`` (so a line is whole or absent). When it does not, the fragment is
put in Ray's GCS key-value store under namespace :data:`KV_NAMESPACE`, keyed by the run
(``ROAR_RAY_RUN``), and the host collects it after the job (``roar/recording/ray_collect.py``).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import tempfile
from typing import Any

KV_NAMESPACE = "roar-fragments"
_sequence = itertools.count()


def spool_name(run_id: str) -> str:
    """The node-local directory (under the temp dir) where processes tasks start leave their
    fragments for the task (``_child.py``)."""
    return f"roar-ray-spool-{run_id}"


def workdir_of_this_worker() -> str | None:
    """The job's ``working_dir`` as Ray extracted it here (the worker starts in it), named for
    the processes tasks start; None when the job has no working dir."""
    cwd = os.getcwd()
    workdir = cwd if "/runtime_resources/working_dir_files/" in cwd else None
    if workdir:
        os.environ["ROAR_RAY_WORKDIR"] = workdir
    spool = os.path.join(tempfile.gettempdir(), spool_name(os.environ.get("ROAR_RAY_RUN", "")))
    os.makedirs(spool, exist_ok=True)
    os.environ["ROAR_RAY_SPOOL"] = spool
    # Python processes a task starts load child/sitecustomize.py (it idles outside tasks).
    child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child")
    rest = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = child + (os.pathsep + rest if rest else "")
    return workdir


def send(fragment: dict[str, Any]) -> None:
    line = json.dumps(fragment, separators=(",", ":")) + "\n"
    where = os.environ.get("ROAR_RAY_FRAGMENTS", "")
    if where and os.path.isdir(where):
        name = f"{socket.gethostname()}-{os.getpid()}.jsonl"
        fd = os.open(os.path.join(where, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return
    from ray.experimental.internal_kv import _internal_kv_put

    key = f"{os.environ.get('ROAR_RAY_RUN', '')}:{socket.gethostname()}:{os.getpid()}:"
    _internal_kv_put(key + str(next(_sequence)), line, namespace=KV_NAMESPACE)


def spool(fragment: dict[str, Any]) -> None:
    """Leave ``fragment`` in this node's spool (the task it belongs to, or the collecting job,
    reads it from there), whole or not at all."""
    where = os.environ.get("ROAR_RAY_SPOOL", "")
    path = os.path.join(where, f"{fragment['task_id']}~{os.getpid()}.json")
    with open(path + ".part", "w") as handle:
        json.dump(fragment, handle)
    os.replace(path + ".part", path)


def send_or_spool(fragment: dict[str, Any]) -> None:
    """The driver's fragment, sent at its exit, when Ray is already shut down there (Ray's own
    exit handler runs first) and the KV store cannot be reached: the spool, if not the
    directory."""
    where = os.environ.get("ROAR_RAY_FRAGMENTS", "")
    if where and os.path.isdir(where):
        send(fragment)
    else:
        spool(fragment)
