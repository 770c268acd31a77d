"""The lineage endpoints of the GLaaS protocol: the legacy session flow, registration sessions,
artifact lookup and the reproduction DAG.

Every answer is JSON in the ``{"success": true, "data": ...}`` envelope; every refusal is a 4xx
with ``{"success": false, "detail": "..."}``. Reads show what the caller may see (see
``_lineage``); writes need the right to the session they touch.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from roar._version import __version__
from roar.registry.server import _validate as check
from roar.registry.server._context import base_url, caller, ok, registry
from roar.registry.server._validate import BadRequest
from roar.registry.server._viewer import ANONYMOUS, Viewer


async def health(request: web.Request) -> web.Response:
    anonymous = registry(request).anonymous_sessions
    return ok(
        {
            "status": "healthy",
            "server": "roar",
            "version": __version__,
            "features": {
                "registration_sessions": {
                    "anonymous_public": anonymous,
                    "finalize_server_authoritative_hash": True,
                },
                "auth": {"device_code": True, "ssh_signature": True},
            },
        }
    )


def _visibility(body: dict[str, Any], viewer: Viewer) -> str:
    """What ``scope_request`` asks for, checked against who asks; public when absent."""
    scope = body.get("scope_request")
    if scope is None:
        return "public"
    if not isinstance(scope, dict):
        raise BadRequest("'scope_request' must be an object")
    visibility = scope.get("visibility", "public")
    if visibility not in ("public", "private"):
        raise BadRequest("'scope_request.visibility' must be public or private")
    owner = scope.get("owner_id")
    if scope.get("owner_resolution") == "current_user" or owner is not None:
        if viewer.anonymous:
            raise BadRequest("a scoped registration needs a signed-in user (roar login)", 401)
        if owner is not None and str(owner) != str(viewer.user_id):
            raise BadRequest("you cannot register for another owner", 403)
    if visibility == "private" and viewer.anonymous:
        raise BadRequest("a private registration needs a signed-in user (roar login)", 401)
    return str(visibility)


def _git(body: dict[str, Any]) -> dict[str, str | None]:
    return {
        name: check.text(body, name, required=False)
        for name in ("git_repo", "git_commit", "git_branch")
    }


# -- the legacy session flow -------------------------------------------------------------------


async def create_session(request: web.Request) -> web.Response:
    body = await check.read_body(request)
    viewer = (await caller(request)).viewer
    digest = check.digest(body.get("hash"))
    created = await registry(request).lineage.create_session(
        digest, _git(body), viewer, _visibility(body, viewer)
    )
    url = f"{base_url(request)}/sessions/{digest}"
    return ok({"hash": digest, "url": url, "created": created}, status=201 if created else 200)


async def get_session(request: web.Request) -> web.Response:
    viewer = (await caller(request)).viewer
    found = await registry(request).lineage.session(
        check.digest(request.match_info["hash"]), viewer
    )
    if found is None:
        raise BadRequest("no such session", 404)
    return ok(found)


async def public_reproduction(request: web.Request) -> web.Response:
    found = await registry(request).lineage.session(
        check.digest(request.match_info["hash"]), ANONYMOUS
    )
    if found is None:
        raise BadRequest("no such public session", 404)
    return ok(
        {
            "sessionHash": found["hash"],
            "gitRepo": found["git_repo"],
            "gitCommit": found["git_commit"],
            "jobs": found["jobs"],
        }
    )


async def list_sessions(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 0 < int(raw) <= 1000:
        raise BadRequest("'limit' must be an integer from 1 to 1000")
    viewer = (await caller(request)).viewer
    return ok({"sessions": await registry(request).lineage.list_sessions(int(raw), viewer)})


async def _writable_session(request: web.Request) -> str:
    digest = check.digest(request.match_info["hash"])
    await registry(request).lineage.writable(digest, (await caller(request)).viewer)
    return digest


async def add_job(request: web.Request) -> web.Response:
    session = await _writable_session(request)
    job = check.job(await check.read_body(request))
    (job_id,), _ = await registry(request).lineage.add_jobs(session, [job])
    return ok({"id": job_id}, status=201)


async def add_jobs(request: web.Request) -> web.Response:
    session = await _writable_session(request)
    jobs = [check.job(j) for j in check.items(await check.read_body(request), "jobs")]
    ids, created = await registry(request).lineage.add_jobs(session, jobs)
    return ok(
        {
            "job_ids": ids,
            "errors": [],
            "created_count": created,
            "existing_count": len(ids) - created,
        },
        status=201,
    )


async def _owned_sessions(request: web.Request, artifacts: list[dict[str, Any]]) -> None:
    """Each artifact's session must be one the caller may add to (or none)."""
    viewer = (await caller(request)).viewer
    for session in {a["session_hash"] for a in artifacts if a.get("session_hash")}:
        await registry(request).lineage.writable(check.digest(session, "session_hash"), viewer)


