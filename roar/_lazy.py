"""Names a package exports but loads only when first used (PEP 562 module ``__getattr__``).

``roar``, ``roar.api`` and ``roar.proxy`` export their public names this way so that importing
them (``roar --help``, and ``roar run`` before its command starts) does not import aiohttp, the
store or the renderers.
"""

from __future__ import annotations

import importlib
import sys

# `typing` and `collections.abc` cost ~9 ms to import, more than a resident `roar run` spends
# before its command starts: this module is on that path, so they are for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps each exported name to the module
    defining it, imported on first use; the value is then kept on the package."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
