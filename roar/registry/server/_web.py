"""The registry's web pages: search, artifact, job and session pages, signing in, device approval,
and adding an SSH key. Pages show what their reader may see: public lineage, and once signed in
(a session cookie, HttpOnly, holding an access token) their own private lineage too. Every value
is escaped."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any
from urllib.parse import quote

from aiohttp import web

from roar.registry.server._context import base_url, registry
from roar.registry.server._picture import upstream_svg
from roar.registry.server._sshsig import BadSignature, fingerprint
from roar.registry.server._viewer import ANONYMOUS, Viewer

_HEX = re.compile(r"^[0-9a-fA-F]{4,128}$")
_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{background:#20304a;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:bold}
main{padding:16px 24px}
code,pre{font-family:monospace;background:#f3f3f3;padding:2px 4px}
pre{padding:8px;overflow:auto}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
.muted{color:#777}.error{color:#a00}
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)} · roar</title>"
        f"<style>{_STYLE}</style></head><body><header><a href='/'>roar registry</a>"
        "<form action='/search' method='get'><input name='q' id='q' size='40' "
        "placeholder='hash prefix or path'> <button type='submit'>Search</button></form>"
        "<a href='/login' id='sign-in'>Sign in</a>"
        f"</header><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return web.Response(text=html, content_type="text/html", status=status)


def error_page(status: int, detail: str) -> web.Response:
    return _page(
        "Not found" if status == 404 else "Refused",
        f"<p class='error'>{escape(detail)}</p>",
        status,
    )


SESSION_COOKIE = "roar_session"


async def _viewer(request: web.Request) -> Viewer:
    """Who reads the page: the user of a live session cookie, else anonymous."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return ANONYMOUS
    found = await registry(request).accounts.token_user(token)
    return found[0] if found else ANONYMOUS


def _artifact_href(digest: str) -> str:
    return f"/artifacts/{quote(digest)}"


def _job_href(session: str, job_uid: str) -> str:
    return f"/sessions/{quote(session)}/jobs/{quote(job_uid)}"


def _session_href(session: str) -> str:
    return f"/sessions/{quote(session)}"


def _size(value: Any) -> str:
    return f"{value:,} bytes" if isinstance(value, int) else "unknown size"


