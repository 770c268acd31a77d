"""``python -m _roar_ray_worker.collect RUN``: print run RUN's fragments from the GCS KV store.

Run on the cluster as a job of its own by the host (``roar/recording/ray_collect.py``), after the
submitted job ended, when some nodes may not have seen the host's fragment directory. Each
fragment is printed on one line after ``roar-fragment `` and then deleted from the store.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

from ._transport import KV_NAMESPACE, spool_name

LINE_PREFIX = "roar-fragment "  # before each fragment printed (roar/recording/ray_collect.py)


def main(run_id: str) -> None:
    import ray
    from ray.experimental.internal_kv import (
        _internal_kv_del,
        _internal_kv_get,
        _internal_kv_list,
    )

    ray.init(log_to_driver=False)
    for key in _internal_kv_list(f"{run_id}:", namespace=KV_NAMESPACE):
        value = _internal_kv_get(key, namespace=KV_NAMESPACE)
        if value:
            sys.stdout.write(LINE_PREFIX + value.decode().strip() + "\n")
        _internal_kv_del(key, namespace=KV_NAMESPACE)
    # The driver's own fragment, left in the spool of the node it ran on (this job's, unless
    # entrypoint resources sent the driver elsewhere).
    spool = os.path.join(tempfile.gettempdir(), spool_name(run_id))
    for name in sorted(os.listdir(spool)) if os.path.isdir(spool) else []:
        if name.startswith("driver~") and name.endswith(".json"):
            path = os.path.join(spool, name)
            with open(path) as handle:
                sys.stdout.write(LINE_PREFIX + handle.read().strip() + "\n")
            os.remove(path)
    with contextlib.suppress(OSError):
        os.rmdir(spool)  # gone once empty (a task killed mid-run may have left a child's file)
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
