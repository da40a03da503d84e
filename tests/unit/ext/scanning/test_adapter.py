"""Harbor's scanner adapter API, both ways, checked against the spec (pluggable-scanner-spec
OpenAPI v1.2): the wire format, the report conversion, the pull from a registry that wants
tokens, the server's endpoints (in process, over ASGI) and the client's polling. The full
round trip over real sockets with a real Dockyard is in test_scanner_suite.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.ext.scanning.adapter import (
    AdapterError,
    AdapterScanner,
    AdapterServer,
    require_admin,
)
from dockyard.ext.scanning.adapter.client import DEFAULT_REFRESH, MAX_REFRESH, refresh_after
from dockyard.ext.scanning.adapter.ecosystems import guess_ecosystem, package_purl
from dockyard.ext.scanning.adapter.pull import PullError, RegistryPuller, bearer_challenge
from dockyard.ext.scanning.adapter.report import harbor_id, parse_report, render_report
from dockyard.ext.scanning.adapter.wire import (
    DB_UPDATED_AT,
    DB_VERSION,
    ERROR,
    METADATA_1_0,
    SBOM_REPORT,
    SCAN_REQUEST,
    SCAN_RESPONSE,
    TO_HARBOR,
    VULN_REPORT_1_0,
    VULN_REPORT_1_1,
    WireError,
    from_harbor_severity,
    parse_metadata,
    parse_scan_request,
)
from dockyard.ext.scanning.inventory import inventory_image
from dockyard.ext.scanning.matcher import Finding
from dockyard.ext.scanning.packages import Distro, Ecosystem, Inventory, LayerProblem, Package
from dockyard.ext.scanning.scanner import IMAGE_MANIFESTS, ScannerInfo, ScanReport, ScanTarget
from dockyard.ext.scanning.settings import AdapterSettings
from dockyard.ext.scanning.severity import Severity
from dockyard.oci import mediatypes as mt
from dockyard.settings import Settings
from dockyard.testing.scanner_suite import TestImage, python_app_image
from tests.conftest import ADMIN

pytestmark = pytest.mark.anyio

SPEC_SEVERITIES = {"Unknown", "Negligible", "Low", "Medium", "High", "Critical"}
CREDENTIALS = "Basic " + base64.b64encode(b"robot:secret").decode()
ADAPTER_AUTH = "Bearer let-me-in"
REGISTRY = "https://registry.test"


def _finding(advisory: str, severity: Severity, **extra: Any) -> Finding:
    package = Package(
        "openssl",
        "3.0.11-1",
        Ecosystem.DEBIAN,
        "pkg:deb/debian/openssl@3.0.11-1",
        "var/lib/dpkg/status",
        layer="sha256:" + "1" * 64,
        distro_release="12",
        source_name="openssl",
    )
    fields: dict[str, Any] = {
        "aliases": ("CVE-2024-0001",),
        "package": package,
        "severity": severity,
        "score": None,
        "summary": f"{advisory} summary",
        "fixed": ("3.0.13-1",),
        "url": "https://example.test/a",
    }
    fields.update(extra)
    return Finding(advisory_id=advisory, **fields)


def _report(*findings: Finding, problems: tuple[LayerProblem, ...] = ()) -> ScanReport:
    inventory = Inventory(tuple({f.package for f in findings}), Distro("debian", "12"), problems)
    info = ScannerInfo("dockyard", "Dockyard", "0.1.0")
    return ScanReport(info, "db-1", "sha256:" + "2" * 64, 1_700_000_000.5, inventory, findings)


# --- the wire ----------------------------------------------------------------------------------


def test_every_severity_has_a_harbor_name_from_the_spec_enum() -> None:
    assert set(TO_HARBOR) == set(Severity)
    assert set(TO_HARBOR.values()) == SPEC_SEVERITIES
    for severity, word in TO_HARBOR.items():
        if severity is not Severity.NONE:  # Negligible reads back as LOW, as Ubuntu's does
            assert from_harbor_severity(word) is severity
    assert from_harbor_severity("Negligible") is Severity.LOW
    assert from_harbor_severity("whatever") is from_harbor_severity(None) is Severity.UNKNOWN


def test_the_spec_example_scan_request_is_read() -> None:
    body = {
        "registry": {"url": "https://core.harbor.domain/", "authorization": CREDENTIALS},
        "artifact": {
            "repository": "library/mongo",
            "digest": "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
            "tag": "3.14-xenial",
            "mime_type": mt.DOCKER_MANIFEST,
        },
        "enabled_capabilities": [
            {"type": "vulnerability"},
            {"type": "sbom", "parameters": {"sbom_media_types": ["application/spdx+json"]}},
        ],
    }
    request = parse_scan_request(body)
    assert request.registry_url == "https://core.harbor.domain"
    assert request.authorization == CREDENTIALS
    assert (request.repository, request.tag, request.mime_type) == (
        "library/mongo",
        "3.14-xenial",
        mt.DOCKER_MANIFEST,
    )
    assert request.sbom_media_types == ("application/spdx+json",)
    assert CREDENTIALS not in repr(request)
    trivy = {
        **body,
        "scan": {
            "type": "sbom",
            "parameters": {"sbom_media_type": "application/vnd.cyclonedx+json"},
        },
    }
    del trivy["enabled_capabilities"]
    assert parse_scan_request(trivy).sbom_media_types == ("application/vnd.cyclonedx+json",)


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (lambda b: [], 400, "JSON object"),
        (lambda b: {**b, "artifact": "x"}, 400, "registry and artifact"),
        (lambda b: {**b, "registry": {"url": 5}}, 400, "registry.url must be a string"),
        (lambda b: {**b, "registry": {}}, 422, "missing registry.url"),
        (lambda b: {**b, "registry": {"url": "ftp://x"}}, 422, "http(s)"),
        (lambda b: {**b, "registry": {"url": "https://u:p@x"}}, 422, "credentials"),
        (lambda b: {**b, "artifact": {"repository": "a"}}, 422, "missing artifact.digest"),
        (
            lambda b: {**b, "artifact": {"repository": "A/../b", "digest": "sha256:" + "0" * 64}},
            422,
            "invalid",
        ),
        (lambda b: {**b, "artifact": {"repository": "a", "digest": "md5:00"}}, 422, "digest"),
        (lambda b: {**b, "enabled_capabilities": [{"type": "malware"}]}, 422, "unknown type"),
        (
            lambda b: {
                **b,
                "enabled_capabilities": [
                    {"type": "sbom", "parameters": {"sbom_media_types": ["text/plain"]}}
                ],
            },
            422,
            "SBOM media type",
        ),
    ],
)
def test_bad_scan_requests_get_the_spec_statuses(
    change: Callable[[dict[str, Any]], Any], status: int, message: str
) -> None:
    body = {
        "registry": {"url": REGISTRY},
        "artifact": {"repository": "a", "digest": "sha256:" + "0" * 64},
    }
    with pytest.raises(WireError) as raised:
        parse_scan_request(change(body))
    assert raised.value.status == status
    assert message in raised.value.message


def test_metadata_of_other_adapters_is_read() -> None:
    trivy = {  # harbor-scanner-trivy's answer, shortened
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50.1"},
        "capabilities": [
            {
                "type": "vulnerability",
                "consumes_mime_types": sorted(IMAGE_MANIFESTS),
                "produces_mime_types": [VULN_REPORT_1_1],
            },
            {
                "type": "sbom",
                "consumes_mime_types": sorted(IMAGE_MANIFESTS),
                "produces_mime_types": [SBOM_REPORT],
            },
        ],
        "properties": {DB_UPDATED_AT: "2024-05-01T00:00:00Z"},
    }
    metadata = parse_metadata(trivy)
    assert metadata.scanner == ScannerInfo("Trivy", "Aqua Security", "0.50.1")
    assert metadata.consumes() == IMAGE_MANIFESTS
    assert metadata.produces() == (VULN_REPORT_1_1,)
    clair = {
        "scanner": {"name": "Clair"},
        "capabilities": [  # v1.0: no capability type
            {"consumes_mime_types": [mt.OCI_MANIFEST], "produces_mime_types": [VULN_REPORT_1_0]}
        ],
    }
    assert parse_metadata(clair).produces() == (VULN_REPORT_1_0,)
    with pytest.raises(WireError):
        parse_metadata({"scanner": {}})


# --- reports -----------------------------------------------------------------------------------


def test_a_report_is_written_as_the_spec_says_and_read_back_whole() -> None:
    findings = (
        _finding("DSA-1", Severity.CRITICAL, score=9.8),
        _finding("PYSEC-2", Severity.NONE, aliases=("GHSA-x",), fixed=()),
        _finding("GO-3", Severity.HIGH, fixed=("1.2", "1.3")),
    )
    problem = LayerProblem("sha256:" + "3" * 64, "layer archive unreadable")
    report = _report(*findings, problems=(problem,))
    artifact = {"repository": "team/app", "digest": report.digest, "mime_type": mt.OCI_MANIFEST}
    doc = json.loads(json.dumps(render_report(report, artifact)))
    assert doc["artifact"] == artifact
    assert doc["scanner"] == {"name": "dockyard", "vendor": "Dockyard", "version": "0.1.0"}
    assert doc["severity"] == "Critical"
    assert doc["generated_at"] == "2023-11-14T22:13:20.500Z"
    first, second, third = doc["vulnerabilities"]
    assert first["id"] == "CVE-2024-0001"  # Harbor allow-lists by CVE id
    assert second["id"] == "PYSEC-2" and "fix_version" not in second
    assert third["fix_version"] == "1.2, 1.3"
    assert first["preferred_cvss"] == {"score_v3": 9.8}
    assert first["links"] == ["https://osv.dev/vulnerability/DSA-1", "https://example.test/a"]
    assert {v["severity"] for v in doc["vulnerabilities"]} <= SPEC_SEVERITIES
    assert (first["package"], first["version"]) == ("openssl", "3.0.11-1")
    parsed = parse_report(doc)
    assert set(parsed.findings) == set(findings)
    assert parsed.db_version == "db-1"
    assert parsed.generated_at == report.generated_at
    assert parsed.inventory.distro == Distro("debian", "12")
    assert parsed.inventory.problems == (problem,)


def test_an_empty_report_has_no_overall_severity() -> None:
    doc = render_report(_report(), {"repository": "a", "digest": "sha256:" + "2" * 64})
    assert "severity" not in doc and doc["vulnerabilities"] == []
    assert parse_report(doc).findings == ()


def test_a_report_from_another_scanner_is_read_from_the_spec_fields() -> None:
    trivy = {
        "generated_at": "2024-05-01T10:00:00.123456789Z",
        "artifact": {"repository": "a", "digest": "sha256:" + "2" * 64},
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50.1"},
        "severity": "High",
        "vulnerabilities": [
            {
                "id": "CVE-2023-1",
                "package": "libssl3",
                "version": "3.0.11-1~deb12u1",
                "fix_version": "3.0.13-1~deb12u1",
                "severity": "High",
                "description": "  x \n",
                "links": ["https://avd.aquasec.com/nvd/cve-2023-1"],
                "layer": {"digest": "sha256:" + "4" * 64},
                "preferred_cvss": {"score_v3": 7.5, "vector_v3": "CVSS:3.1/AV:N"},
            },
            {
                "id": "CVE-2023-2",
                "package": "musl",
                "version": "1.2.4-r1",
                "severity": "Negligible",
            },
            {
                "id": "GHSA-aaaa",
                "package": "lodash",
                "version": "4.17.20",
                "severity": "Medium",
                "vendor_attributes": {"purl": "pkg:npm/lodash@4.17.20"},
            },
            {"id": "CVE-2023-3", "package": "bash", "version": "5.1", "cve2_score": "4.3"},
            {"package": "no-id"},
            "not an item",
        ],
    }
    parsed = parse_report(trivy)
    by_id = {f.advisory_id: f for f in parsed.findings}
    assert set(by_id) == {"CVE-2023-1", "CVE-2023-2", "GHSA-aaaa", "CVE-2023-3"}
    ssl = by_id["CVE-2023-1"]
    assert (ssl.severity, ssl.score, ssl.fixed, ssl.summary) == (
        Severity.HIGH,
        7.5,
        ("3.0.13-1~deb12u1",),
        "x",
    )
    assert ssl.package.layer == "sha256:" + "4" * 64
    assert ssl.package.purl == "pkg:generic/libssl3@3.0.11-1~deb12u1"
    assert ssl.url == "https://avd.aquasec.com/nvd/cve-2023-1"
    assert by_id["CVE-2023-2"].severity is Severity.LOW
    assert by_id["CVE-2023-2"].package.ecosystem is Ecosystem.ALPINE
    assert by_id["GHSA-aaaa"].package.ecosystem is Ecosystem.NPM
    assert by_id["GHSA-aaaa"].package.purl == "pkg:npm/lodash@4.17.20"
    assert (by_id["CVE-2023-3"].severity, by_id["CVE-2023-3"].score) == (Severity.UNKNOWN, 4.3)
    assert parsed.findings[0].severity is Severity.HIGH  # the most severe first
    assert len(parsed.inventory.packages) == 4 and parsed.db_version is None
    assert parsed.generated_at == pytest.approx(1714557600.123456)


@pytest.mark.parametrize(
    ("advisory", "version", "ecosystem"),
    [
        ("PYSEC-2019-217", "2.10", Ecosystem.PYPI),
        ("GO-2022-0001", "v1.2.3", Ecosystem.GO),
        ("RUSTSEC-2021-0001", "0.1.0", Ecosystem.CRATES_IO),
        ("DLA-3000-1", "1.0", Ecosystem.DEBIAN),
        ("USN-6000-1", "1.0", Ecosystem.UBUNTU),
        ("RHSA-2024:0001", "1.0", Ecosystem.RPM),
        ("CVE-2024-1", "3.1.4-r5", Ecosystem.ALPINE),
        ("CVE-2024-1", "1.1.1k-9.el9", Ecosystem.RPM),
        ("CVE-2024-1", "2.35-0ubuntu3.6", Ecosystem.UBUNTU),
        ("CVE-2024-1", "7.88.1-10+deb12u5", Ecosystem.DEBIAN),
        ("CVE-2024-1", "2.10", Ecosystem.DEBIAN),  # the documented fallback
    ],
)
def test_ecosystems_are_guessed_from_what_the_report_says(
    advisory: str, version: str, ecosystem: Ecosystem
) -> None:
    assert guess_ecosystem(advisory, version, None) is ecosystem


def test_a_package_url_in_vendor_attributes_wins() -> None:
    attributes = {"PkgIdentifier": {"PURL": "pkg:pypi/jinja2@2.10"}}
    assert guess_ecosystem("CVE-2024-1", "2.10", attributes) is Ecosystem.PYPI
    assert package_purl("Jinja2", "2.10", attributes) == "pkg:pypi/jinja2@2.10"
    assert harbor_id(_finding("PYSEC-1", Severity.LOW, aliases=("GHSA-1",))) == "PYSEC-1"


# --- pulling from a registry -------------------------------------------------------------------


class FakeRegistry:
    """An OCI registry that, like Harbor's, wants a Bearer token from its realm, which it hands
    out for the robot's Basic credentials. Counts what it serves."""

    def __init__(self, image: TestImage, repository: str = "team/app") -> None:
        self.repository = repository
        self.blobs = {b.digest: b.data for b in (image.config, *image.layers)}
        self.manifests = {image.digest: (image.manifest, image.media_type)}
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.requests: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.url.path == "/token":
            if request.headers.get("authorization") != CREDENTIALS:
                return httpx.Response(401)
            assert request.url.params["scope"] == f"repository:{self.repository}:pull"
            self.tokens_issued += 1
            token = f"token-{self.tokens_issued}"
            self.valid_tokens.add(token)
            return httpx.Response(200, json={"token": token})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            challenge = f'Bearer realm="{REGISTRY}/token",service="registry.test"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        prefix = f"/v2/{self.repository}/"
        kind, _, digest = request.url.path.removeprefix(prefix).partition("/")
        if kind == "manifests" and digest in self.manifests:
            body, media_type = self.manifests[digest]
            return httpx.Response(200, content=body, headers={"Content-Type": media_type})
        if kind == "blobs" and digest in self.blobs:
            return httpx.Response(200, content=self.blobs[digest])
        return httpx.Response(404)


