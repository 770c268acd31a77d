"""The OpenAPI 3.1 description of what `roar server` serves (``GET /api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from roar._version import __version__

_HEX = {"type": "string", "pattern": "^[0-9a-fA-F]{4,128}$"}
_ERROR = {
    "description": "Refused: the detail says why",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["success", "detail"],
                "properties": {"success": {"const": False}, "detail": {"type": "string"}},
            }
        }
    },
}
_JOB = {
    "type": "object",
    "required": ["job_uid", "command", "timestamp", "step_number"],
    "properties": {
        "job_uid": {"type": "string"},
        "command": {"type": "string"},
        "timestamp": {"type": "number"},
        "git_commit": {"type": ["string", "null"]},
        "git_branch": {"type": ["string", "null"]},
        "duration_seconds": {"type": ["number", "null"]},
        "exit_code": {"type": ["integer", "null"]},
        "job_type": {"type": "string", "default": "run"},
        "step_number": {"type": "integer", "minimum": 0},
        "metadata": {"type": "string", "description": "a JSON document, as a string"},
    },
}
_ARTIFACT = {
    "type": "object",
    "required": ["hashes"],
    "properties": {
        "hashes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["algorithm", "digest"],
                "properties": {"algorithm": {"type": "string"}, "digest": _HEX},
            },
        },
        "size": {"type": ["integer", "null"], "minimum": 0},
        "source_type": {"type": ["string", "null"]},
        "session_hash": {"type": ["string", "null"]},
        "metadata": {"type": ["string", "null"]},
    },
}
_LINKS = {
    "type": "object",
    "required": ["artifacts"],
    "properties": {
        "artifacts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["hash"],
                "properties": {
                    "hash": {"type": "string"},
                    "path": {"type": "string"},
                    "size": {"type": "integer"},
                    "byte_ranges": {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            },
        }
    },
}


def _op(summary: str, body: dict[str, Any] | None = None, ok: str = "200") -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {
            ok: {
                "description": 'Done: {"success": true, "data": ...}',
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ok"}}},
            },
            "400": _ERROR,
            "404": _ERROR,
            "413": _ERROR,
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def _param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def document() -> dict[str, Any]:
    session = [_param("hash")]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "roar registry (GLaaS protocol)",
            "version": __version__,
            "description": "The lineage registry `roar server` runs: what `roar register` "
            "publishes and `roar reproduce HASH` reads back.",
        },
        "paths": {
            "/api/v1/health": {"get": _op("Liveness and features")},
            "/api/v1/sessions": {
                "post": _op(
                    "Create a session (idempotent)",
                    {
                        "type": "object",
                        "required": ["hash"],
                        "properties": {
                            "hash": _HEX,
                            "git_repo": {"type": "string"},
                            "git_commit": {"type": "string"},
                            "git_branch": {"type": "string"},
                        },
                    },
                    "201",
                ),
                "get": _op("The newest sessions (?limit=N, at most 1000)"),
            },
            "/api/v1/sessions/{hash}": {
                "get": {**_op("A session and its jobs"), "parameters": session}
            },
            "/api/v1/sessions/{hash}/jobs": {
                "post": {**_op("Add one job", _JOB, "201"), "parameters": session}
            },
            "/api/v1/sessions/{hash}/jobs/batch": {
                "post": {
                    **_op(
                        "Add jobs",
                        {
                            "type": "object",
                            "properties": {"jobs": {"type": "array", "items": _JOB}},
                        },
                        "201",
                    ),
                    "parameters": session,
                }
            },
            "/api/v1/sessions/{hash}/jobs/{job_uid}/inputs": {
                "post": {
                    **_op("Link a job's inputs", _LINKS),
                    "parameters": [*session, _param("job_uid")],
                }
            },
            "/api/v1/sessions/{hash}/jobs/{job_uid}/outputs": {
                "post": {
                    **_op("Link a job's outputs", _LINKS),
                    "parameters": [*session, _param("job_uid")],
                }
            },
            "/api/v1/artifacts": {"post": _op("Register one artifact", _ARTIFACT, "201")},
            "/api/v1/artifacts/batch": {
                "post": _op(
                    "Register artifacts (idempotent: known digests are not duplicated)",
                    {
                        "type": "object",
                        "properties": {"artifacts": {"type": "array", "items": _ARTIFACT}},
                    },
                )
            },
            "/api/v1/artifacts/{prefix}": {
                "get": {**_op("An artifact by digest prefix"), "parameters": [_param("prefix")]}
            },
            "/api/v1/public/artifacts/{prefix}": {
                "get": {**_op("The same, anonymously"), "parameters": [_param("prefix")]}
            },
            "/api/v1/artifacts/{prefix}/dag": {
                "get": {
                    **_op("The reproduction DAG: every job upstream of the artifact"),
                    "parameters": [_param("prefix")],
                }
            },
            "/api/v1/artifacts/{prefix}/lineage": {
                "get": {
                    **_op("The upstream lineage, ?depth=N jobs deep (1-10)"),
                    "parameters": [
                        _param("prefix"),
                        {
                            "name": "depth",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 10},
                        },
                    ],
                }
            },
            "/api/v1/artifacts/composites": {
                "post": _op(
                    "Register a composite artifact (a dataset) and its components",
                    _COMPOSITE,
                    "201",
                )
            },
            "/api/v1/artifacts/{prefix}/components": {
                "get": {**_op("A composite's stored components"), "parameters": [_param("prefix")]}
            },
            "/api/v1/openapi.json": {"get": _op("This document")},
            "/api/v1/public/sessions/{hash}/reproduction": {
                "get": {**_op("A public session's jobs, for reproduction"), "parameters": session}
            },
            **_registration_paths(),
            **_label_paths(),
            **_auth_paths(),
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "sshSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": 'Signature keyid="SHA256:..." ts="<unix>" sig="<SSHSIG b64>" '
                    "over ts, method, path and the body's SHA-256 (namespace glaas)",
                },
                "registrationSession": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "RegistrationSession <token>",
                },
            },
            "schemas": {
                "Ok": {
                    "type": "object",
                    "required": ["success", "data"],
                    "properties": {"success": {"const": True}, "data": {}},
                }
            },
        },
    }


_OBJECT = {"type": "object"}
_COMPOSITE = {
    **_ARTIFACT,
    "required": ["hashes", "components"],
    "properties": {
        **_ARTIFACT["properties"],  # type: ignore[dict-item]
        "hash": _HEX,
        "component_count_total": {"type": "integer", "minimum": 0},
        "membership_index": {"type": "object"},
        "components": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["relative_path", "component_algorithm", "component_digest"],
                "properties": {
                    "relative_path": {"type": "string"},
                    "leaf_kind": {"type": "string"},
                    "component_algorithm": {"type": "string"},
                    "component_digest": _HEX,
                    "component_size": {"type": "integer", "minimum": 0},
                    "component_type": {"type": "string"},
                },
            },
        },
    },
}


def _body(*required: str, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


def _registration_paths() -> dict[str, Any]:
    rid = [_param("rid")]
    uid = [*rid, _param("job_uid")]
    base = "/api/v1/registration-sessions/{rid}"
    batch = _body("jobs", jobs={"type": "array", "items": _JOB})
    return {
        "/api/v1/registration-sessions": {
            "post": _op(
                "Open (or resume, by client_session_id) a registration session; anonymous "
                "ones return a registration_session_token",
                _body(
                    mode={"enum": ["anonymous_public", "authenticated"]},
                    client_session_id={"type": "string"},
                ),
                "201",
            )
        },
        f"{base}/jobs": {"post": {**_op("Stage one job", _JOB, "201"), "parameters": rid}},
        f"{base}/jobs/batch": {"post": {**_op("Stage jobs", batch, "201"), "parameters": rid}},
        f"{base}/artifacts/batch": {
            "post": {
                **_op(
                    "Stage artifacts ({created, updated, errors} with errors a count)",
                    _body("artifacts", artifacts={"type": "array", "items": _ARTIFACT}),
                ),
                "parameters": rid,
            }
        },
        f"{base}/artifacts/composites": {
            "post": {**_op("Stage a composite artifact", _COMPOSITE, "201"), "parameters": rid}
        },
        f"{base}/jobs/{{job_uid}}/inputs": {
            "post": {**_op("Link a staged job's inputs", _LINKS), "parameters": uid}
        },
        f"{base}/jobs/{{job_uid}}/outputs": {
            "post": {**_op("Link a staged job's outputs", _LINKS), "parameters": uid}
        },
        f"{base}/finalize": {
            "post": {
                **_op(
                    "Publish under the server-authoritative hash (409 if `expected` counts "
                    "differ from what was staged)",
                    _body(
                        git_repo={"type": "string"},
                        git_commit={"type": "string"},
                        git_branch={"type": "string"},
                        scope_request=_OBJECT,
                        expected=_OBJECT,
                    ),
                ),
                "parameters": rid,
            }
        },
        f"{base}/labels/batch": {
            "post": {
                **_op("Label the published session, its jobs and artifacts", _LABELS),
                "parameters": rid,
            }
        },
    }


_LABEL = _body(
    "entity_type",
    entity_type={"enum": ["dag", "job", "artifact"]},
    session_hash=_HEX,
    job_uid={"type": "string"},
    artifact_hash=_HEX,
    metadata=_OBJECT,
    key_origins=_OBJECT,
    deleted_keys={"type": "array", "items": {"type": "string"}},
)
_LABELS = _body("labels", labels={"type": "array", "items": _LABEL})


def _query(*names: str) -> list[dict[str, Any]]:
    return [
        {
            "name": n,
            "in": "query",
            "required": n in ("entity_type", "session_hash"),
            "schema": {"type": "string"},
        }
        for n in names
    ]


def _label_paths() -> dict[str, Any]:
    keys = _query("entity_type", "session_hash", "job_uid", "artifact_hash")
    return {
        "/api/v1/labels/sync": {
            "post": _op("Set label documents ({created, updated, unchanged})", _LABELS)
        },
        "/api/v1/labels/reconcile": {
            "post": _op(
                "Merge label documents into the current ones, removing deleted_keys",
                {
                    **_LABELS,
                    "properties": {
                        **_LABELS["properties"],
                        "session_hash": _HEX,
                        "dry_run": {"type": "boolean"},
                    },
                },
            )
        },
        "/api/v1/labels/current": {
            "get": {**_op("A label's current document"), "parameters": keys}
        },
        "/api/v1/labels/history": {"get": {**_op("Every version of a label"), "parameters": keys}},
    }


def _auth_paths() -> dict[str, Any]:
    return {
        "/api/v1/auth/device/start": {
            "post": _op(
                "Start a device-code login (approved on the /device page)",
                _body(client_id={"type": "string"}, client_name={"type": "string"}),
            )
        },
        "/api/v1/auth/device/token": {
            "post": _op(
                "Poll a device code: 400 authorization_pending / slow_down / expired_token / "
                "access_denied, then the tokens",
                _body(
                    "device_code",
                    device_code={"type": "string"},
                    grant_type={"type": "string"},
                    client_id={"type": "string"},
                ),
            )
        },
        "/api/v1/auth/access-context": {"get": _op("The signed-in user and what they own")},
        "/api/v1/user/access-context": {"get": _op("The same (older path)")},
        "/api/v1/auth/me": {"get": _op("Who the credentials are, and the creator identity")},
        "/api/v1/auth/refresh": {
            "post": _op(
                "New tokens for a refresh token",
                _body("refresh_token", refresh_token={"type": "string"}),
            )
        },
        "/api/v1/auth/logout": {"post": _op("Revoke the bearer token and its refresh token")},
        "/api/v1/auth/keys": {
            "post": _op(
                "Register an SSH public key for the signed-in user",
                _body("public_key", public_key={"type": "string"}),
                "201",
            )
        },
    }
