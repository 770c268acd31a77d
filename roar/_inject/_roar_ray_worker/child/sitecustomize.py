"""roar in a Python process a Ray task started, or in the job's driver: what it reads and
writes is the task's (the driver's).

The task's worker (``driver.py``, for the driver) put this directory on ``PYTHONPATH`` and names
the running task in ``ROAR_RAY_TASK`` (``ROAR_RAY_DRIVER``); this process observes its own file
accesses as the worker does and sends them at exit (``_child.py``). Then the user's own
``sitecustomize``, if any, runs as it would have. Failures are swallowed.
"""

import os
import sys


def _start() -> None:
    if not (os.environ.get("ROAR_RAY_TASK") or os.environ.get("ROAR_RAY_DRIVER")):
        return
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if package_parent not in sys.path:
        sys.path.append(package_parent)
    from _roar_ray_worker import _child  # type: ignore[import-not-found]

    _child.observe_this_process()


def _chain_user_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    me = sys.modules.pop("sitecustomize")
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401  (the user's, if any)
    except ImportError:
        pass
    finally:
        sys.path[:] = saved
        sys.modules.setdefault("sitecustomize", me)


try:  # noqa: SIM105 - contextlib would be one more import in every child's start
    _start()
except Exception:
    pass
try:  # noqa: SIM105
    _chain_user_sitecustomize()
except Exception:
    pass
