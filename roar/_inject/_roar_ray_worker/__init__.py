"""roar inside the workers of a Ray cluster that `roar run ray job submit` sends a job to.

Shipped to the cluster as a ``py_modules`` entry of the job's runtime env (roar need not be
installed there), and started by its ``worker_process_setup_hook``, :func:`setup`. It imports
nothing of roar and needs nothing but Ray and ``blake3`` (``ray.pip_install`` adds the latter to
the runtime env for clusters that lack it).

The workers are not children of the process roar traces, so no tracer sees them: each task's file
accesses are observed from inside the worker (``_observe.py``), written as one JSON line per task
(a *fragment*, ``_fragments.py``) and sent to the host (``_transport.py``), which merges them into
its ``.roar/roar.db`` once the job has ended.
"""

from __future__ import annotations

import os

from . import _observe, _transport, _wrap


def setup() -> None:
    """The ``worker_process_setup_hook``: observe this worker's tasks, then run the user's own
    hook, if the runtime env had one (``ROAR_RAY_USER_SETUP_HOOK``, ``module.function``)."""
    try:
        _observe.install(_transport.workdir_of_this_worker())
        _wrap.patch_function_manager()
    except Exception:  # the job must run as it would without roar
        pass
    user_hook = os.environ.get("ROAR_RAY_USER_SETUP_HOOK")
    if user_hook:
        import importlib

        module_name, _, attr = user_hook.rpartition(".")
        getattr(importlib.import_module(module_name), attr)()
