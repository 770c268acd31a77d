"""Label documents: nested JSON built from dotted ``key=value`` pairs, versioned on every change.

Pure functions; the store keeps each version whole. ``set`` deep-merges a patch, ``unset`` removes
key paths (pruning parents left empty), ``cp`` merges one document into another. Roots that roar
writes itself (``roar``, ``tag``, ``attach``) cannot be set by users.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from roar.errors import UsageError

RESERVED_ROOTS = ("roar", "tag", "attach")
_INT = re.compile(r"[+-]?(0|[1-9]\d*)")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")

Document = dict[str, Any]


def parse_value(text: str) -> Any:
    """``true``/``false`` → bool, integers (no leading zeros) → int, decimals → float, else str."""
    low = text.lower()
    if low in {"true", "false"}:
        return low == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text) and not re.fullmatch(r"[+-]?0\d+", text):
        return float(text)
    return text


def _key_path(key: str) -> list[str]:
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise UsageError(f"bad label key {key!r}: use dotted names like model.name")
    return parts


def parse_pairs(pairs: Iterable[str], *, allow_reserved: bool = False) -> Document:
    """``["a.b=1", "c=x"]`` → ``{"a": {"b": 1}, "c": "x"}``."""
    patch: Document = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"bad label {pair!r}: expected key=value")
        path = _key_path(key.strip())
        if not allow_reserved and path[0] in RESERVED_ROOTS:
            raise UsageError(f"label key {key!r} is reserved for roar")
        node = patch
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(f"label key {key!r} conflicts with another pair")
            node = child
        node[path[-1]] = parse_value(value)
    return patch


def merge(document: Mapping[str, Any], patch: Mapping[str, Any]) -> Document:
    """Deep-merge ``patch`` into a copy of ``document``."""
    result: Document = copy.deepcopy(dict(document))
    for key, value in patch.items():
        current = result.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            result[key] = merge(current, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def unset(document: Mapping[str, Any], keys: Iterable[str]) -> Document:
    """Remove each dotted key path, pruning parents that become empty."""
    result: Document = copy.deepcopy(dict(document))
    for key in keys:
        _remove(result, _key_path(key))
    return result


def _remove(node: Document, path: list[str]) -> None:
    head, rest = path[0], path[1:]
    if head not in node:
        return
    if not rest:
        del node[head]
        return
    child = node[head]
    if isinstance(child, dict):
        _remove(child, rest)
        if not child:
            del node[head]


def flatten(document: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key in sorted(document):
        value = document[key]
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows += flatten(value, dotted + ".")
        else:
            rows.append((dotted, value))
    return rows


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)
