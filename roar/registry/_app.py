"""The registry's HTTP API: the GLaaS endpoints `roar register` and `roar reproduce` use.

Every answer is JSON in the ``{"success": true, "data": ...}`` envelope; every refusal is a 4xx
with ``{"success": false, "detail": "..."}`` — bad JSON, wrong types, missing fields, bodies over
the size limit, unknown sessions or hashes — never a 500 for anything a client sends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from roar._version import __version__
from roar.registry._storage import RegistryStore

MAX_BODY = 16 * 1024 * 1024
MAX_BATCH = 5000
_HEX = re.compile(r"^[0-9a-fA-F]{4,128}$")
STORE = web.AppKey("store", RegistryStore)


class BadRequest(Exception):
    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.status = status


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "data": data}, status=status)


def refuse(status: int, detail: str) -> web.Response:
    return web.json_response({"success": False, "detail": detail}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        return refuse(exc.status, str(exc))
    except web.HTTPRequestEntityTooLarge:
        return refuse(413, f"request body over {MAX_BODY} bytes")
    except web.HTTPException as exc:
        return refuse(exc.status, exc.reason)


async def _body(request: web.Request) -> dict[str, Any]:
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


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"'{name}' is required")
        return None
    if not isinstance(value, str) or not value or len(value) > 100_000:
        raise BadRequest(f"'{name}' must be a non-empty string")
    return value


def _number(body: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"'{name}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"'{name}' must be a number")
    return float(value)


def _digest(value: object, what: str = "hash") -> str:
    if not isinstance(value, str) or not _HEX.match(value):
        raise BadRequest(f"'{what}' must be a hex digest")
    return value.lower()


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if not isinstance(value, list):
        raise BadRequest(f"'{name}' must be a list")
    if len(value) > MAX_BATCH:
        raise BadRequest(f"'{name}' has more than {MAX_BATCH} entries")
    return value


def _job(entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise BadRequest("each job must be an object")
    job_uid = _text(entry, "job_uid")
    command = _text(entry, "command")
    timestamp = _number(entry, "timestamp", required=True)
    step = entry.get("step_number")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise BadRequest("'step_number' must be a non-negative integer")
    metadata = entry.get("metadata", "{}")
    if isinstance(metadata, dict):
        metadata = json.dumps(metadata)
    if not isinstance(metadata, str):
        raise BadRequest("'metadata' must be a JSON string")
    exit_code = entry.get("exit_code")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise BadRequest("'exit_code' must be an integer")
    return {
        "job_uid": job_uid,
        "command": command,
        "timestamp": timestamp,
        "git_commit": _text(entry, "git_commit", required=False),
        "git_branch": _text(entry, "git_branch", required=False),
        "duration_seconds": _number(entry, "duration_seconds"),
        "exit_code": exit_code,
        "job_type": _text(entry, "job_type", required=False) or "run",
        "step_number": step,
        "metadata": metadata,
    }


def _artifact(entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise BadRequest("each artifact must be an object")
    hashes = entry.get("hashes")
    if not isinstance(hashes, list) or not hashes:
        raise BadRequest("'hashes' must be a non-empty list")
    pairs = []
    for item in hashes:
        if not isinstance(item, dict):
            raise BadRequest("each hash must be {algorithm, digest}")
        algorithm = _text(item, "algorithm")
        pairs.append({"algorithm": algorithm, "digest": _digest(item.get("digest"), "digest")})
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise BadRequest("'size' must be a non-negative integer")
    metadata = entry.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        metadata = json.dumps(metadata)
    return {
        "hashes": pairs,
        "size": size,
        "source_type": _text(entry, "source_type", required=False),
        "metadata": metadata,
        "session_hash": _text(entry, "session_hash", required=False),
    }


def _link(entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise BadRequest("each artifact link must be an object")
    ranges = entry.get("byte_ranges")
    if ranges is not None and not (
        isinstance(ranges, list)
        and all(
            isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) for x in r)
            for r in ranges
        )
    ):
        raise BadRequest("'byte_ranges' must be a list of [first, last] pairs")
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise BadRequest("'size' must be an integer")
    return {
        "hash": _hash_or_etag(entry.get("hash")),
        "path": _text(entry, "path", required=False),
        "size": size,
        "byte_ranges": ranges,
    }


def _hash_or_etag(value: object) -> str:
    if isinstance(value, str) and value.startswith("etag:") and 5 < len(value) < 200:
        return value
    return _digest(value)


# -- handlers ----------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    return ok(
        {
            "status": "ok",
            "server": "roar",
            "version": __version__,
            "features": {"registration_sessions": {"anonymous_public": False}},
        }
    )


async def create_session(request: web.Request) -> web.Response:
    body = await _body(request)
    digest = _digest(body.get("hash"))
    created = await request.app[STORE].create_session(
        digest,
        _text(body, "git_repo", required=False),
        _text(body, "git_commit", required=False),
        _text(body, "git_branch", required=False),
    )
    url = f"{request.scheme}://{request.host}/api/v1/sessions/{digest}"
    return ok({"hash": digest, "url": url, "created": created}, status=201 if created else 200)


async def get_session(request: web.Request) -> web.Response:
    found = await request.app[STORE].session(_digest(request.match_info["hash"]))
    if found is None:
        raise BadRequest("no such session", 404)
    return ok(found)


async def list_sessions(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 0 < int(raw) <= 1000:
        raise BadRequest("'limit' must be an integer from 1 to 1000")
    return ok({"sessions": await request.app[STORE].list_sessions(int(raw))})


async def _known_session(request: web.Request) -> str:
    digest = _digest(request.match_info["hash"])
    if not await request.app[STORE].has_session(digest):
        raise BadRequest(f"no session {digest[:16]} (POST /api/v1/sessions first)", 404)
    return digest


async def add_job(request: web.Request) -> web.Response:
    session = await _known_session(request)
    (job_id,) = await request.app[STORE].add_jobs(session, [_job(await _body(request))])
    return ok({"id": job_id}, status=201)


async def add_jobs(request: web.Request) -> web.Response:
    session = await _known_session(request)
    jobs = [_job(j) for j in _list(await _body(request), "jobs")]
    ids = await request.app[STORE].add_jobs(session, jobs)
    return ok({"job_ids": ids, "errors": []}, status=201)


async def add_artifacts(request: web.Request) -> web.Response:
    artifacts = [_artifact(a) for a in _list(await _body(request), "artifacts")]
    created, existing = await request.app[STORE].add_artifacts(artifacts)
    return ok({"created": created, "existing": existing})


async def add_artifact(request: web.Request) -> web.Response:
    created, _ = await request.app[STORE].add_artifacts([_artifact(await _body(request))])
    return ok({"created": bool(created)}, status=201 if created else 200)


def _linker(direction: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        session = await _known_session(request)
        links = [_link(a) for a in _list(await _body(request), "artifacts")]
        job_uid = request.match_info["job_uid"]
        count = await request.app[STORE].link(session, job_uid, direction, links)
        if count is None:
            raise BadRequest(f"no job {job_uid} in session {session[:16]}", 404)
        return ok({"job_uid": job_uid, f"{direction}s_linked": count})

    return handler


async def get_artifact(request: web.Request) -> web.Response:
    prefix = _digest(request.match_info["prefix"], "prefix")
    found = await request.app[STORE].artifacts_by_prefix(prefix)
    if not found:
        raise BadRequest(f"no artifact {prefix}", 404)
    if len(found) > 1:
        raise BadRequest(f"hash prefix {prefix} is ambiguous", 409)
    return ok(found[0])


async def get_dag(request: web.Request) -> web.Response:
    prefix = _digest(request.match_info["prefix"], "hash")
    dag = await request.app[STORE].reproduction_dag(prefix)
    if dag is None:
        raise BadRequest(f"no artifact {prefix} (or the prefix is ambiguous)", 404)
    return ok(dag)


async def openapi(request: web.Request) -> web.Response:
    from roar.registry._openapi import document

    return web.json_response(document())


def make_app(store: RegistryStore) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors])
    app[STORE] = store
    api = "/api/v1"
    app.router.add_get(f"{api}/health", health)
    app.router.add_get(f"{api}/sessions", list_sessions)
    app.router.add_post(f"{api}/sessions", create_session)
    app.router.add_get(f"{api}/sessions/{{hash}}", get_session)
    app.router.add_post(f"{api}/sessions/{{hash}}/jobs", add_job)
    app.router.add_post(f"{api}/sessions/{{hash}}/jobs/batch", add_jobs)
    app.router.add_post(f"{api}/sessions/{{hash}}/jobs/{{job_uid}}/inputs", _linker("input"))
    app.router.add_post(f"{api}/sessions/{{hash}}/jobs/{{job_uid}}/outputs", _linker("output"))
    app.router.add_post(f"{api}/artifacts", add_artifact)
    app.router.add_post(f"{api}/artifacts/batch", add_artifacts)
    app.router.add_get(f"{api}/artifacts/{{prefix}}", get_artifact)
    app.router.add_get(f"{api}/public/artifacts/{{prefix}}", get_artifact)
    app.router.add_get(f"{api}/artifacts/{{prefix}}/dag", get_dag)
    app.router.add_get(f"{api}/openapi.json", openapi)
    return app
