"""The `roar` command line: one entry point that owns exit codes and error messages.

Subcommands live in their own modules and are imported only when invoked, so `roar --help` and
`roar --version` stay fast. Every error roar raises on purpose becomes one line on stderr and its
exit code; an unexpected exception shows a traceback only with ``ROAR_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

# `typing` and `collections.abc` cost ~9 ms to import, more than a resident `roar run` spends
# before its command starts: this module is on that path, so they are for the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["run"], ["build"]):
        # Before importing anything heavy: a resident roar has it all loaded already.
        from roar.resident.client import hand_over

        code = hand_over(args)
        if code is not None:
            sys.exit(code)
    sys.exit(run_cli(args))


def run_cli(argv: Sequence[str] | None = None) -> int:
    import click

    from roar.cli._app import cli
    from roar.errors import RoarError

    args = list(sys.argv[1:] if argv is None else argv)
    _escape_undecodable_output()
    try:
        try:
            result = cli.main(args=args, prog_name="roar", standalone_mode=False)
        except BaseExceptionGroup as group:
            # Concurrent tasks wrap errors in groups; a deliberate roar error inside one (or a
            # database error) is reported like any other.
            roar_errors = group.subgroup(lambda e: isinstance(e, RoarError))
            if roar_errors is None:
                roar_errors = group.subgroup(lambda e: _database_error(e) is not None)
            if roar_errors is None:
                raise
            raise _first_leaf(roar_errors) from group
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        _error("aborted")
        return 130
    except click.UsageError as exc:
        hint = f" (see 'roar {exc.ctx.command_path.partition(' ')[2]} --help')" if exc.ctx else ""
        _error(exc.format_message().rstrip(".") + hint.replace("roar  --help", "roar --help"))
        return 2
    except click.ClickException as exc:
        _error(exc.format_message())
        return exc.exit_code
    except RoarError as exc:
        if os.environ.get("ROAR_DEBUG"):
            raise
        _error(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `roar dag | head`): quietly stop writing.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141
    except Exception as exc:
        if os.environ.get("ROAR_DEBUG"):
            raise
        database_message = _database_error(exc)
        if database_message is not None:
            _error(database_message)
            return 1
        _error(f"internal error: {type(exc).__name__}: {exc} (set ROAR_DEBUG=1 for a traceback)")
        return 1
    return int(result) if isinstance(result, int) else 0


def _escape_undecodable_output() -> None:
    """File names that are not UTF-8 print as ``\\xNN`` instead of failing the command."""
    from roar.core.fspath import ESCAPE_HANDLER, register_escape

    register_escape()
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors=ESCAPE_HANDLER)


def _database_error(exc: BaseException) -> str | None:
    """The one-line message for a SQLite error that reached the top (a damaged or read-only
    `.roar/roar.db`), or None for any other exception."""
    import sqlite3

    if not isinstance(exc, sqlite3.Error):
        return None
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"cannot write .roar/roar.db: {text} (make .roar/ and roar.db writable)"
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return f".roar/roar.db is busy: {text} (another roar is writing; try again)"
    return (
        f"the roar database .roar/roar.db is damaged ({text}); restore it from a backup, or "
        "move it aside and run 'roar init' to start again"
    )


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _error(message: str) -> None:
    sys.stderr.write(f"roar: {message}\n")
    sys.stderr.flush()