@pytest.fixture
async def registry() -> AsyncIterator[tuple[FakeRegistry, httpx.AsyncClient]]:
    fake = FakeRegistry(python_app_image())
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as http:
        yield fake, http


async def test_the_pull_exchanges_basic_credentials_for_a_token(registry: Any) -> None:
    fake, http = registry
    digest = next(iter(fake.manifests))
    target = await RegistryPuller(http, REGISTRY, CREDENTIALS).target(fake.repository, digest)
    assert (target.digest, target.media_type, len(target.layers)) == (digest, mt.OCI_MANIFEST, 2)
    inventory = await inventory_image(target.layers)  # the layers stream from the registry
    assert {p.name for p in inventory.packages} == {"Jinja2", "requests"}
    assert fake.tokens_issued == 1
    fake.valid_tokens.clear()  # the token expired: one more exchange, then on
    await inventory_image(target.layers[:1])
    assert fake.tokens_issued == 2


async def test_what_the_registry_serves_must_match_the_digests(registry: Any) -> None:
    fake, http = registry
    digest = next(iter(fake.manifests))
    puller = RegistryPuller(http, REGISTRY, CREDENTIALS)
    target = await puller.target(fake.repository, digest)
    fake.blobs = {d: data[:-1] + b"!" for d, data in fake.blobs.items()}
    with pytest.raises(PullError, match="does not match"):
        async for _ in target.layers[1].open():  # type: ignore[union-attr]
            pass
    body, media_type = fake.manifests[digest]
    fake.manifests[digest] = (body + b" ", media_type)
    with pytest.raises(PullError, match="do not match the digest"):
        await puller.target(fake.repository, digest)


