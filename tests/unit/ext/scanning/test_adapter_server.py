"""Dockyard's adapter server (in process, over ASGI), and the pull it makes from a registry that
wants tokens; inside Dockyard, only administrators may call it. The full round trip over real
sockets with a real Dockyard is in test_scanner_suite.py."""

from __future__ import annotations

import asyncio
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
    AdapterServer,
    require_admin,
)
from dockyard.ext.scanning.adapter.pull import PullError, RegistryPuller, bearer_challenge
from dockyard.ext.scanning.adapter.wire import (
    DB_VERSION,
    ERROR,
    METADATA_1_0,
    SBOM_REPORT,
    SCAN_REQUEST,
    SCAN_RESPONSE,
    VULN_REPORT_1_0,
    VULN_REPORT_1_1,
)
from dockyard.ext.scanning.inventory import inventory_image
from dockyard.ext.scanning.scanner import IMAGE_MANIFESTS, ScannerInfo, ScanReport, ScanTarget
from dockyard.ext.scanning.severity import Severity
from dockyard.oci import mediatypes as mt
from dockyard.settings import Settings
from dockyard.testing.scanner_suite import TestImage, python_app_image
from tests.conftest import ADMIN
from tests.unit.ext.scanning.adapter_parts import (
    ADAPTER_AUTH,
    CREDENTIALS,
    REGISTRY,
    make_finding,
    make_report,
)

pytestmark = pytest.mark.anyio


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
    scanner = GatedScanner(make_report(make_finding("DSA-1", Severity.HIGH)))
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


# --- inside Dockyard ---------------------------------------------------------------------------


def test_inside_dockyard_only_administrators_may_call_the_adapter(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    server = AdapterServer(GatedScanner(make_report()), authorize=require_admin)
    app.router.routes.extend(server.routes())
    with TestClient(app) as client:
        path = "/scanner-adapter/api/v1/metadata"
        assert client.get(path, auth=ADMIN).status_code == 200
        assert client.get(path).status_code == 401
        assert client.get(path, auth=("admin", "wrong")).status_code == 401
