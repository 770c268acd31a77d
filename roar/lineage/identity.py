"""Step identity: which executions are re-runs of the same pipeline step.

Two jobs are the same step when they read and write the same paths, after normalisation: paths
relative to the project (else to $HOME, else the basename), and numbered checkpoint names folded so
that ``ckpt_0001.pt`` and ``ckpt_0002.pt`` are the same step's output. A job without file I/O is
identified by its command. When the paths differ from an earlier run but the command is the same
(a bookkeeping file written only on a first run), the job still joins that command's step: the
store matches on the command when no execution has the same identity.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

import blake3

_DIGIT_RUN = re.compile(r"(?<=[_-])\d{3,}(?=\.|/|$)")


def normalise_path(path: str, project_root: str, home: str) -> str:
    """The path as it counts for step identity."""
    return _normaliser(project_root, home)(path)


def _normaliser(project_root: str, home: str) -> Callable[[str], str]:
    """:func:`normalise_path` for one project and home (a job has tens of thousands of paths)."""
    root = project_root.rstrip("/") + "/"
    home_dir = home.rstrip("/") + "/" if home else None
    fold = _DIGIT_RUN.sub

    def normalise(path: str) -> str:
        if path.startswith("s3://") or not path.startswith("/"):
            shown = path
        elif path.startswith(root):  # paths are already normalised: slicing is relpath here
            shown = path[len(root) :]
        elif home_dir and path.startswith(home_dir):
            shown = path[len(home_dir) :]
        else:
            shown = os.path.basename(path)
        return fold("*", shown)

    return normalise


def step_identity(
    inputs: Iterable[str], outputs: Iterable[str], command: str, project_root: str, home: str
) -> str:
    """BLAKE3 over the sorted normalised input and output paths (or the command if none)."""
    normalise = _normaliser(project_root, home)
    ins = sorted({normalise(p) for p in inputs})
    outs = sorted({normalise(p) for p in outputs})
    if not ins and not outs:
        return blake3.blake3(f"COMMAND:{command}".encode("utf-8", "surrogateescape")).hexdigest()
    parts = ["INPUTS:", *ins, "OUTPUTS:", *outs]
    return blake3.blake3("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
