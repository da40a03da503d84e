"""Any `Scanner` behind Harbor's pluggable scanner adapter API, so that Harbor (or another
Dockyard) can use Dockyard's scanner as it uses Trivy's or Clair's adapter.

    GET  {prefix}/api/v1/metadata                  the scanner, what it consumes and produces
    POST {prefix}/api/v1/scan                      202 {"id"}; the scan runs in the background
    GET  {prefix}/api/v1/scan/{id}/report          302 + Refresh-After while it runs, then 200
                                                   with the report, or 500 {"error"} if it failed

A scan request names a registry and lends a credential for it; the image is pulled from there
(`pull.py`), not read from Dockyard's storage, because the requester may be another registry.
Making Dockyard fetch URLs chosen by the caller is a privilege, so every call must pass
`authorize` (`require_admin` inside Dockyard). Requests live in this process (`jobs.py`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from dockyard.api.access import authenticate
from dockyard.errors import RegistryError
from dockyard.ext.scanning.adapter.jobs import ScanJob, ScanJobs, State, TooBusy
from dockyard.ext.scanning.adapter.pull import PullError, RegistryPuller
from dockyard.ext.scanning.adapter.report import render_report, rfc3339
from dockyard.ext.scanning.adapter.wire import (
    API_PREFIX,
    CYCLONEDX,
    DB_UPDATED_AT,
    DB_VERSION,
    ERROR,
    METADATA_1_0,
    METADATA_1_1,
    SBOM_MEDIA_TYPES,
    SBOM_REPORT,
    SCAN_RESPONSE,
    SCANNER_TYPE,
    VULN_REPORTS,
    AdapterMetadata,
    ScanRequest,
    WireError,
    parse_scan_request,
    render_metadata,
    same_media_type,
    served_capabilities,
)
from dockyard.ext.scanning.sbom import SbomImage, cyclonedx_json, spdx_json
from dockyard.ext.scanning.scanner import Scanner, ScanReport
from dockyard.oci import mediatypes as mt

log = logging.getLogger("dockyard.ext.scanning.adapter")

Authorize = Callable[[Request], Awaitable[bool]]
MAX_REQUEST_BODY = 64 * 1024
# Clients that accept anything get the current report type.
_ANY = ("", "*/*", "application/*", "application/json")


class AdapterServer:
    """The routes, the accepted requests, and the HTTP client that pulls their images."""

    def __init__(
        self,
        scanner: Scanner,
        *,
        authorize: Authorize,
        http: httpx.AsyncClient | None = None,
        prefix: str = "/scanner-adapter",
        refresh_after: int = 2,
        capacity: int = 1000,
        ttl: float = 3600.0,
        concurrency: int = 2,
        scan_timeout: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scanner = scanner
        self._authorize = authorize
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=120.0))
        self._prefix = prefix.rstrip("/")
        self._refresh_after = refresh_after
        self.jobs = ScanJobs(
            self._scan,
            capacity=capacity,
            ttl=ttl,
            concurrency=concurrency,
            scan_timeout=scan_timeout,
            clock=clock,
        )

    def routes(self) -> list[BaseRoute]:
        api = [
            Route("/metadata", self.metadata, methods=["GET"]),
            Route("/scan", self.accept_scan, methods=["POST"]),
            Route("/scan/{scan_request_id}/report", self.report, methods=["GET"]),
        ]
        return [Mount(f"{self._prefix}{API_PREFIX}", routes=api)]

    async def aclose(self) -> None:
        await self.jobs.aclose()
        if self._own_http:
            await self._http.aclose()

    # --- endpoints ---------------------------------------------------------------------------

    async def metadata(self, request: Request) -> Response:
        if not await self._authorize(request):
            return _unauthorized()
        properties = {SCANNER_TYPE: "os-package-vulnerability"}
        try:
            properties[DB_VERSION] = await self._scanner.db_version()
            # Harbor shows it; Trivy's adapter sets it. Only a scanner that knows it has it.
            updated_at = getattr(self._scanner, "db_updated_at", None)
            at = await updated_at() if updated_at is not None else None
            if at is not None:
                stamp = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds")
                properties[DB_UPDATED_AT] = stamp.replace("+00:00", "Z")
        except Exception:  # the metadata still answers what the scanner is
            log.exception("the scanner's database version is unavailable")
        consumes = [m for m in mt.MANIFESTS if self._scanner.supports(m)]
        metadata = AdapterMetadata(self._scanner.info, served_capabilities(consumes), properties)
        wants_1_1 = same_media_type(request.headers.get("accept", ""), METADATA_1_1)
        media_type = METADATA_1_1 if wants_1_1 else METADATA_1_0
        return JSONResponse(render_metadata(metadata), media_type=media_type)

    async def accept_scan(self, request: Request) -> Response:
        if not await self._authorize(request):
            return _unauthorized()
        try:
            scan = parse_scan_request(await _json_body(request))
            if scan.mime_type and not self._scanner.supports(scan.mime_type):
                raise WireError(501, f"{scan.mime_type} artifacts cannot be scanned here")
            job = self.jobs.submit(scan)
        except WireError as err:
            return error_response(err.status, err.message)
        except TooBusy as err:
            return error_response(503, f"{err}; try again later", {"Retry-After": "30"})
        return JSONResponse({"id": job.id}, status_code=202, media_type=SCAN_RESPONSE)

    async def report(self, request: Request) -> Response:
        if not await self._authorize(request):
            return _unauthorized()
        accept = request.headers.get("accept", "")
        media_type = _report_type(accept)
        if media_type is None:
            return error_response(
                501,
                f"no report of type {accept!r}: ask for one of "
                f"{', '.join((*VULN_REPORTS, SBOM_REPORT))}",
            )
        job = self.jobs.get(request.path_params["scan_request_id"])
        if job is None:
            return error_response(404, "no such scan request (unknown, or expired)")
        if not job.finished:
            headers = {"Refresh-After": str(self._refresh_after), "Location": str(request.url)}
            return Response(status_code=302, headers=headers)
        if job.state is State.FAILED or job.report is None:
            return error_response(500, job.error or "the scan failed")
        if media_type == SBOM_REPORT:
            return await self._sbom_report(request, job, job.report)
        body = render_report(job.report, job.request.artifact())
        return JSONResponse(body, media_type=media_type)

    async def _sbom_report(self, request: Request, job: ScanJob, report: ScanReport) -> Response:
        asked = request.query_params.get("sbom_media_type") or next(
            iter(job.request.sbom_media_types), ""
        )
        if asked not in SBOM_MEDIA_TYPES:
            return error_response(
                400, f"sbom_media_type must be one of {', '.join(SBOM_MEDIA_TYPES)}"
            )
        scan = job.request
        image = SbomImage(
            scan.repository, scan.digest, scan.tag or None, registry=_host(scan.registry_url)
        )
        write = cyclonedx_json if asked == CYCLONEDX else spdx_json
        document = await asyncio.to_thread(write, report.inventory, image)
        body = {
            "generated_at": rfc3339(report.generated_at),
            "artifact": scan.artifact(),
            "scanner": {
                "name": report.scanner.name,
                "vendor": report.scanner.vendor,
                "version": report.scanner.version,
            },
            "media_type": asked,
            "sbom": json.loads(document),
        }
        return JSONResponse(body, media_type=SBOM_REPORT)

    # --- the background work -----------------------------------------------------------------

    async def _scan(self, request: ScanRequest) -> ScanReport:
        puller = RegistryPuller(self._http, request.registry_url, request.authorization)
        target = await puller.target(request.repository, request.digest, request.tag)
        if not self._scanner.supports(target.media_type):
            raise PullError(f"{target.media_type} artifacts cannot be scanned here")
        return await self._scanner.scan(target)


async def require_admin(request: Request) -> bool:
    """Inside Dockyard: only system administrators (a user, or a token or robot Dockyard
    counts as one) may make the adapter pull from a registry of their choosing."""
    try:
        principal = await authenticate(request)
    except RegistryError:
        return False
    return principal.is_admin


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The spec's ErrorResponse: `{"error": {"message": …}}`."""
    body = {"error": {"message": message}}
    return JSONResponse(body, status_code=status, media_type=ERROR, headers=headers)


def _unauthorized() -> Response:
    return error_response(
        401,
        "authentication required: a Dockyard administrator's credentials",
        {"WWW-Authenticate": 'Basic realm="Dockyard scanner adapter"'},
    )


def _report_type(accept: str) -> str | None:
    """The report media type to answer with: the first acceptable entry of Accept."""
    for entry in accept.split(",") if accept.strip() else [""]:
        entry = entry.strip()
        if entry.split(";")[0].strip().lower() in _ANY:
            return VULN_REPORTS[0]
        for known in (*VULN_REPORTS, SBOM_REPORT):
            if same_media_type(entry, known):
                return known
    return None


async def _json_body(request: Request) -> object:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BODY:
            raise WireError(413, f"the scan request is larger than {MAX_REQUEST_BODY} bytes")
    try:
        return json.loads(body)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise WireError(400, f"the scan request is not JSON: {err}") from None


def _host(url: str) -> str:
    return urlsplit(url).netloc
