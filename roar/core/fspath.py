"""File names that are not UTF-8: kept exactly, stored losslessly, shown escaped.

Linux file names (and argv, and environment values) are bytes. roar carries them as ``str``
decoded with ``surrogateescape`` (what :func:`os.fsdecode` gives), so each undecodable byte 0xNN
becomes the lone surrogate U+DCNN and :func:`os.fsencode` gives the exact bytes back. Lone
surrogates cannot be encoded as UTF-8, so three boundaries need a form of their own:

* **the store** (SQLite TEXT, JSON columns): :func:`to_stored` writes such a name as NUL followed
  by the hex of its bytes. No file name, argument or environment value can contain NUL, so the
  form never collides with a real one; every UTF-8 name is stored unchanged.
* **text output**: :func:`display` escapes each undecodable byte as ``\\xNN``; the CLI's stdout and
  stderr use the ``roar-escape`` error handler (:func:`register_escape`), which does the same.
* **JSON output**: :func:`json_safe` replaces such strings by their display form and, beside each
  one, adds ``<key>_b64`` holding the exact bytes (base64), so ``--json`` is lossless; keys are only
  ever added.
"""

from __future__ import annotations

import base64
import codecs
import os
from collections.abc import Mapping
from typing import Any

STORED_PREFIX = "\x00"
ESCAPE_HANDLER = "roar-escape"
B64_SUFFIX = "_b64"


def is_utf8(text: str) -> bool:
    """False when ``text`` holds undecodable bytes (lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_stored(text: str) -> str:
    """The form of ``text`` that SQLite and JSON can hold; unchanged for UTF-8 text."""
    if is_utf8(text):
        return text
    return STORED_PREFIX + os.fsencode(text).hex()


def from_stored(text: str) -> str:
    """Inverse of :func:`to_stored`."""
    if text.startswith(STORED_PREFIX):
        return os.fsdecode(bytes.fromhex(text[len(STORED_PREFIX) :]))
    return text


def _map_strings(value: Any, convert: Any) -> Any:
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, Mapping):
        return {convert(k) if isinstance(k, str) else k: _map_strings(v, convert)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        return [_map_strings(v, convert) for v in value]
    return value


def stored_tree(value: Any) -> Any:
    """``value`` (JSON-like) with every string in stored form; the same object when all are UTF-8
    (the common case costs one encode attempt per string)."""
    return _map_strings(value, to_stored)


def loaded_tree(value: Any) -> Any:
    """Inverse of :func:`stored_tree`."""
    return _map_strings(value, from_stored)


def display(text: str) -> str:
    """``text`` printable as UTF-8: each undecodable byte as ``\\xNN``."""
    if is_utf8(text):
        return text
    return "".join(
        f"\\x{ord(ch) - 0xDC00:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF else ch for ch in text
    )


def _escape(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start : error.end]
    return display(bad) if all(0xDC80 <= ord(c) <= 0xDCFF for c in bad) else "?" * len(bad), (
        error.end
    )


def register_escape() -> None:
    """Make ``errors="roar-escape"`` available to text streams (idempotent)."""
    try:
        codecs.lookup_error(ESCAPE_HANDLER)
    except LookupError:
        codecs.register_error(ESCAPE_HANDLER, _escape)


def _b64(text: str) -> str:
    return base64.b64encode(os.fsencode(text)).decode("ascii")


def json_safe(value: Any) -> Any:
    """``value`` ready for a JSON encoder: non-UTF-8 strings shown escaped, with the exact bytes
    beside them under ``<key>_b64`` (for a string, or a list of strings, held under a key)."""
    if isinstance(value, str):
        return display(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            out[display(key) if isinstance(key, str) else key] = json_safe(item)
            if isinstance(key, str):
                if isinstance(item, str) and not is_utf8(item):
                    out[key + B64_SUFFIX] = _b64(item)
                elif (
                    isinstance(item, list | tuple)
                    and all(isinstance(i, str) for i in item)
                    and not all(is_utf8(i) for i in item)
                ):
                    out[key + B64_SUFFIX] = [_b64(i) for i in item]
        return out
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