async def test_indexes_missing_manifests_and_bad_credentials_fail_clearly(registry: Any) -> None:
    fake, http = registry
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}).encode()
    index_digest = "sha256:" + hashlib.sha256(index).hexdigest()
    fake.manifests[index_digest] = (index, mt.OCI_INDEX)
    puller = RegistryPuller(http, REGISTRY, CREDENTIALS)
    with pytest.raises(PullError, match="not an image manifest"):
        await puller.target(fake.repository, index_digest)
    with pytest.raises(PullError, match="HTTP 404"):
        await puller.target(fake.repository, "sha256:" + "9" * 64)
    with pytest.raises(PullError, match=r"token endpoint.*401"):
        await RegistryPuller(http, REGISTRY, "Basic d3Jvbmc=").target(fake.repository, index_digest)
    with pytest.raises(PullError, match="refused the credentials"):  # a Bearer is not exchanged
        await RegistryPuller(http, REGISTRY, "Bearer stale").target(fake.repository, index_digest)


def test_bearer_challenges_are_parsed() -> None:
    found = bearer_challenge('Bearer realm="https://r.test/token",service="r",scope="x:y:pull"')
    assert found is not None and (found.realm, found.service) == ("https://r.test/token", "r")
    assert bearer_challenge('Basic realm="x"') is None
    assert bearer_challenge('Bearer realm="/relative"') is None


