"""Parsing step references: ``@3`` is run step 3, ``@B1`` is build step 1."""

from __future__ import annotations

import re
from dataclasses import dataclass

_STEP = re.compile(r"@(B?)(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class StepRef:
    number: int
    build: bool

    def __str__(self) -> str:
        return f"@B{self.number}" if self.build else f"@{self.number}"


def parse_step_ref(text: str) -> StepRef | None:
    """``@N`` / ``@BN`` to a :class:`StepRef`; None when ``text`` is not a step reference."""
    match = _STEP.fullmatch(text.strip())
    if not match:
        return None
    return StepRef(int(match.group(2)), bool(match.group(1)))
