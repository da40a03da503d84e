"""The OpenAPI 3.1 document of the management API, at /api/v1/openapi.json, and a page that
renders it at /api/v1/docs with RapiDoc served by Dockyard itself (no CDN, no web fonts).

The document is put together from the operation table in `openapi_paths` and the schemas in
`openapi_schemas` (pydantic models and the services' dataclasses), plus what the loaded
extensions add (`app.state.openapi_additions`), once per application.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import dockyard
from dockyard.api.openapi_paths import OPERATIONS, PATH_PARAMETERS, ApiAddition, Op
from dockyard.api.openapi_schemas import components, ref

RENDERER = "rapidoc-min.js"  # RapiDoc 9.3.8 (MIT), from npm; see static/README.md
PROBLEM = "application/problem+json"
SECURITY = [{"basicAuth": []}, {"personalAccessToken": []}, {"sessionCookie": []}]


def _parameters(op: Op) -> list[dict[str, Any]]:
    found = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    return found + list(op.params)


def _responses(op: Op) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema in op.ok.items():
        media = PROBLEM if schema == "Problem" else op.ok_media
        entry: dict[str, Any] = {"description": "success" if status < 400 else "failure"}
        medias = (media,) if schema == "Problem" else (media, *op.other_media)
        if schema is not None:
            entry["content"] = {m: {"schema": ref(schema)} for m in medias}
        elif status != 204:
            kind = "object" if media == "application/json" else "string"
            entry["content"] = {m: {"schema": {"type": kind}} for m in medias}
        responses[str(status)] = entry
    responses["default"] = {
        "description": "an error, as RFC 9457 problem details",
        "content": {PROBLEM: {"schema": ref("Problem")}},
    }
    return responses


def _operation(op: Op) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "summary": op.summary,
        "operationId": _operation_id(op),
        "tags": [op.tag],
        "parameters": _parameters(op),
        "responses": _responses(op),
    }
    if op.body is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(op.body)}},
        }
    if op.auth == "required":
        entry["security"] = SECURITY
    elif op.auth == "optional":
        entry["security"] = [*SECURITY, {}]
    else:
        entry["security"] = []
    return entry


def _operation_id(op: Op) -> str:
    words = re.sub(r"[{}]", "", op.path.removeprefix("/api/v1")).strip("/").replace("/", "_")
    return f"{op.method}_{words.replace('.', '_') or 'root'}"


def document(additions: Sequence[ApiAddition] = ()) -> dict[str, Any]:
    operations = [*OPERATIONS, *(op for a in additions for op in a.operations)]
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    schemas = components()
    for addition in additions:
        schemas.update(addition.schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dockyard management API",
            "version": dockyard.__version__,
            "description": (
                "Projects, members, robots, repositories, artifacts, tags, audit and statistics "
                "of a Dockyard registry. Authenticate with HTTP basic auth (a password, a "
                "personal access token or a robot secret), a personal access token as a Bearer "
                "token, or the session cookie from "
                "/auth/login. Errors are RFC 9457 problem details. Lists are paged with "
                "`limit` and `last` (each page says its `next_last`)."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": name}
            for name in dict.fromkeys(op.tag for op in operations)  # first-use order
        ],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic"},
                "personalAccessToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a personal access token (dyp_…) on its own",
                },
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "dockyard_session"},
            },
        },
    }


async def openapi_json(request: Request) -> Response:
    state = request.app.state
    found = getattr(state, "openapi_document", None)
    if found is None:
        found = state.openapi_document = document(getattr(state, "openapi_additions", ()))
    return JSONResponse(found)


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dockyard management API</title>
<script type="module" src="/api/v1/docs/{renderer}"></script>
</head>
<body>
<noscript>The API reference needs JavaScript; the document itself is
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</noscript>
<rapi-doc spec-url="/api/v1/openapi.json" load-fonts="false" render-style="read"
  regular-font="system-ui, sans-serif" mono-font="ui-monospace, monospace"
  show-header="false" allow-try="true" allow-server-selection="false"
  allow-authentication="true" schema-style="table"></rapi-doc>
</body>
</html>
"""


async def docs(_request: Request) -> Response:
    return HTMLResponse(PAGE.format(renderer=RENDERER))


@cache
def _asset() -> bytes:
    return (files("dockyard.api") / "static" / RENDERER).read_bytes()


async def docs_asset(_request: Request) -> Response:
    return Response(
        _asset(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


routes = [
    Route("/api/v1/openapi.json", openapi_json, methods=["GET"]),
    Route("/api/v1/docs", docs, methods=["GET"]),
    Route(f"/api/v1/docs/{RENDERER}", docs_asset, methods=["GET"]),
]