def _files(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "<p class='muted'>none</p>"
    rows = "".join(
        f"<tr><td><a class='artifact-link' href='{_artifact_href(e['hash'])}'>"
        f"{escape(str(e.get('path') or e['hash']))}</a></td>"
        f"<td><code>{escape(e['hash'][:16])}</code></td></tr>"
        for e in entries
    )
    return f"<table>{rows}</table>"


def _job_rows(jobs: list[dict[str, Any]]) -> str:
    if not jobs:
        return "<p class='muted'>none</p>"
    rows = "".join(
        f"<tr><td>@{escape(str(j.get('stepNumber')))}</td><td><a class='job-link' "
        f"href='{_job_href(j['sessionHash'], j['jobUid'])}'>{escape(j['command'])}</a></td>"
        f"<td>{escape(str(j.get('jobType') or 'run'))}</td></tr>"
        for j in jobs
    )
    return f"<table>{rows}</table>"


async def home(request: web.Request) -> web.Response:
    sessions = await registry(request).lineage.list_sessions(20, await _viewer(request))
    rows = "".join(
        f"<tr><td><a href='{_session_href(s['hash'])}'><code>{escape(s['hash'][:16])}</code></a>"
        f"</td><td>{escape(str(s.get('git_repo') or ''))}</td><td>{s['job_count']} job(s)</td></tr>"
        for s in sessions
    )
    body = (
        "<p>Look an artifact up by hash prefix or path in the box above.</p>"
        f"<h2>Recent sessions</h2><table>{rows}</table>"
        if rows
        else "<p>Nothing is registered yet: <code>roar register</code> publishes here.</p>"
    )
    return _page("Lineage registry", body)


async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip()
    lineage = registry(request).lineage
    viewer = await _viewer(request)
    if not query:
        raise web.HTTPFound("/")
    found = (
        await lineage.artifacts_by_prefix(query, viewer) if _HEX.match(query) else []
    ) or await lineage.artifacts_by_path(query, viewer)
    if len(found) == 1:
        raise web.HTTPFound(_artifact_href(found[0]["hash"]))
    if not found:
        return _page(f"No match for {query}", "<p>No public artifact has that hash or path.</p>")
    rows = "".join(
        f"<tr><td><a class='artifact-link' href='{_artifact_href(a['hash'])}'>"
        f"<code>{escape(a['hash'][:16])}</code></a></td>"
        f"<td>{escape(str(a.get('path') or ''))}</td><td>{_size(a.get('size'))}</td></tr>"
        for a in found
    )
    return _page(f"Artifacts matching {query}", f"<table>{rows}</table>")


async def artifact(request: web.Request) -> web.Response:
    prefix = request.match_info["hash"]
    lineage = registry(request).lineage
    viewer = await _viewer(request)
    found = await lineage.artifacts_by_prefix(prefix, viewer) if _HEX.match(prefix) else []
    if len(found) != 1:
        return error_page(404, f"no artifact you can see: {prefix}")
    item = found[0]
    digest = str(item["hash"])
    if prefix.lower() != digest:
        raise web.HTTPFound(_artifact_href(digest))
    producers = await lineage.producers(digest, viewer)
    consumers = await lineage.consumers(digest, viewer)
    dag = await lineage.reproduction_dag(digest, viewer)
    names = sorted({o["path"] for j in producers for o in j["outputs"] if o["hash"] == digest})
    title = names[0].rsplit("/", 1)[-1] if names else digest[:16]
    hashes = "".join(
        f"<tr><th>{escape(h['algorithm'])}</th><td><code>{escape(h['digest'])}</code></td></tr>"
        for h in item["hashes"]
    )
    picture = (
        upstream_svg(
            {**(dag or {}), "artifact": {**item, "path": title}}, _artifact_href, _job_href
        )
        if dag and dag["jobs"]
        else "<p class='muted'>No job that made it is registered (an external input).</p>"
    )
    command = f"GLAAS_URL={base_url(request)} roar reproduce {digest[:16]}"
    body = (
        f"<table>{hashes}<tr><th>size</th><td>{_size(item.get('size'))}</td></tr>"
        f"<tr><th>paths</th><td>{escape(', '.join(names) or '-')}</td></tr></table>"
        f"<h2>Produced by</h2>{_job_rows(producers)}"
        f"<h2>Read by</h2>{_job_rows(consumers)}"
        f"<h2>Upstream</h2>{picture}"
        "<h2>Reproduce with roar</h2>"
        f"<pre id='reproduce-command'>{escape(command)}</pre>"
    )
    return _page(title, body)


async def session(request: web.Request) -> web.Response:
    digest = request.match_info["hash"]
    found = (
        await registry(request).lineage.session(digest.lower(), await _viewer(request))
        if _HEX.match(digest)
        else None
    )
    if found is None:
        return error_page(404, f"no session you can see: {digest}")
    facts = "".join(
        f"<tr><th>{name}</th><td>{escape(str(found.get(key) or '-'))}</td></tr>"
        for name, key in (
            ("git repo", "git_repo"),
            ("commit", "git_commit"),
            ("branch", "git_branch"),
        )
    )
    body = (
        f"<p><code>{escape(found['hash'])}</code></p><table>{facts}</table>"
        f"<h2>Jobs</h2>{_job_rows(found['jobs'])}"
    )
    return _page(f"Session {found['hash'][:16]}", body)


async def job(request: web.Request) -> web.Response:
    session_hash, job_uid = request.match_info["hash"], request.match_info["uid"]
    viewer = await _viewer(request)
    found = await registry(request).lineage.job(session_hash.lower(), job_uid, viewer)
    if found is None:
        return error_page(404, f"no job you can see: {job_uid}")
    try:
        metadata = json.loads(found.get("metadata") or "{}")
    except ValueError:
        metadata = {}
    packages = metadata.get("packages") if isinstance(metadata, dict) else None
    facts = "".join(
        f"<tr><th>{name}</th><td>{escape(str(value))}</td></tr>"
        for name, value in (
            ("step", f"@{found.get('stepNumber')}"),
            ("type", found.get("jobType") or "run"),
            ("exit code", found.get("exitCode")),
            ("duration", f"{found.get('durationSeconds') or 0:.2f} s"),
            ("commit", found.get("gitCommit") or "-"),
            ("packages", len(packages) if isinstance(packages, dict) else "-"),
        )
    )
    body = (
        f"<pre id='job-command'>{escape(found['command'])}</pre><table>{facts}</table>"
        f"<p>Session <a class='session-link' href='{_session_href(found['sessionHash'])}'>"
        f"<code>{escape(found['sessionHash'][:16])}</code></a></p>"
        f"<h2>Inputs</h2>{_files(found['inputs'])}<h2>Outputs</h2>{_files(found['outputs'])}"
    )
    return _page(f"Job @{found.get('stepNumber')}", body)


# -- accounts ------------------------------------------------------------------------------------


async def _credentials(request: web.Request) -> tuple[Any, Viewer | None]:
    """The posted form, and the user its username and password prove (None: wrong)."""
    form = await request.post()
    viewer = await registry(request).accounts.check_password(
        str(form.get("username", "")), str(form.get("password", ""))
    )
    return form, viewer


def _credentials_form(action: str, extra: str, button: str) -> str:
    return (
        f"<form method='post' action='{action}'>{extra}"
        "<p><label>User <input name='username' id='username' autocomplete='username'></label></p>"
        "<p><label>Password <input name='password' id='password' type='password' "
        "autocomplete='current-password'></label></p>"
        f"{button}</form>"
    )


async def device(request: web.Request) -> web.Response:
    code = escape(request.query.get("user_code", ""))
    extra = (
        "<p>Approve a <code>roar login</code> by entering the code it shows.</p>"
        f"<p><label>Code <input name='user_code' id='user_code' value='{code}'></label></p>"
    )
    buttons = (
        "<button type='submit' name='decision' value='approve' id='approve'>Approve</button> "
        "<button type='submit' name='decision' value='deny' id='deny'>Deny</button>"
    )
    return _page("Approve a device", _credentials_form("/device", extra, buttons))


async def decide_device(request: web.Request) -> web.Response:
    form, viewer = await _credentials(request)
    accounts = registry(request).accounts
    if viewer is None:
        return _page("Approve a device", "<p class='error'>Wrong user or password.</p>", 401)
    approve = form.get("decision") != "deny"
    if not await accounts.decide_device(str(form.get("user_code", "")), viewer, approve):
        return _page(
            "Approve a device",
            "<p class='error'>No pending login has that code (or it expired).</p>",
            400,
        )
    verdict = "approved" if approve else "denied"
    return _page(
        f"Device {verdict}", f"<p id='verdict'>The login is {verdict}. You can close this page.</p>"
    )


async def keys(request: web.Request) -> web.Response:
    extra = (
        "<p>Register the SSH public key <code>roar auth key</code> prints.</p>"
        "<p><textarea name='public_key' id='public_key' rows='3' cols='80'></textarea></p>"
    )
    return _page(
        "Add an SSH key",
        _credentials_form("/account/keys", extra, "<button type='submit'>Add</button>"),
    )


async def add_key(request: web.Request) -> web.Response:
    form, viewer = await _credentials(request)
    accounts = registry(request).accounts
    if viewer is None or viewer.user_id is None:
        return _page("Add an SSH key", "<p class='error'>Wrong user or password.</p>", 401)
    public_key = str(form.get("public_key", "")).strip()
    try:
        key_id = fingerprint(public_key)
        await accounts.add_key(viewer.user_id, public_key, key_id)
    except (BadSignature, ValueError) as exc:
        return _page("Add an SSH key", f"<p class='error'>{escape(str(exc))}</p>", 400)
    return _page("Key added", f"<p>Added <code>{escape(key_id)}</code>.</p>")


async def login_page(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    if not viewer.anonymous:
        return _page(
            "Signed in",
            f"<p id='signed-in'>Signed in as {escape(viewer.username or '')}.</p>"
            "<form method='post' action='/logout'><button type='submit' id='sign-out'>"
            "Sign out</button></form>",
        )
    return _page(
        "Sign in",
        _credentials_form("/login", "", "<button type='submit' id='submit'>Sign in</button>"),
    )


async def login(request: web.Request) -> web.Response:
    _, viewer = await _credentials(request)
    accounts = registry(request).accounts
    if viewer is None or viewer.user_id is None:
        return _page("Sign in", "<p class='error'>Wrong user or password.</p>", 401)
    tokens = await accounts.issue_tokens(viewer.user_id)
    response = _page(
        "Signed in", f"<p id='signed-in'>Signed in as {escape(viewer.username or '')}.</p>"
    )
    response.set_cookie(
        SESSION_COOKIE,
        tokens["access_token"],
        httponly=True,
        samesite="Lax",
        max_age=int(tokens["expires_in"]),
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE)
    accounts = registry(request).accounts
    found = await accounts.token_user(token) if token else None
    if found is not None:
        await accounts.revoke_family(found[1])
    response = _page("Signed out", "<p id='signed-out'>Signed out.</p>")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/search", search)
    app.router.add_get("/artifacts/{hash}", artifact)
    app.router.add_get("/sessions/{hash}", session)
    app.router.add_get("/sessions/{hash}/jobs/{uid}", job)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/device", device)
    app.router.add_post("/device", decide_device)
    app.router.add_get("/account/keys", keys)
    app.router.add_post("/account/keys", add_key)