async def add_artifacts(request: web.Request) -> web.Response:
    artifacts = [
        check.artifact(a) for a in check.items(await check.read_body(request), "artifacts")
    ]
    await _owned_sessions(request, artifacts)
    created, existing = await registry(request).lineage.add_artifacts(artifacts)
    return ok({"created": created, "existing": existing})


async def add_artifact(request: web.Request) -> web.Response:
    artifact = check.artifact(await check.read_body(request))
    await _owned_sessions(request, [artifact])
    created, _ = await registry(request).lineage.add_artifacts([artifact])
    return ok({"created": bool(created)}, status=201 if created else 200)


async def add_composite(request: web.Request) -> web.Response:
    composite = check.composite(await check.read_body(request))
    await _owned_sessions(request, [composite])
    artifact_id, created = await registry(request).lineage.add_composite(composite)
    return ok({"artifact_id": artifact_id, "created": created}, status=201 if created else 200)


async def staged_composite(request: web.Request) -> web.Response:
    row = await staged_session(request)
    composite = check.composite(await check.read_body(request))
    artifact_id, created = await registry(request).lineage.add_composite(
        composite, session=row["session_hash"]
    )
    return ok({"artifact_id": artifact_id, "created": created}, status=201 if created else 200)


async def get_components(request: web.Request) -> web.Response:
    prefix = check.digest(request.match_info["prefix"], "prefix")
    viewer = (await caller(request)).viewer
    found = await registry(request).lineage.artifacts_by_prefix(prefix, viewer)
    if len(found) != 1:
        raise BadRequest(f"no artifact {prefix} (or the prefix is ambiguous)", 404)
    stored = await registry(request).lineage.components(int(found[0]["id"]))
    return ok({"artifact": found[0], **stored})


def linker(direction: str, *, staged: bool = False) -> Any:
    async def handler(request: web.Request) -> web.Response:
        if staged:
            session = (await staged_session(request))["session_hash"]
        else:
            session = await _writable_session(request)
        links = [check.link(a) for a in check.items(await check.read_body(request), "artifacts")]
        job_uid = request.match_info["job_uid"]
        count = await registry(request).lineage.link(session, job_uid, direction, links)
        if count is None:
            raise BadRequest(f"no job {job_uid} in this session", 404)
        return ok({"job_uid": job_uid, f"{direction}s_linked": count})

    return handler


# -- reading -----------------------------------------------------------------------------------


async def get_artifact(request: web.Request, viewer: Viewer | None = None) -> web.Response:
    prefix = check.digest(request.match_info["prefix"], "prefix")
    viewer = viewer or (await caller(request)).viewer
    found = await registry(request).lineage.artifacts_by_prefix(prefix, viewer)
    if not found:
        raise BadRequest(f"no artifact {prefix}", 404)
    if len(found) > 1:
        raise BadRequest(f"hash prefix {prefix} is ambiguous", 409)
    return ok(found[0])


async def get_public_artifact(request: web.Request) -> web.Response:
    return await get_artifact(request, ANONYMOUS)


async def get_dag(request: web.Request) -> web.Response:
    prefix = check.digest(request.match_info["prefix"], "hash")
    viewer = (await caller(request)).viewer
    dag = await registry(request).lineage.reproduction_dag(prefix, viewer)
    if dag is None:
        raise BadRequest(f"no artifact {prefix} (or the prefix is ambiguous)", 404)
    return ok(dag)


async def get_lineage(request: web.Request) -> web.Response:
    """The upstream lineage, at most ``?depth=N`` jobs deep (1 to 10; default 10)."""
    prefix = check.digest(request.match_info["prefix"], "hash")
    raw = request.query.get("depth", "10")
    if not raw.isdigit() or not 1 <= int(raw) <= 10:
        raise BadRequest("'depth' must be an integer from 1 to 10")
    viewer = (await caller(request)).viewer
    dag = await registry(request).lineage.reproduction_dag(prefix, viewer, depth=int(raw))
    if dag is None:
        raise BadRequest(f"no artifact {prefix} (or the prefix is ambiguous)", 404)
    return ok({**dag, "depth": int(raw)})


# -- registration sessions ---------------------------------------------------------------------


