"""Reading what clients send (pure): every refusal is a :class:`BadRequest` whose message says
what was wrong, which the app answers as a 4xx in the envelope, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

MAX_BODY = 16 * 1024 * 1024
MAX_BATCH = 5000
_HEX = re.compile(r"^[0-9a-fA-F]{4,128}$")


class BadRequest(Exception):
    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.status = status


async def read_body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadRequest(f"request body over {MAX_BODY} bytes", 413) from None
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or (value == "" and not required):
        # An empty optional field is an absent one (the reference client sends git_repo "").
        if required:
            raise BadRequest(f"'{name}' is required")
        return None
    if not isinstance(value, str) or not value or len(value) > 100_000:
        raise BadRequest(f"'{name}' must be a non-empty string")
    return storable(value, name)


def storable(value: str, name: str) -> str:
    """``value``, if every database can hold it (PostgreSQL text cannot hold NUL)."""
    if "\x00" in value:
        raise BadRequest(f"'{name}' must not contain NUL characters")
    return value


def integer(value: object, name: str, *, minimum: int | None = None) -> int | None:
    """An optional 64-bit integer (what both databases store)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise BadRequest(f"'{name}' must be a 64-bit integer")
    if minimum is not None and value < minimum:
        raise BadRequest(f"'{name}' must be at least {minimum}")
    return value


def number(body: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"'{name}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"'{name}' must be a number")
    return float(value)


def digest(value: object, what: str = "hash") -> str:
    if not isinstance(value, str) or not _HEX.match(value):
        raise BadRequest(f"'{what}' must be a hex digest")
    return value.lower()


def items(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if not isinstance(value, list):
        raise BadRequest(f"'{name}' must be a list")
    if len(value) > MAX_BATCH:
        raise BadRequest(f"'{name}' has more than {MAX_BATCH} entries")
    return value


def job(entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise BadRequest("each job must be an object")
    job_uid = text(entry, "job_uid")
    command = text(entry, "command")
    timestamp = number(entry, "timestamp", required=True)
    step = integer(entry.get("step_number"), "step_number", minimum=0)
    if step is None:
        raise BadRequest("'step_number' must be a non-negative integer")
    metadata = entry.get("metadata", "{}")
    if isinstance(metadata, dict):
        metadata = json.dumps(metadata)
    if not isinstance(metadata, str):
        raise BadRequest("'metadata' must be a JSON string")
    metadata = storable(metadata, "metadata")
    exit_code = integer(entry.get("exit_code"), "exit_code")
    return {
        "job_uid": job_uid,
        "command": command,
        "timestamp": timestamp,
        "git_commit": text(entry, "git_commit", required=False),
        "git_branch": text(entry, "git_branch", required=False),
        "duration_seconds": number(entry, "duration_seconds"),
        "exit_code": exit_code,
        "job_type": text(entry, "job_type", required=False) or "run",
        "step_number": step,
        "metadata": metadata,
    }


def artifact(entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise BadRequest("each artifact must be an object")
    hashes = entry.get("hashes")
    if not isinstance(hashes, list) or not hashes:
        raise BadRequest("'hashes' must be a non-empty list")
    pairs = []
    for item in hashes:
        if not isinstance(item, dict):
            raise BadRequest("each hash must be {algorithm, digest}")
        algorithm = text(item, "algorithm")
        pairs.append({"algorithm": algorithm, "digest": digest(item.get("digest"), "digest")})
    size = integer(entry.get("size"), "size", minimum=0)
    metadata = entry.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        metadata = json.dumps(metadata)
    if metadata is not None:
        metadata = storable(metadata, "metadata")
    return {
        "hashes": pairs,
        "size": size,
        "source_type": text(entry, "source_type", required=False),
        "metadata": metadata,
        "session_hash": text(entry, "session_hash", required=False),
    }


def link(entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise BadRequest("each artifact link must be an object")
    ranges = entry.get("byte_ranges")
    if ranges is not None and not (
        isinstance(ranges, list)
        and all(
            isinstance(r, list)
            and len(r) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in r)
            for r in ranges
        )
    ):
        raise BadRequest("'byte_ranges' must be a list of [first, last] pairs")
    size = integer(entry.get("size"), "size")
    return {
        "hash": hash_or_etag(entry.get("hash")),
        "path": text(entry, "path", required=False),
        "size": size,
        "byte_ranges": ranges,
    }


def hash_or_etag(value: object) -> str:
    if isinstance(value, str) and value.startswith("etag:") and 5 < len(value) < 200:
        return storable(value, "hash")
    return digest(value)


def composite(entry: object) -> dict[str, Any]:
    """A composite artifact: the artifact fields, its components and how many there are."""
    base = artifact(entry)
    assert isinstance(entry, dict)
    if not any(h["algorithm"].startswith("composite-") for h in base["hashes"]):
        raise BadRequest("a composite needs a composite-* hash (composite-blake3)")
    base["hashes"].sort(key=lambda h: not h["algorithm"].startswith("composite-"))
    components = []
    for item in items(entry, "components"):
        if not isinstance(item, dict):
            raise BadRequest("each component must be an object")
        components.append(
            {
                "relative_path": text(item, "relative_path"),
                "leaf_kind": text(item, "leaf_kind", required=False),
                "component_algorithm": text(item, "component_algorithm"),
                "component_digest": digest(item.get("component_digest"), "component_digest"),
                "component_size": integer(item.get("component_size"), "component_size", minimum=0),
                "component_type": text(item, "component_type", required=False),
            }
        )
    total = integer(entry.get("component_count_total"), "component_count_total", minimum=0)
    membership = entry.get("membership_index")
    if membership is not None and not isinstance(membership, dict):
        raise BadRequest("'membership_index' must be an object")
    base["components"] = components
    base["component_count_total"] = total if total is not None else len(components)
    base["membership"] = (
        storable(json.dumps(membership), "membership_index") if membership else None
    )
    return base
