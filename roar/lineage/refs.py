"""Parsing step references: ``@3`` is run step 3, ``@B1`` is build step 1."""

from __future__ import annotations

import re
from dataclasses import dataclass

from roar.models import format_step_ref

_STEP = re.compile(r"@(B?)(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class StepRef:
    number: int
    build: bool

    def __str__(self) -> str:
        return format_step_ref(self.number, build=self.build)


def parse_step_ref(text: str) -> StepRef | None:
    """``@N`` / ``@BN`` to a :class:`StepRef`; None when ``text`` is not a step reference."""
    match = _STEP.fullmatch(text.strip())
    if not match:
        return None
    return StepRef(int(match.group(2)), bool(match.group(1)))