# --- the server --------------------------------------------------------------------------------


class GatedScanner:
    """A Scanner whose scans wait for `release`; it reads every layer, as a real one does."""

    def __init__(self, report: ScanReport) -> None:
        self.info = ScannerInfo("gated", "Tests", "1")
        self.report = report
        self.release = asyncio.Event()
        self.waiting = 0  # scans that have read their layers and wait for `release`
        self.targets: list[ScanTarget] = []

    def supports(self, media_type: str) -> bool:
        return media_type in IMAGE_MANIFESTS

    async def db_version(self) -> str:
        return "db-1"

    async def scan(self, target: ScanTarget, progress: Any = None) -> ScanReport:
        self.targets.append(target)
        inventory = await inventory_image(target.layers)
        self.waiting += 1
        await self.release.wait()
        return replace(self.report, digest=target.digest, inventory=inventory)


@dataclass
class Harness:
    http: httpx.AsyncClient  # to the adapter endpoint, with its credentials
    scanner: GatedScanner
    server: AdapterServer
    clock: Clock
    registry: FakeRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _admit(request: Request) -> bool:
    return request.headers.get("authorization") == ADAPTER_AUTH


@pytest.fixture
async def adapter(registry: Any) -> AsyncIterator[Harness]:
    fake, pull_http = registry
    scanner = GatedScanner(_report(_finding("DSA-1", Severity.HIGH)))
    clock = Clock()
    server = AdapterServer(
        scanner, authorize=_admit, http=pull_http, refresh_after=3, capacity=2, ttl=60, clock=clock
    )
    app = Starlette(routes=server.routes())
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": ADAPTER_AUTH}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://adapter.test/scanner-adapter/api/v1", headers=headers
    ) as http:
        yield Harness(http, scanner, server, clock, fake)
    await server.aclose()


