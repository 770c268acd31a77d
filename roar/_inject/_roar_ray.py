"""roar's Ray probe, the part every traced Python process loads: nothing until ``ray`` is imported.

Loaded by roar's ``sitecustomize`` when ``ROAR_RAY_MARKERS`` names a directory (`roar run` with
``ray.enabled``). It only puts a finder in front of the import system that, when ``ray`` is
imported, patches ``ray.remote`` (``_roar_ray_tasks.py``: the wrapping and the markers). It
imports nothing but ``os`` and ``sys`` itself: it is in the start-up of every Python process of
every traced job, most of which never use Ray.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself is not loaded in every traced Python start
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType


class _AfterRayImport:
    """A meta path finder that patches ``ray`` right after it is imported."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "ray":
            return None
        sys.meta_path.remove(self)
        try:
            import importlib.util

            spec = importlib.util.find_spec("ray")
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def patched_exec(module: ModuleType) -> None:
            exec_module(module)
            try:
                import _roar_ray_tasks  # type: ignore[import-not-found]

                _roar_ray_tasks.patch(module)
            except Exception:  # the program must run as it would without roar
                pass

        loader.exec_module = patched_exec  # type: ignore[method-assign]
        return spec


def install() -> None:
    if not os.environ.get("ROAR_RAY_MARKERS"):
        return
    if "ray" in sys.modules:
        import _roar_ray_tasks

        _roar_ray_tasks.patch(sys.modules["ray"])
        return
    sys.meta_path.insert(0, _AfterRayImport())
