"""The adapter client: scans through a (fake, spec-following) adapter, honouring Refresh-After,
reading database versions from its metadata, and failing clearly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dockyard.ext.scanning.adapter import (
    AdapterError,
    AdapterScanner,
)
from dockyard.ext.scanning.adapter.client import DEFAULT_REFRESH, MAX_REFRESH, refresh_after
from dockyard.ext.scanning.adapter.report import render_report
from dockyard.ext.scanning.adapter.wire import (
    DB_UPDATED_AT,
    DB_VERSION,
    SCAN_REQUEST,
    VULN_REPORT_1_0,
    VULN_REPORT_1_1,
)
from dockyard.ext.scanning.scanner import ScannerInfo, ScanTarget
from dockyard.ext.scanning.settings import AdapterSettings
from dockyard.ext.scanning.severity import Severity
from dockyard.oci import mediatypes as mt
from tests.unit.ext.scanning.adapter_parts import (
    ADAPTER_AUTH,
    make_finding,
    make_report,
)

pytestmark = pytest.mark.anyio


# --- the client --------------------------------------------------------------------------------


class FakeAdapter:
    """An adapter that answers `pending` polls with 302 before the report; records requests."""

    def __init__(self, pending: int = 2, refresh: str | None = "3") -> None:
        self.pending = pending
        self.refresh = refresh
        self.requests: list[httpx.Request] = []
        self.report: Any = render_report(
            make_report(make_finding("DSA-1", Severity.MEDIUM)), {"repository": "a", "digest": "x"}
        )
        self.properties = {DB_UPDATED_AT: "2024-05-01T00:00:00Z"}
        self.produces = [VULN_REPORT_1_0, VULN_REPORT_1_1]
        self.scan_answer = httpx.Response(202, json={"id": "id/1"})

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/trivy/api/v1")
        if path == "/metadata":
            capability = {
                "consumes_mime_types": [mt.OCI_MANIFEST],
                "produces_mime_types": self.produces,
            }
            scanner = {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50.1"}
            return httpx.Response(
                200,
                json={
                    "scanner": scanner,
                    "capabilities": [capability],
                    "properties": self.properties,
                },
            )
        if path == "/scan":
            return self.scan_answer
        if request.url.raw_path.decode().endswith("/scan/id%2F1/report"):
            if self.pending:
                self.pending -= 1
                headers = {"Refresh-After": self.refresh} if self.refresh is not None else {}
                return httpx.Response(302, headers=headers)
            if isinstance(self.report, httpx.Response):
                return self.report
            return httpx.Response(200, json=self.report)
        return httpx.Response(404)


def _client(
    fake: FakeAdapter, sleeps: list[float], real_sleep: bool = False, **settings: Any
) -> AdapterScanner:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(seconds if real_sleep else 0)

    options = {
        "name": "trivy",
        "url": "https://adapter.test/trivy/",
        "authorization": ADAPTER_AUTH,
        **settings,
    }
    return AdapterScanner(
        AdapterSettings(**options),
        registry_url="https://dockyard.test/",
        registry_authorization=lambda repository: f"Bearer pull-{repository}",
        http=httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)),
        sleep=sleep,
    )


def _target() -> ScanTarget:
    return ScanTarget("team/app", "sha256:" + "2" * 64, mt.OCI_MANIFEST, [])


async def test_the_client_scans_through_an_adapter_honouring_refresh_after() -> None:
    fake, sleeps = FakeAdapter(pending=2, refresh="3"), []
    scanner = _client(fake, sleeps)
    assert scanner.supports(mt.DOCKER_MANIFEST)  # before metadata: what every adapter consumes
    report = await scanner.scan(_target())
    assert sleeps == [3.0, 3.0]
    assert report.scanner == ScannerInfo("trivy", "Aqua Security", "0.50.1") == scanner.info
    assert report.db_version == "db-1"  # the report's own (a Dockyard adapter says it)
    assert [f.advisory_id for f in report.findings] == ["DSA-1"]
    assert not scanner.supports(mt.DOCKER_MANIFEST)  # this adapter consumes OCI only
    submit = next(r for r in fake.requests if r.method == "POST")
    assert submit.url == "https://adapter.test/trivy/api/v1/scan"
    assert submit.headers["content-type"] == SCAN_REQUEST
    assert submit.headers["authorization"] == ADAPTER_AUTH
    assert json.loads(submit.content) == {
        "registry": {"url": "https://dockyard.test", "authorization": "Bearer pull-team/app"},
        "artifact": {
            "repository": "team/app",
            "digest": "sha256:" + "2" * 64,
            "mime_type": mt.OCI_MANIFEST,
        },
    }
    polls = [r for r in fake.requests if r.url.path.endswith("/report")]
    assert {r.headers["accept"] for r in polls} == {VULN_REPORT_1_1}
    await scanner.aclose()


async def test_refresh_after_is_read_as_the_spec_types_it() -> None:
    assert refresh_after("7") == 7.0
    assert refresh_after(None) == refresh_after("soon") == refresh_after("nan") == DEFAULT_REFRESH
    assert refresh_after("0") > 0
    assert refresh_after("86400") == MAX_REFRESH


async def test_database_versions_come_from_the_metadata() -> None:
    fake = FakeAdapter()
    scanner = _client(fake, [])
    assert await scanner.db_version() == "2024-05-01T00:00:00Z"
    fake.properties = {DB_VERSION: "exact", DB_UPDATED_AT: "later"}
    assert await scanner.db_version() == "exact"
    fake.properties = {}
    assert await scanner.db_version() == "unknown"
    fake.report = {"vulnerabilities": []}  # a report that does not say: the metadata's
    assert (await scanner.scan(_target())).db_version == "unknown"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda f: setattr(
                f, "report", httpx.Response(500, json={"error": {"message": "trivy crashed"}})
            ),
            "HTTP 500: trivy crashed",
        ),
        (lambda f: setattr(f, "report", httpx.Response(404)), "report: HTTP 404"),
        (lambda f: setattr(f, "scan_answer", httpx.Response(202, json={})), "without an id"),
        (
            lambda f: setattr(
                f,
                "scan_answer",
                httpx.Response(422, json={"error": {"message": "missing artifact.digest"}}),
            ),
            "missing artifact.digest",
        ),
        (
            lambda f: setattr(f, "produces", ["application/vnd.scanner.adapter.vuln.report.raw"]),
            "no Harbor vulnerability report",
        ),
        (lambda f: setattr(f, "report", ["not", "a", "report"]), "unreadable report"),
    ],
)
async def test_adapter_failures_become_adapter_errors(
    setup: Callable[[FakeAdapter], None], message: str
) -> None:
    fake = FakeAdapter(pending=0)
    setup(fake)
    scanner = _client(fake, [])
    with pytest.raises(AdapterError, match=message):
        await scanner.scan(_target())


async def test_a_scan_that_never_finishes_times_out() -> None:
    fake = FakeAdapter(pending=10**9, refresh="0")
    scanner = _client(fake, [], real_sleep=True, timeout_seconds=0.05)  # the deadline passes
    with pytest.raises(AdapterError, match="did not finish"):
        await scanner.scan(_target())
