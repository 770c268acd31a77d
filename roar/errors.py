"""Every error roar reports on purpose.

The tree::

    RoarError                       exit 1 unless a subclass says otherwise
    ├── UsageError                  exit 2: the user asked for something that cannot be
    │   ├── NotAProjectError        exit 2: no `.roar/` above the working directory
    │   ├── ConfigError             exit 2: unknown key, wrong type, unreadable config file
    │   └── NotFoundError           exit 2: a step, job or artifact the store does not hold
    ├── StoreError                  exit 1: the database cannot be opened or written
    │   └── SchemaTooNewError       exit 2: the database was written by a newer roar
    ├── CommandNotFoundError        exit 127: the program given to `roar run` does not exist
    ├── TracerError                 exit 1: the tracer could not start or died mid-run
    ├── roar.proxy.ProxyError       exit 2 or 1: the S3 proxy cannot start or serve
    └── roar.reproduce.ReproduceError  exit 1: a reproduction cannot go on

`roar.cli.main` is the one place where these become a one-line message on stderr and an exit
code; a traceback appears only with `ROAR_DEBUG=1`. Each message names the thing that is wrong and,
where there is one, the next step.
"""

from __future__ import annotations


class RoarError(Exception):
    """Base of every error roar raises deliberately; carries the process exit code."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UsageError(RoarError):
    """The request cannot be carried out as given; nothing was changed."""

    exit_code = 2


class NotAProjectError(UsageError):
    """Raised by every command but `init` when no `.roar/` directory is found."""

    def __init__(self) -> None:
        super().__init__("not a roar project (run 'roar init')")


class ConfigError(UsageError):
    """An unknown config key, a value of the wrong type, or a config file roar cannot read."""


class NotFoundError(UsageError):
    """A reference (``@N``, job uid, artifact path or hash) that the store does not know."""


class StoreError(RoarError):
    """The local database could not be opened, read or written."""


class SchemaTooNewError(StoreError):
    """The database's schema version is newer than this roar understands; the file is left as is."""

    exit_code = 2


class CommandNotFoundError(RoarError):
    """The program handed to `roar run` was not found on PATH or is not executable."""

    exit_code = 127

    def __init__(self, name: str, *, exit_code: int = 127) -> None:
        reason = "command not found" if exit_code == 127 else "permission denied"
        super().__init__(f"{reason}: {name}", exit_code=exit_code)


class TracerError(RoarError):
    """The tracer could not start, or stopped without reporting the end of the traced command."""
