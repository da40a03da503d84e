"""`AdapterScanner`: a `Scanner` that asks an external scanner (Trivy, Clair, another Dockyard)
through Harbor's pluggable scanner adapter API.

The adapter pulls the image from Dockyard itself, so a scan sends it Dockyard's registry URL and
a credential to pull with (`registry_authorization`, asked for per scan: the integrator hands
out a short-lived, pull-only one), then polls the report, waiting as long as each 302's
`Refresh-After` says, until the settings' `timeout_seconds` runs out.

What the adapter is and can do comes from its GET /metadata, read at each scan (it is cheap,
and an adapter upgraded in place changes version and database). Until the first read,
`supports` answers for the two image manifest types every adapter consumes by the spec.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx

from dockyard.ext.scanning.adapter.report import parse_report
from dockyard.ext.scanning.adapter.wire import (
    API_PREFIX,
    DB_UPDATED_AT,
    DB_VERSION,
    METADATA_1_1,
    SCAN_REQUEST,
    SCAN_RESPONSE,
    VULN_REPORTS,
    AdapterMetadata,
    ScanRequest,
    WireError,
    parse_metadata,
    same_media_type,
)
from dockyard.ext.scanning.scanner import (
    IMAGE_MANIFESTS,
    Progress,
    ScanError,
    ScannerInfo,
    ScanReport,
    ScanTarget,
)
from dockyard.ext.scanning.settings import AdapterSettings

# repository → the Authorization header value the adapter should pull it with (None: anonymous)
RegistryAuthorization = Callable[[str], Awaitable[str | None] | str | None]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_REFRESH = 5.0  # seconds between polls when a 302 has no usable Refresh-After (Harbor's)
MIN_REFRESH = 0.1  # "Refresh-After: 0" must not become a busy loop
MAX_REFRESH = 60.0


class AdapterError(ScanError):
    """The adapter refused the scan, failed it, answered outside the spec, or ran out of time
    (or cannot be reached): the scan fails with this message and is retried later."""


class AdapterScanner:
    def __init__(
        self,
        settings: AdapterSettings,
        *,
        registry_url: str,
        registry_authorization: RegistryAuthorization,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.info = ScannerInfo(settings.name, "", "")  # vendor and version come with metadata
        self.metadata: AdapterMetadata | None = None
        self._base = settings.url.rstrip("/") + API_PREFIX
        self._registry_url = registry_url.rstrip("/")
        self._registry_authorization = registry_authorization
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        self._sleep = sleep

    def supports(self, media_type: str) -> bool:
        consumes = self.metadata.consumes() if self.metadata else IMAGE_MANIFESTS
        return media_type in consumes

    async def load_metadata(self) -> AdapterMetadata:
        """GET /metadata; updates `info` (the registration's name, the adapter's vendor and
        version) and what `supports` answers."""
        response = await self._call("GET", "/metadata", accept=METADATA_1_1)
        if response.status_code != 200:
            raise self._refusal(response, "metadata")
        try:
            metadata = parse_metadata(response.json())
        except (ValueError, WireError) as err:
            raise AdapterError(f"adapter {self.info.name}: unreadable metadata: {err}") from None
        self.metadata = metadata
        remote = metadata.scanner
        self.info = ScannerInfo(self.settings.name, remote.vendor, remote.version)
        return metadata

    async def db_version(self) -> str:
        return _db_version(await self.load_metadata())

    async def scan(self, target: ScanTarget, progress: Progress | None = None) -> ScanReport:
        metadata = await self.load_metadata()
        if not self.supports(target.media_type):
            raise AdapterError(f"adapter {self.info.name} does not scan {target.media_type}")
        report_type = _report_type(metadata)
        authorization = self._registry_authorization(target.repository)
        if inspect.isawaitable(authorization):
            authorization = await authorization
        request = ScanRequest(
            registry_url=self._registry_url,
            authorization=authorization,
            repository=target.repository,
            digest=target.digest,
            mime_type=target.media_type,
        )
        total = len(target.layers)
        if progress is not None:
            progress(0, total)  # the adapter reads the layers; only the end is known here
        timeout = self.settings.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                scan_id = await self._submit(request)
                doc = await self._poll(scan_id, report_type)
        except TimeoutError:
            raise AdapterError(
                f"adapter {self.info.name} did not finish {target.repository}@{target.digest} "
                f"within {timeout:g} seconds"
            ) from None
        try:
            parsed = parse_report(doc)
        except ValueError as err:
            raise AdapterError(f"adapter {self.info.name}: unreadable report: {err}") from None
        if progress is not None:
            progress(total, total)
        return ScanReport(
            scanner=self.info,
            db_version=parsed.db_version or _db_version(metadata),
            digest=target.digest,
            generated_at=parsed.generated_at,
            inventory=parsed.inventory,
            findings=parsed.findings,
        )

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def _submit(self, request: ScanRequest) -> str:
        body = json.dumps(request.render()).encode()
        response = await self._call(
            "POST", "/scan", accept=SCAN_RESPONSE, content=body, content_type=SCAN_REQUEST
        )
        if response.status_code != 202:
            raise self._refusal(response, "scan request")
        try:
            scan_id = response.json()["id"]
        except (ValueError, KeyError, TypeError):
            scan_id = None
        if not isinstance(scan_id, str) or not scan_id:
            raise AdapterError(f"adapter {self.info.name} accepted the scan without an id")
        return scan_id

    async def _poll(self, scan_id: str, report_type: str) -> object:
        path = f"/scan/{quote(scan_id, safe='')}/report"
        while True:
            response = await self._call("GET", path, accept=report_type)
            if response.status_code == 302:
                await self._sleep(refresh_after(response.headers.get("refresh-after")))
                continue
            if response.status_code != 200:
                raise self._refusal(response, "report")
            try:
                return response.json()
            except ValueError:
                raise AdapterError(f"adapter {self.info.name}: the report is not JSON") from None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        accept: str,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        if self.settings.authorization:
            headers["Authorization"] = self.settings.authorization
        try:
            # A 302 is "not ready yet" here, never a redirect to follow.
            return await self._http.request(
                method, self._base + path, headers=headers, content=content, follow_redirects=False
            )
        except httpx.HTTPError as err:
            raise AdapterError(f"adapter {self.info.name}: {method} {path}: {err}") from None

    def _refusal(self, response: httpx.Response, what: str) -> AdapterError:
        """The spec's ErrorResponse message when there is one, else the status alone."""
        message = ""
        try:
            doc = response.json()
            if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
                message = str(doc["error"].get("message") or "")
        except ValueError:
            pass
        detail = f": {message}" if message else ""
        return AdapterError(
            f"adapter {self.info.name}: {what}: HTTP {response.status_code}{detail}"
        )


def refresh_after(value: str | None) -> float:
    """Seconds to wait before polling again: the header's integer (the spec's type; a
    decimal is taken too), bounded, or Harbor's own default when it is absent or unreadable."""
    try:
        seconds = float(value) if value is not None else DEFAULT_REFRESH
    except ValueError:
        seconds = DEFAULT_REFRESH
    if seconds != seconds:  # NaN
        seconds = DEFAULT_REFRESH
    return min(max(seconds, MIN_REFRESH), MAX_REFRESH)


def _report_type(metadata: AdapterMetadata) -> str:
    produced = metadata.produces()
    for wanted in VULN_REPORTS:  # the current name first
        if any(same_media_type(wanted, offered) for offered in produced):
            return wanted
    raise AdapterError(
        f"adapter {metadata.scanner.name or '?'} produces no Harbor vulnerability report "
        f"(it offers {', '.join(produced) or 'nothing'})"
    )


def _db_version(metadata: AdapterMetadata) -> str:
    """Dockyard's exact version when the adapter is a Dockyard; else when the database was
    last updated (Trivy's adapter says so); else "unknown"."""
    properties = metadata.properties
    return properties.get(DB_VERSION) or properties.get(DB_UPDATED_AT) or "unknown"
