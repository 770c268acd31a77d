"""The event decoder: the Cython build when present, else its pure-Python twin."""

from __future__ import annotations

import os

from roar.tracing._decoder_py import Decoder as PyDecoder

Decoder: type[PyDecoder]
if os.environ.get("ROAR_NO_EXTENSIONS"):
    Decoder = PyDecoder
    USING_EXTENSION = False
else:
    try:
        from roar.tracing._decoder import Decoder  # type: ignore[no-redef]

        USING_EXTENSION = True
    except ImportError:
        Decoder = PyDecoder
        USING_EXTENSION = False

__all__ = ("USING_EXTENSION", "Decoder")
