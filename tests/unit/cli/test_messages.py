"""No message may recommend a command roar does not have yet (get, put, register, login...)."""

from __future__ import annotations

import re
from pathlib import Path

from roar.cli._app import COMMANDS

ROAR = Path(__file__).resolve().parents[3] / "roar"
# Commands the reference system has that a message could name; prose like "roar put there"
# is not a command, so only these words count.
_REFERENCE_COMMANDS = ("get", "put", "register", "login", "logout", "whoami", "server", "diff")


def test_messages_only_name_commands_that_exist() -> None:
    names = "|".join(_REFERENCE_COMMANDS)
    pattern = re.compile(rf"\broar ({names}) (?!there\b)[A-Za-z@./<\[-]")
    named = {
        (match.group(1), source.relative_to(ROAR).as_posix())
        for source in ROAR.rglob("*.py")
        for match in pattern.finditer(source.read_text())
    }
    assert {(cmd, where) for cmd, where in named if cmd not in COMMANDS} == set()
