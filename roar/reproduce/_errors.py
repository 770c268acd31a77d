"""The one error reproduce adds to the tree in roar.errors.

::

    RoarError
    └── ReproduceError      exit 1: git, venv creation, pip or apt-get failed while setting up
"""

from __future__ import annotations

from roar.errors import RoarError


class ReproduceError(RoarError):
    """A tool reproduce drives (git, python -m venv, pip, apt-get) failed; the message names the
    tool, its last line of output, and what to try next."""
