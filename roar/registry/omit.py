"""What `roar register` keeps from leaving the machine, beyond the built-in credential rules:
the ``registration.omit.*`` configuration (pure, once built).

- ``secrets.values``: literal strings, redacted wherever they appear;
- ``env_vars.names``: variables whose *values* (in this environment and in each job's recorded
  variables) are treated as such literals — an API key set in the shell is caught even where it
  was pasted into a command or a metadata field;
- ``patterns``: extra regular expressions, each match redacted;
- ``allowlist.patterns``: regular expressions whose matches are never redacted (a commit hash or
  a checksum the built-in rules mistake for a token).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from roar.errors import ConfigError
from roar.recording.secrets import REDACTED, redact_argv, redact_env, redact_text

if TYPE_CHECKING:
    from roar.core.config import Config

# Shorter literals would redact ordinary words and numbers everywhere.
_MIN_LITERAL = 6


def _compile(patterns: Iterable[str], key: str) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(f"{key}: {pattern!r} is not a regular expression ({exc})") from None
    return compiled


@dataclass(frozen=True)
class Omit:
    literals: tuple[str, ...] = ()
    env_names: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()
    allowed: tuple[re.Pattern[str], ...] = field(default=())

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None) -> Omit:
        environ = os.environ if environ is None else environ
        names = config.get_list("registration.omit.env_vars.names")
        values = [*config.get_list("registration.omit.secrets.values")]
        values += [environ[n] for n in names if environ.get(n)]
        return cls(
            literals=tuple(
                sorted({v for v in values if len(v) >= _MIN_LITERAL}, key=len, reverse=True)
            ),
            env_names=frozenset(names),
            patterns=tuple(
                _compile(
                    config.get_list("registration.omit.patterns"), "registration.omit.patterns"
                )
            ),
            allowed=tuple(
                _compile(
                    config.get_list("registration.omit.allowlist.patterns"),
                    "registration.omit.allowlist.patterns",
                )
            ),
        )

    def with_env(self, env: Mapping[str, str]) -> Omit:
        """Also the values a job recorded for the named variables."""
        extra = {v for n, v in env.items() if n in self.env_names and len(v) >= _MIN_LITERAL}
        if not extra - set(self.literals):
            return self
        literals = tuple(sorted(set(self.literals) | extra, key=len, reverse=True))
        return Omit(literals, self.env_names, self.patterns, self.allowed)

    def _guarded(self, text: str, redact: Callable[[str], str]) -> str:
        """``redact(text)`` with allowlisted matches kept as they were."""
        kept: list[str] = []

        def hold(match: re.Match[str]) -> str:
            kept.append(match.group(0))
            return f"\x00{len(kept) - 1}\x00"

        for pattern in self.allowed:
            text = pattern.sub(hold, text)
        text = redact(text)
        for literal in self.literals:
            text = text.replace(literal, REDACTED)
        for pattern in self.patterns:
            text = pattern.sub(REDACTED, text)
        return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)

    def text(self, text: str) -> str:
        return self._guarded(text, redact_text)

    def argv(self, argv: list[str]) -> str:
        """A command line, scrubbed argument by argument first (option values), then whole."""
        return self._guarded(" ".join(redact_argv(argv)), lambda t: t)

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        hidden = redact_env(env)
        return {
            name: REDACTED if name in self.env_names else self._guarded(value, lambda t: t)
            for name, value in hidden.items()
        }
