"""Re-running a recorded step with parameters overridden: ``roar run @2 --epochs=20``."""

from __future__ import annotations

from collections.abc import Sequence

from roar.errors import UsageError


def parse_overrides(tokens: Sequence[str]) -> list[tuple[str, str]]:
    """``["--epochs=20", "--lr", "0.1"]`` → ``[("--epochs", "20"), ("--lr", "0.1")]``."""
    pairs: list[tuple[str, str]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("--") or token == "--":
            raise UsageError(f"cannot apply {token!r} to a re-run: use --name=value overrides")
        name, sep, value = token.partition("=")
        if not sep:
            if index + 1 >= len(tokens):
                raise UsageError(f"override {token} has no value")
            value = tokens[index + 1]
            index += 1
        pairs.append((name, value))
        index += 1
    return pairs


def apply_overrides(argv: Sequence[str], overrides: Sequence[tuple[str, str]]) -> list[str]:
    """Replace ``--k=old`` or ``--k old`` in ``argv`` with the new value, else append ``--k=v``."""
    result = list(argv)
    for name, value in overrides:
        for index, token in enumerate(result):
            if token.startswith(name + "="):
                result[index] = f"{name}={value}"
                break
            if token == name and index + 1 < len(result):
                result[index + 1] = value
                break
        else:
            result.append(f"{name}={value}")
    return result
