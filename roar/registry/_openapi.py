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
            "/api/v1/openapi.json": {"get": _op("This document")},
        },
        "components": {
            "schemas": {
                "Ok": {
                    "type": "object",
                    "required": ["success", "data"],
                    "properties": {"success": {"const": True}, "data": {}},
                }
            }
        },
    }
