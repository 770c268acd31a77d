"""The label endpoints: sync and reconcile from a client, read the current document or its
history, and the batch a registration session posts after it is finalized."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from roar.registry.server import _validate as check
from roar.registry.server._api import staged_session
from roar.registry.server._context import caller, ok, registry
from roar.registry.server._labels import ENTITY_TYPES, LabelKey
from roar.registry.server._validate import BadRequest
from roar.registry.server._viewer import Viewer


def _key(entry: dict[str, Any], session_hash: str | None = None) -> LabelKey:
    entity = entry.get("entity_type")
    if entity not in ENTITY_TYPES:
        raise BadRequest("'entity_type' must be dag, job or artifact")
    session = check.digest(session_hash or entry.get("session_hash"), "session_hash")
    job_uid = check.text(entry, "job_uid", required=entity == "job") or ""
    artifact = entry.get("artifact_hash")
    artifact_hash = check.digest(artifact, "artifact_hash") if entity == "artifact" else ""
    if entity != "artifact" and artifact is not None:
        raise BadRequest("'artifact_hash' is only for artifact labels")
    return LabelKey(str(entity), session, job_uid if entity == "job" else "", artifact_hash)


def _document(entry: dict[str, Any], name: str) -> dict[str, Any]:
    value = entry.get(name, {})
    if not isinstance(value, dict):
        raise BadRequest(f"'{name}' must be an object")
    return value


async def _write_all(
    request: web.Request,
    labels: list[Any],
    viewer: Viewer | None,
    *,
    merge: bool = False,
    dry_run: bool = False,
    session_hash: str | None = None,
) -> dict[str, int]:
    reg = registry(request)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for entry in labels:
        if not isinstance(entry, dict):
            raise BadRequest("each label must be an object")
        key = _key(entry, session_hash)
        if viewer is not None:
            await reg.lineage.writable(key.session_hash, viewer)
        deleted = entry.get("deleted_keys") or []
        if not isinstance(deleted, list) or not all(isinstance(k, str) for k in deleted):
            raise BadRequest("'deleted_keys' must be a list of dotted key paths")
        outcome = await reg.labels.write(
            key,
            _document(entry, "metadata"),
            _document(entry, "key_origins"),
            merge=merge,
            deleted_keys=deleted,
            dry_run=dry_run,
        )
        counts[outcome] += 1
    return counts


async def sync(request: web.Request) -> web.Response:
    body = await check.read_body(request)
    viewer = (await caller(request)).viewer
    return ok(await _write_all(request, check.items(body, "labels"), viewer))


async def reconcile(request: web.Request) -> web.Response:
    body = await check.read_body(request)
    viewer = (await caller(request)).viewer
    session = check.digest(body.get("session_hash"), "session_hash")
    dry_run = body.get("dry_run") is True
    counts = await _write_all(
        request,
        check.items(body, "labels"),
        viewer,
        merge=True,
        dry_run=dry_run,
        session_hash=session,
    )
    return ok({**counts, "dry_run": dry_run, "session_hash": session})


async def staged_labels(request: web.Request) -> web.Response:
    """Labels a registration session posts for the session it published."""
    row = await staged_session(request, open_only=False)
    if row["status"] == "open":
        raise BadRequest("finalize the registration session before labelling it", 409)
    labels = check.items(await check.read_body(request), "labels")
    for entry in labels:
        if isinstance(entry, dict) and entry.get("session_hash") not in (None, row["published"]):
            raise BadRequest("labels must be for the session this registration published", 403)
    counts = await _write_all(request, labels, None, session_hash=str(row["published"]))
    return ok(
        {"created": counts["created"], "updated": counts["updated"], "noops": counts["unchanged"]}
    )


async def _query_key(request: web.Request) -> LabelKey:
    key = _key(dict(request.query))
    found = await registry(request).lineage.session(
        key.session_hash, (await caller(request)).viewer
    )
    if found is None:
        raise BadRequest("no such session", 404)
    return key


async def current(request: web.Request) -> web.Response:
    key = await _query_key(request)
    label = await registry(request).labels.current(key)
    if label is None:
        raise BadRequest("no label on that entity", 404)
    return ok(label)


async def history(request: web.Request) -> web.Response:
    key = await _query_key(request)
    return ok({"versions": await registry(request).labels.history(key)})
