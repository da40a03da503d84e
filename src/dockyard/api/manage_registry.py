"""The registry part of the management REST API under /api/v1: repositories, artifacts, tags,
statistics, system information and health. Errors are problem+json (RFC 9457).

Repository names contain slashes, so everything under /repositories/ is one route that splits
the path at its last known suffix (`/artifacts`, `/artifacts/{reference}`, `/tags`,
`/tags/{tag}`), as the OCI routes do under /v2/. An artifact's sub-resources
(`/artifacts/{reference}/{what}`: signatures, policy checks, vulnerabilities) belong to
extensions: that route leaves them to the routes after it.
"""

from __future__ import annotations

import platform
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

import dockyard
from dockyard.api.manage_common import logged_in, principal
from dockyard.errors import Problem, invalid, not_found
from dockyard.oci.names import InvalidName, validate_name
from dockyard.registry.health import readiness
from dockyard.registry.inventory import Inventory, Page, pull_host
from dockyard.registry.removal import Removal
from dockyard.settings import Settings


def _inventory(request: Request) -> Inventory:
    found: Inventory = request.app.state.inventory
    return found


def _removal(request: Request) -> Removal:
    found: Removal = request.app.state.removal
    return found


def _settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def _int(request: Request, key: str, default: int) -> int:
    text = request.query_params.get(key)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise invalid(f"{key} must be a whole number") from None


def _page(key: str, page: Page[Any]) -> JSONResponse:
    return JSONResponse({key: [asdict(item) for item in page.items], "next_last": page.next_last})


def _repository_name(text: str) -> str:
    try:
        return validate_name(text)
    except InvalidName:
        raise not_found(f"no repository {text!r}") from None


# --- handlers ------------------------------------------------------------------------------


async def project_repositories(request: Request) -> Response:
    actor, q = await principal(request), request.query_params
    page = await _inventory(request).repositories(
        actor,
        request.path_params["project"],
        q=q.get("q") or None,
        sort=q.get("sort", "name"),  # type: ignore[arg-type]  # checked by the inventory
        last=q.get("last") or None,
        limit=_int(request, "limit", 50),
    )
    return _page("repositories", page)


async def _repository(request: Request, name: str) -> Response:
    if request.method == "DELETE":
        deleted = await _removal(request).delete_repository(await logged_in(request), name)
        return JSONResponse({"name": name, "deleted_artifacts": deleted})
    actor = await principal(request)
    return JSONResponse(asdict(await _inventory(request).repository(actor, name)))


async def _artifacts(request: Request, name: str) -> Response:
    q = request.query_params
    page = await _inventory(request).artifacts(
        await principal(request),
        name,
        last=q.get("last") or None,
        limit=_int(request, "limit", 50),
        top_level=q.get("all", "false").lower() not in ("true", "1", "yes"),
    )
    return _page("artifacts", page)


async def _artifact(request: Request, name: str, reference: str) -> Response:
    if request.method == "DELETE":
        deleted = await _removal(request).delete_artifact(await logged_in(request), name, reference)
        return JSONResponse({"deleted": deleted})
    host = pull_host(_settings(request).auth.public_url, str(request.base_url))
    actor = await principal(request)
    detail = await _inventory(request).artifact(actor, name, reference, host=host)
    return JSONResponse(asdict(detail))


async def _tags(request: Request, name: str) -> Response:
    q = request.query_params
    page = await _inventory(request).tags(
        await principal(request),
        name,
        q=q.get("q") or None,
        last=q.get("last") or None,
        limit=_int(request, "limit", 50),
    )
    return _page("tags", page)


async def _tag(request: Request, name: str, tag: str) -> Response:
    await _removal(request).delete_tag(await logged_in(request), name, tag)
    return Response(status_code=204)


Handler = Callable[..., Awaitable[Response]]
# suffix → (handler, methods); the first match from the end of the path wins.
_SUFFIXES: list[tuple[str, bool, Handler, frozenset[str]]] = [
    ("/artifacts", False, _artifacts, frozenset({"GET"})),
    ("/tags", False, _tags, frozenset({"GET"})),
    ("/artifacts/", True, _artifact, frozenset({"GET", "DELETE"})),
    ("/tags/", True, _tag, frozenset({"DELETE"})),
]


async def repositories(request: Request) -> Response:
    """Everything under /api/v1/repositories/, dispatched on the path's suffix."""
    path: str = request.path_params["path"]
    for suffix, with_item, handler, methods in _SUFFIXES:
        if with_item:
            name, sep, item = path.rpartition(suffix)
            matched = bool(sep and name and item and "/" not in item)
            args: tuple[str, ...] = (name, item)
        else:
            matched = path.endswith(suffix) and len(path) > len(suffix)
            name = path[: -len(suffix)]
            args = (name,)
        if matched:
            _allow(request, methods)
            return await handler(request, _repository_name(name), *args[1:])
    _allow(request, frozenset({"GET", "DELETE"}))
    return await _repository(request, _repository_name(path))


def _allow(request: Request, methods: frozenset[str]) -> None:
    if request.method not in methods:
        raise Problem(405, "Method Not Allowed", f"{request.method} is not allowed here")


async def statistics(request: Request) -> Response:
    actor = await logged_in(request)
    found = await _inventory(request).statistics(
        actor,
        days=_int(request, "days", 30),
        top=_int(request, "top", 10),
        recent=_int(request, "recent", 20),
    )
    return JSONResponse(asdict(found))


async def system_info(request: Request) -> Response:
    await logged_in(request)
    settings = _settings(request)
    auth = settings.auth
    sources = ["local"] + [
        name for name, cfg in (("ldap", auth.ldap), ("oidc", auth.oidc), ("saml", auth.saml)) if cfg
    ]
    return JSONResponse(
        {
            "version": dockyard.__version__,
            "python": platform.python_version(),
            "platform": sys.platform,
            "storage_driver": settings.storage.driver,
            "database": "sqlite" if settings.database_url.startswith("sqlite") else "postgresql",
            "auth_sources": sources,
            "token_service": auth.service,
            "public_url": auth.public_url,
            "delete_enabled": settings.registry.delete_enabled,
            "users_can_create_projects": auth.users_can_create_projects,
        }
    )


async def healthz(_request: Request) -> Response:
    """The process is alive and serving (no dependency checked)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the metadata database and the blob storage both answer."""
    registry = request.app.state.registry
    checks = await readiness(registry.store, registry.storage)
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks})
    failing = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    problem = Problem(503, "Service Unavailable", f"not ready ({failing})")
    return JSONResponse(
        {**problem.body(), "checks": checks},
        status_code=503,
        headers={"Retry-After": "5"},
        media_type="application/problem+json",
    )


_V1 = "/api/v1"
_ARTIFACT_PART = re.compile(r"/artifacts/[^/]+/[^/]+$")


class _RepositoryRoute(Route):
    """Everything under /repositories/ but an artifact's sub-resources, which extensions serve
    (with none that does, they are 404 like any unknown URL)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and _ARTIFACT_PART.search(child["path_params"]["path"]):
            return Match.NONE, {}
        return match, child


routes = [
    Route(f"{_V1}/projects/{{project}}/repositories", project_repositories, methods=["GET"]),
    _RepositoryRoute(f"{_V1}/repositories/{{path:path}}", repositories, methods=["GET", "DELETE"]),
    Route(f"{_V1}/statistics", statistics, methods=["GET"]),
    Route(f"{_V1}/system/info", system_info, methods=["GET"]),
    Route(f"{_V1}/healthz", healthz, methods=["GET"]),
    Route(f"{_V1}/readyz", readyz, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
