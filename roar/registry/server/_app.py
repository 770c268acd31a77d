"""`roar server`'s aiohttp application: the API routes, the web pages, and the one middleware
that turns every refusal into a 4xx in the envelope (never a 500 for anything a client sends)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from roar.registry.server import _api, _auth_api, _labels_api, _web
from roar.registry.server._context import REGISTRY, Registry, refuse
from roar.registry.server._validate import MAX_BODY, BadRequest
from roar.registry.server._viewer import Forbidden

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API = "/api/v1"


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (BadRequest, Forbidden) as exc:
        if not request.path.startswith(API):
            return _web.error_page(exc.status, str(exc))
        return refuse(exc.status, str(exc))
    except web.HTTPRequestEntityTooLarge:
        return refuse(413, f"request body over {MAX_BODY} bytes")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return refuse(exc.status, exc.reason)


async def openapi(request: web.Request) -> web.Response:
    from roar.registry.server._openapi import document

    return web.json_response(document())


def make_app(registry: Registry) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors])
    app[REGISTRY] = registry
    get, post = app.router.add_get, app.router.add_post
    get(f"{API}/health", _api.health)
    get(f"{API}/openapi.json", openapi)
    # The legacy session flow.
    get(f"{API}/sessions", _api.list_sessions)
    post(f"{API}/sessions", _api.create_session)
    get(f"{API}/sessions/{{hash}}", _api.get_session)
    post(f"{API}/sessions/{{hash}}/jobs", _api.add_job)
    post(f"{API}/sessions/{{hash}}/jobs/batch", _api.add_jobs)
    post(f"{API}/sessions/{{hash}}/jobs/{{job_uid}}/inputs", _api.linker("input"))
    post(f"{API}/sessions/{{hash}}/jobs/{{job_uid}}/outputs", _api.linker("output"))
    post(f"{API}/artifacts", _api.add_artifact)
    post(f"{API}/artifacts/batch", _api.add_artifacts)
    post(f"{API}/artifacts/composites", _api.add_composite)
    get(f"{API}/artifacts/{{prefix}}", _api.get_artifact)
    get(f"{API}/public/artifacts/{{prefix}}", _api.get_public_artifact)
    get(f"{API}/artifacts/{{prefix}}/dag", _api.get_dag)
    get(f"{API}/artifacts/{{prefix}}/lineage", _api.get_lineage)
    get(f"{API}/artifacts/{{prefix}}/components", _api.get_components)
    get(f"{API}/public/sessions/{{hash}}/reproduction", _api.public_reproduction)
    # Registration sessions: staged, then finalized under the server's hash.
    rs = f"{API}/registration-sessions/{{rid}}"
    post(f"{API}/registration-sessions", _api.open_registration)
    post(f"{rs}/jobs", _api.staged_jobs)
    post(f"{rs}/jobs/batch", _api.staged_jobs)
    post(f"{rs}/artifacts/batch", _api.staged_artifacts)
    post(f"{rs}/artifacts/composites", _api.staged_composite)
    post(f"{rs}/jobs/{{job_uid}}/inputs", _api.linker("input", staged=True))
    post(f"{rs}/jobs/{{job_uid}}/outputs", _api.linker("output", staged=True))
    post(f"{rs}/finalize", _api.finalize)
    post(f"{rs}/labels/batch", _labels_api.staged_labels)
    # Labels.
    post(f"{API}/labels/sync", _labels_api.sync)
    post(f"{API}/labels/reconcile", _labels_api.reconcile)
    get(f"{API}/labels/current", _labels_api.current)
    get(f"{API}/labels/history", _labels_api.history)
    # Accounts.
    post(f"{API}/auth/device/start", _auth_api.device_start)
    post(f"{API}/auth/device/token", _auth_api.device_token)
    get(f"{API}/auth/access-context", _auth_api.access_context)
    get(f"{API}/user/access-context", _auth_api.access_context)
    get(f"{API}/auth/me", _auth_api.me)
    post(f"{API}/auth/refresh", _auth_api.refresh)
    post(f"{API}/auth/logout", _auth_api.logout)
    post(f"{API}/auth/keys", _auth_api.add_key)
    _web.add_routes(app)
    return app
