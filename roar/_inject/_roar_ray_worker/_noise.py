"""Which paths a task touches are Ray's or Python's, not the task's: dropped on the worker.

The host applies roar's own filters again; these only keep a fragment small. The extracted
working dir lives under Ray's session directory, so it is the one part of that directory kept.
"""

from __future__ import annotations

import os
import site
import sys
import tempfile

_noise: tuple[str, ...] = ()
_kept: tuple[str, ...] = ()


def _ray_roots(workdir: str | None) -> list[str]:
    """Ray's temp roots: the default one and the one this session lives in (``--temp-dir``)."""
    roots = [os.path.join(tempfile.gettempdir(), "ray") + "/"]
    for inside in (workdir, os.getcwd()):
        if inside and "/session_" in inside:
            roots.append(inside.split("/session_", 1)[0] + "/")
    return roots


def configure(workdir: str | None) -> None:
    global _noise, _kept
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    try:
        prefixes.update(site.getsitepackages())
        prefixes.add(site.getusersitepackages())
    except Exception:
        pass
    noise = [p.rstrip("/") + "/" for p in prefixes if p and p != "/"]
    noise += ["/proc/", "/sys/", "/dev/", "/etc/", "/usr/", "/lib/", "/lib64/", "/run/"]
    noise += _ray_roots(workdir)
    spool = os.environ.get("ROAR_RAY_SPOOL")
    if spool:
        noise.append(spool.rstrip("/") + "/")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    noise.append(here.rstrip("/") + "/")  # the agent itself (a py_modules copy)
    _noise = tuple(noise)
    _kept = (workdir.rstrip("/") + "/",) if workdir else ()


def is_noise(path: str) -> bool:
    if "/__pycache__/" in path or path.endswith(".pyc"):
        return True
    if _kept and path.startswith(_kept):
        return "/.roar/" in path
    return path.startswith(_noise) or "/site-packages/" in path or "/dist-packages/" in path
