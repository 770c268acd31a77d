"""Who is asking: the identity every read and write of the registry is judged against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Viewer:
    """A signed-in user (``user_id``), or anonymous (``None``): anonymous sees public lineage
    only and registers public, unattributed sessions."""

    user_id: int | None = None
    username: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.user_id is None

    @property
    def creator_identity(self) -> str:
        return "anonymous" if self.user_id is None else f"glaas:user:{self.user_id}"


ANONYMOUS = Viewer()


class Forbidden(Exception):
    """The viewer may not do this (HTTP 403), or may not even know it exists (404)."""

    def __init__(self, detail: str, status: int = 403) -> None:
        super().__init__(detail)
        self.status = status
