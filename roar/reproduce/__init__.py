"""Reproducing recorded lineage: plan (pure), preview, and replay with a verdict per output.

:func:`prepare` finds a target's lineage in the first :class:`LineageSource` that knows it and
plans the recipe; :func:`execute` fetches the code, rebuilds the environment, runs every step
through roar in a fresh project and judges each output *reproduced*, *recreated* or *missing*.
"""

from roar.reproduce._errors import ReproduceError
from roar.reproduce._model import CheckItem, Lineage, Plan, Requirements, Target, Verdict
from roar.reproduce._plan import build_plan
from roar.reproduce._run import RunOptions, RunReport, Ui, execute, prepare
from roar.reproduce._source import LineageSource, LocalStoreSource, local_sources

__all__ = (
    "CheckItem",
    "Lineage",
    "LineageSource",
    "LocalStoreSource",
    "Plan",
    "ReproduceError",
    "Requirements",
    "RunOptions",
    "RunReport",
    "Target",
    "Ui",
    "Verdict",
    "build_plan",
    "execute",
    "local_sources",
    "prepare",
)
