"""The scanning part of the management API under /api/v1 (problem+json errors, like the rest):

    POST /api/v1/repositories/{name}/artifacts/{reference}/scan             queue a scan (push)
    GET  /api/v1/repositories/{name}/artifacts/{reference}/vulnerabilities  status and report
    GET  /api/v1/repositories/{name}/artifacts/{reference}/packages         the inventory
    GET  /api/v1/repositories/{name}/artifacts/{reference}/sbom?format=     an SBOM document
    GET  /api/v1/repositories/{name}/artifacts/{reference}/security         scan, signature, verdict
    POST /api/v1/repositories/{name}/artifacts/{reference}/sbom?format=     attach it (push)
    GET  /api/v1/vulnerabilities/summary                                    registry-wide view
    GET  /api/v1/vulnerabilities/affected?advisory=ID                       images an advisory hits

Repository names contain slashes; these routes are tried before the core's catch-all for
/api/v1/repositories/ (see `dockyard.app.wire_extensions`), with the name matched greedily
up to the last `/artifacts/`, as the core does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.api.manage_common import logged_in, principal
from dockyard.errors import invalid, not_found
from dockyard.ext.scanning.queries import ScanQueries
from dockyard.ext.scanning.sboms import SbomService
from dockyard.ext.scanning.severity import Severity
from dockyard.oci.names import InvalidName, validate_name
from dockyard.registry.inventory import pull_host
from dockyard.settings import Settings

ARTIFACT = "/api/v1/repositories/{name:path}/artifacts/{reference}"
MAX_ADVISORIES = 20
Handler = Callable[[Request], Awaitable[Response]]


def repository_name(request: Request) -> str:
    text: str = request.path_params["name"]
    try:
        return validate_name(text)
    except InvalidName:
        raise not_found(f"no repository {text!r}") from None


def _int(request: Request, key: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid(f"{key} must be a whole number") from None
    if not low <= value <= high:
        raise invalid(f"{key} must be between {low} and {high}")
    return value


def _severity(request: Request) -> Severity:
    text = request.query_params.get("severity")
    if text is None:
        return Severity.UNKNOWN
    if text.upper() not in Severity.__members__:
        names = ", ".join(s.name for s in sorted(Severity, reverse=True))
        raise invalid(f"severity must be one of {names}")
    return Severity[text.upper()]


def _advisories(request: Request) -> list[str]:
    found = [a.strip() for a in request.query_params.getlist("advisory") if a.strip()]
    if not found:
        raise invalid("give the advisory to look for: ?advisory=GHSA-… (an OSV id)")
    if len(found) > MAX_ADVISORIES or any(len(a) > 100 for a in found):
        raise invalid(f"at most {MAX_ADVISORIES} advisories, of at most 100 characters each")
    return found


def build_routes(queries: ScanQueries, sboms: SbomService, settings: Settings) -> list[BaseRoute]:
    def host(request: Request) -> str:
        return pull_host(settings.auth.public_url, str(request.base_url))

    def reference(request: Request) -> str:
        return str(request.path_params["reference"])

    async def scan(request: Request) -> Response:
        actor = await logged_in(request)
        body = await queries.request(actor, repository_name(request), reference(request))
        return JSONResponse(body, status_code=202)

    async def vulnerabilities(request: Request) -> Response:
        actor, minimum = await principal(request), _severity(request)
        body = await queries.vulnerabilities(
            actor, repository_name(request), reference(request), minimum
        )
        return JSONResponse(body)

    async def packages(request: Request) -> Response:
        actor = await principal(request)
        return JSONResponse(
            await queries.packages(actor, repository_name(request), reference(request))
        )

    async def sbom(request: Request) -> Response:
        fmt = request.query_params.get("format", "cyclonedx")
        if request.method == "POST":
            actor = await logged_in(request)
            attached = await sboms.attach(
                actor, repository_name(request), reference(request), fmt, host(request)
            )
            return JSONResponse(attached, status_code=201)
        actor = await principal(request)
        data, media_type, _digest = await sboms.document(
            actor, repository_name(request), reference(request), fmt, host(request)
        )
        return Response(data, media_type=media_type)

    async def summary(request: Request) -> Response:
        actor = await logged_in(request)
        top = _int(request, "top", 10, 1, 100)
        return JSONResponse(await queries.summary(actor, top))

    async def affected(request: Request) -> Response:
        actor = await logged_in(request)
        advisories = _advisories(request)
        limit = _int(request, "limit", 100, 1, 1000)
        return JSONResponse(await queries.affected(actor, advisories, limit))

    return [
        Route(f"{ARTIFACT}/scan", scan, methods=["POST"]),
        Route(f"{ARTIFACT}/vulnerabilities", vulnerabilities, methods=["GET"]),
        Route(f"{ARTIFACT}/packages", packages, methods=["GET"]),
        Route(f"{ARTIFACT}/sbom", sbom, methods=["GET", "POST"]),
        Route("/api/v1/vulnerabilities/summary", summary, methods=["GET"]),
        Route("/api/v1/vulnerabilities/affected", affected, methods=["GET"]),
    ]