def _scan_body(fake: FakeRegistry, **artifact: str) -> dict[str, Any]:
    digest = next(iter(fake.manifests))
    return {
        "registry": {"url": REGISTRY, "authorization": CREDENTIALS},
        "artifact": {"repository": fake.repository, "digest": digest, **artifact},
    }


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for the background scans to get somewhere (layers are read in worker threads)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the background scan never got there")


def _finished(server: AdapterServer, *scan_ids: str) -> Callable[[], bool]:
    return lambda: all(server.jobs.get(i).finished for i in scan_ids)  # type: ignore[union-attr]


async def test_metadata_follows_the_spec(adapter: Harness) -> None:
    http = adapter.http
    answer = await http.get("/metadata", headers={"Accept": METADATA_1_0})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == METADATA_1_0
    doc = answer.json()
    assert doc["scanner"] == {"name": "gated", "vendor": "Tests", "version": "1"}
    vulnerability, sbom = doc["capabilities"]
    assert vulnerability["type"] == "vulnerability"
    assert set(vulnerability["consumes_mime_types"]) == IMAGE_MANIFESTS
    assert vulnerability["produces_mime_types"] == [VULN_REPORT_1_1, VULN_REPORT_1_0]
    assert sbom["produces_mime_types"] == [SBOM_REPORT]
    assert set(sbom["additional_attributes"]["sbom_media_types"]) == {
        "application/spdx+json",
        "application/vnd.cyclonedx+json",
    }
    assert doc["properties"][DB_VERSION] == "db-1"
    refused = await http.get("/metadata", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.headers["content-type"] == ERROR
    assert refused.json()["error"]["message"]
    assert refused.headers["www-authenticate"].startswith("Basic ")


async def test_a_scan_is_accepted_polled_and_reported(adapter: Harness) -> None:
    http, scanner, server, fake = adapter.http, adapter.scanner, adapter.server, adapter.registry
    accepted = await http.post(
        "/scan", json=_scan_body(fake, tag="1.0"), headers={"Content-Type": SCAN_REQUEST}
    )
    assert accepted.status_code == 202
    assert accepted.headers["content-type"] == SCAN_RESPONSE
    scan_id = accepted.json()["id"]
    await _until(lambda: scanner.waiting == 1)
    pending = await http.get(f"/scan/{scan_id}/report", headers={"Accept": VULN_REPORT_1_1})
    assert pending.status_code == 302
    assert pending.headers["refresh-after"] == "3"
    assert pending.headers["location"].endswith(f"/scan/{scan_id}/report")
    scanner.release.set()
    await _until(_finished(server, scan_id))
    for accept in (VULN_REPORT_1_1, VULN_REPORT_1_0, "*/*"):
        done = await http.get(f"/scan/{scan_id}/report", headers={"Accept": accept})
        assert done.status_code == 200
        assert done.headers["content-type"] == (accept if accept != "*/*" else VULN_REPORT_1_1)
    doc = done.json()
    assert doc["artifact"] == {
        "repository": fake.repository,
        "digest": scanner.targets[0].digest,
        "tag": "1.0",
    }
    assert [v["id"] for v in doc["vulnerabilities"]] == ["CVE-2024-0001"]
    assert fake.tokens_issued == 1  # the lent credentials were used, the Harbor way
    assert server.jobs.get(scan_id).request.authorization is None  # and forgotten after


async def test_report_errors_follow_the_spec(adapter: Harness) -> None:
    http, server, fake = adapter.http, adapter.server, adapter.registry
    unknown = await http.get("/scan/no-such-id/report")
    assert unknown.status_code == 404 and unknown.json()["error"]["message"]
    raw = await http.get(
        "/scan/x/report", headers={"Accept": "application/vnd.scanner.adapter.vuln.report.raw"}
    )
    assert raw.status_code == 501
    missing = _scan_body(fake)
    missing["artifact"]["digest"] = "sha256:" + "9" * 64
    scan_id = (await http.post("/scan", json=missing)).json()["id"]
    await _until(_finished(server, scan_id))
    failed = await http.get(f"/scan/{scan_id}/report")
    assert failed.status_code == 500 and failed.headers["content-type"] == ERROR
    assert "HTTP 404" in failed.json()["error"]["message"]
    assert (await http.post("/scan", content=b"{nope")).status_code == 400
    assert (await http.post("/scan", json={"registry": {}, "artifact": {}})).status_code == 422
    signature = _scan_body(fake, mime_type="application/vnd.dev.cosign.simplesigning.v1+json")
    assert (await http.post("/scan", json=signature)).status_code == 501
    huge = await http.post("/scan", content=b" " * (65 * 1024))
    assert huge.status_code == 413


async def test_sbom_reports_in_both_formats(adapter: Harness) -> None:
    http, scanner, server, fake = adapter.http, adapter.scanner, adapter.server, adapter.registry
    scanner.release.set()
    scan_id = (await http.post("/scan", json=_scan_body(fake))).json()["id"]
    await _until(_finished(server, scan_id))
    path = f"/scan/{scan_id}/report"
    assert (await http.get(path, headers={"Accept": SBOM_REPORT})).status_code == 400
    for media_type, marker in (
        ("application/spdx+json", "spdxVersion"),
        ("application/vnd.cyclonedx+json", "bomFormat"),
    ):
        answer = await http.get(
            path, params={"sbom_media_type": media_type}, headers={"Accept": SBOM_REPORT}
        )
        assert answer.status_code == 200 and answer.headers["content-type"] == SBOM_REPORT
        doc = answer.json()
        assert doc["media_type"] == media_type and marker in doc["sbom"]
        assert (
            doc["scanner"]["name"] == "dockyard"
            and doc["artifact"]["repository"] == fake.repository
        )
        assert "jinja2" in json.dumps(doc["sbom"]).lower()


async def test_requests_are_bounded_and_expire(adapter: Harness) -> None:
    http, scanner, server, fake = adapter.http, adapter.scanner, adapter.server, adapter.registry
    first = (await http.post("/scan", json=_scan_body(fake))).json()["id"]
    second = (await http.post("/scan", json=_scan_body(fake))).json()["id"]
    busy = await http.post("/scan", json=_scan_body(fake))  # capacity 2, both still running
    assert busy.status_code == 503 and busy.json()["error"]["message"]
    scanner.release.set()
    await _until(_finished(server, first, second))
    third = (await http.post("/scan", json=_scan_body(fake))).json()["id"]  # evicts the oldest
    assert (await http.get(f"/scan/{first}/report")).status_code == 404
    assert (await http.get(f"/scan/{second}/report")).status_code == 200
    await _until(_finished(server, third))
    adapter.clock.now += 61  # past the ttl of finished requests
    assert (await http.get(f"/scan/{second}/report")).status_code == 404
    assert (await http.get(f"/scan/{third}/report")).status_code == 404
    assert len(server.jobs) == 0


async def test_closing_the_server_fails_the_scans_in_flight(adapter: Harness) -> None:
    http, scanner, server, fake = adapter.http, adapter.scanner, adapter.server, adapter.registry
    scan_id = (await http.post("/scan", json=_scan_body(fake))).json()["id"]
    await _until(lambda: scanner.waiting == 1)
    await server.jobs.aclose()
    failed = await http.get(f"/scan/{scan_id}/report")
    assert failed.status_code == 500 and "stopped" in failed.json()["error"]["message"]


# --- the client --------------------------------------------------------------------------------


class FakeAdapter:
    """An adapter that answers `pending` polls with 302 before the report; records requests."""

    def __init__(self, pending: int = 2, refresh: str | None = "3") -> None:
        self.pending = pending
        self.refresh = refresh
        self.requests: list[httpx.Request] = []
        self.report: Any = render_report(
            _report(_finding("DSA-1", Severity.MEDIUM)), {"repository": "a", "digest": "x"}
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


# --- inside Dockyard ---------------------------------------------------------------------------


def test_inside_dockyard_only_administrators_may_call_the_adapter(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    server = AdapterServer(GatedScanner(_report()), authorize=require_admin)
    app.router.routes.extend(server.routes())
    with TestClient(app) as client:
        path = "/scanner-adapter/api/v1/metadata"
        assert client.get(path, auth=ADMIN).status_code == 200
        assert client.get(path).status_code == 401
        assert client.get(path, auth=("admin", "wrong")).status_code == 401
