"""What recording a job warns about, as values: a kind a program can test, the sentence a person
reads, and the path concerned when there is one.

A :class:`RecordWarning` *is* its sentence (a ``str``), so code that prints warnings or compares
them to text keeps working; code that needs to tell them apart reads ``kind``.
"""

from __future__ import annotations


class RecordWarning(str):
    """One warning: ``kind`` (``unsourced-input``, ``dirty-tree``, ``aborted``,
    ``credential-redacted``, ``input-rewritten``, ``unhashable-input``, ``tracer``...), the
    message (the string itself) and ``path`` when it is about one file."""

    kind: str
    path: str | None

    def __new__(cls, kind: str, message: str, path: str | None = None) -> RecordWarning:
        warning = super().__new__(cls, message)
        warning.kind = kind
        warning.path = path
        return warning

    @property
    def message(self) -> str:
        return str.__str__(self)

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "message": self.message, "path": self.path}