async def open_registration(request: web.Request) -> web.Response:
    body = await check.read_body(request)
    who = await caller(request)
    mode = check.text(body, "mode", required=False) or (
        "anonymous_public" if who.viewer.anonymous else "authenticated"
    )
    if mode == "anonymous_public":
        if not registry(request).anonymous_sessions:
            raise BadRequest("this server does not take anonymous registrations", 403)
        viewer = ANONYMOUS
    elif mode == "authenticated":
        if who.viewer.anonymous:
            raise BadRequest("an authenticated registration needs a signed-in user", 401)
        viewer = who.viewer
    else:
        raise BadRequest("'mode' must be anonymous_public or authenticated")
    client_id = check.text(body, "client_session_id", required=False)
    row, token, created = await registry(request).accounts.open_registration(
        viewer, mode, client_id
    )
    await registry(request).lineage.stage(row["session_hash"], viewer)
    answer: dict[str, Any] = {
        "registration_session_id": row["id"],
        "mode": row["mode"],
        "status": row["status"],
        "created": created,
    }
    if token is not None:
        answer["registration_session_token"] = token
    return ok(answer, status=201 if created else 200)


async def staged_session(request: web.Request, *, open_only: bool = True) -> dict[str, Any]:
    """The registration session of the URL, if the caller holds it (its token, or its owner's
    credentials)."""
    ident = request.match_info["rid"]
    row = await registry(request).accounts.registration(ident)
    who = await caller(request)
    holder = row is not None and (
        (who.registration_token is not None and who.registration_token == row["token_hash"])
        or (row["owner_id"] is not None and row["owner_id"] == who.viewer.user_id)
    )
    if row is None or not holder:
        raise BadRequest(f"no registration session {ident} for these credentials", 404)
    if open_only and row["status"] != "open":
        raise BadRequest(f"registration session {ident} is already finalized", 409)
    return row


def _owner(row: dict[str, Any]) -> Viewer:
    return Viewer(row["owner_id"]) if row["owner_id"] is not None else ANONYMOUS


async def staged_jobs(request: web.Request) -> web.Response:
    row = await staged_session(request)
    body = await check.read_body(request)
    jobs = (
        [check.job(j) for j in check.items(body, "jobs")]
        if request.path.endswith("/batch")
        else [check.job(body)]
    )
    ids, created = await registry(request).lineage.add_jobs(row["session_hash"], jobs)
    if not request.path.endswith("/batch"):
        return ok({"id": ids[0]}, status=201)
    return ok(
        {
            "job_ids": ids,
            "errors": [],
            "created_count": created,
            "existing_count": len(ids) - created,
            "already_registered_session_hashes": [],
            "existing_binding_prepared": False,
        },
        status=201,
    )


async def staged_artifacts(request: web.Request) -> web.Response:
    row = await staged_session(request)
    body = await check.read_body(request)
    artifacts = [check.artifact(a) for a in check.items(body, "artifacts")]
    created, existing = await registry(request).lineage.add_artifacts(
        artifacts, session=row["session_hash"]
    )
    # `errors` is a count: the reference client does arithmetic with it.
    return ok({"created": created, "updated": existing, "errors": 0})


async def finalize(request: web.Request) -> web.Response:
    row = await staged_session(request, open_only=False)
    reg = registry(request)
    if row["status"] != "open":
        published = str(row["published"])
        return ok(_published(request, row, published, created=False))
    body = await check.read_body(request)
    owner = _owner(row)
    visibility = "public" if row["mode"] == "anonymous_public" else _visibility(body, owner)
    if row["mode"] != "anonymous_public" and body.get("scope_request") is None:
        visibility = "private"
    expected = body.get("expected")
    if expected is not None:
        if not isinstance(expected, dict):
            raise BadRequest("'expected' must be an object of counts")
        counts = await reg.lineage.staged_counts(row["session_hash"])
        wrong = [
            f"{name}: expected {expected[name]}, received {counts[name]}"
            for name in ("jobs", "inputs", "outputs")
            if name in expected and expected[name] != counts[name]
        ]
        if wrong:
            raise BadRequest("the registration is incomplete (" + "; ".join(wrong) + ")", 409)
    published, created = await reg.lineage.publish(
        row["session_hash"], _git(body), owner, visibility
    )
    await reg.accounts.close_registration(row["id"], published)
    return ok(_published(request, row, published, created=created))


def _published(
    request: web.Request, row: dict[str, Any], published: str, *, created: bool
) -> dict[str, Any]:
    url = f"{base_url(request)}/sessions/{published}"
    return {
        "published_session_hash": published,
        "session_hash": published,
        "published_url": url,
        "url": url,
        "mode": row["mode"],
        "status": "closed",
        "created": created,
    }
