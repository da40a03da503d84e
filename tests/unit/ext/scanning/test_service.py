"""The scan pipeline end to end on real images: push through the registry API, queue on push,
run the worker, read the findings back by advisory id; rescans after a database change,
indexes, progress, failures the worker survives, and two workers sharing one queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.ext.scanning.inventory import inventory_image
from dockyard.ext.scanning.scanner import ScannerInfo, ScanReport, ScanTarget
from dockyard.ext.scanning.service import ScanService
from dockyard.ext.scanning.settings import ScanningSettings
from dockyard.ext.scanning.vulndb import import_osv
from dockyard.ext.scanning.worker import ScanWorker
from dockyard.settings import Settings
from tests.conftest import PG_URL, admin_client
from tests.e2e.images import OCI_INDEX, canonical_json, push_image, push_manifest
from tests.unit.ext.scanning.scan_images import (
    ADVISORIES,
    JINJA2_ADVISORIES,
    QUIET,
    advisories_dir,
    data_dir_from,
    python_image,
    run_scans,
    scan_settings,
    vulndb_template,
    vulnerable_image,
    worker_for,
)

BASE = "http://registry.test"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return vulndb_template(tmp_path_factory.mktemp("vulndb"))


def _client(settings: Settings) -> TestClient:
    return admin_client(create_app(settings), base_url=BASE)


@pytest.fixture
def client(template: Path, tmp_path: Path) -> Iterator[TestClient]:
    """The embedded registry with the whole PyPI advisory export imported."""
    with _client(scan_settings(data_dir_from(template, tmp_path / "data"))) as test_client:
        yield test_client


def _vulnerabilities(client: TestClient, repo: str, reference: str, **params: str) -> Any:
    response = client.get(
        f"/api/v1/repositories/{repo}/artifacts/{reference}/vulnerabilities", params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_pushed_image_is_scanned_and_its_findings_named(client: TestClient) -> None:
    image = vulnerable_image()
    push_image(client, "team/app", image, "1.0")
    queued = _vulnerabilities(client, "team/app", "1.0")
    assert queued["status"]["state"] == "queued" and queued["status"]["reason"] == "push"
    assert queued["report"] is None
    assert run_scans(client) == 1
    found = _vulnerabilities(client, "team/app", "1.0")
    status, report = found["status"], found["report"]
    assert (status["state"], status["progress"], status["error"]) == (
        "done",
        {"done": 2, "total": 2},
        None,
    )
    by_id = {f["id"]: f for f in report["findings"]}
    assert set(by_id) >= ADVISORIES
    jinja = by_id["PYSEC-2019-217"]
    assert (jinja["package"], jinja["version"], jinja["ecosystem"]) == ("Jinja2", "2.10", "PyPI")
    assert "2.10.1" in jinja["fixed"] and "CVE-2019-10906" in jinja["aliases"]
    assert jinja["purl"] == "pkg:pypi/jinja2@2.10" and jinja["path"].endswith("METADATA")
    assert "2.20.0" in by_id["PYSEC-2018-28"]["fixed"]
    assert report["summary"]["total"] == len(report["findings"])
    assert report["db_version"] not in ("", "empty")
    packages = client.get("/api/v1/repositories/team/app/artifacts/1.0/packages").json()
    ecosystems = {p["ecosystem"] for p in packages["packages"]}
    assert "PyPI" in ecosystems and packages["distro"]["id"]
    if Path("/var/lib/dpkg/status").exists():
        assert "Debian" in ecosystems or "Ubuntu" in ecosystems
    high = _vulnerabilities(client, "team/app", "1.0", severity="CRITICAL")
    assert all(f["severity"] == "CRITICAL" for f in high["report"]["findings"])


def test_the_same_image_in_another_repository_is_not_read_again(client: TestClient) -> None:
    image = python_image([("Jinja2", "2.10")])
    push_image(client, "team/a", image, "1")
    run_scans(client)
    first = _vulnerabilities(client, "team/a", "1")["report"]
    push_image(client, "team/b", image, "1")
    push_image(client, "team/a", image, "again")  # a new tag queues nothing
    assert run_scans(client) == 1
    second = _vulnerabilities(client, "team/b", "1")
    assert second["status"]["state"] == "done"
    assert second["report"]["generated_at"] == first["generated_at"]  # the same report


def test_referrers_artifacts_and_disabled_scan_on_push_queue_nothing(tmp_path: Path) -> None:
    with _client(scan_settings(tmp_path, scan_on_push=False)) as client:
        push_image(client, "team/app", python_image([("requests", "2.19.0")]), "1")
        response = client.get("/api/v1/repositories/team/app/artifacts/1/vulnerabilities")
        assert response.status_code == 404
        assert "not been scanned" in response.json()["detail"]
        assert run_scans(client) == 0
    with _client(scan_settings(tmp_path / "on")) as client:
        image = python_image([("requests", "2.19.0")])
        push_image(client, "team/app", image, "1")
        sbom = client.post("/api/v1/repositories/team/app/artifacts/1/sbom")  # not scanned
        assert sbom.status_code == 404
        run_scans(client)
        attached = client.post("/api/v1/repositories/team/app/artifacts/1/sbom")
        assert attached.status_code == 201, attached.text
        assert run_scans(client) == 0  # the SBOM artifact (a referrer) is not an image


def test_a_database_change_rescans_stale_reports(tmp_path: Path) -> None:
    with _client(scan_settings(tmp_path / "data")) as client:
        push_image(client, "team/app", python_image([("Jinja2", "2.10")]), "1")
        worker = worker_for(client)
        run_scans(client, worker)
        before = _vulnerabilities(client, "team/app", "1")
        assert before["report"]["db_version"] == "empty" and before["report"]["findings"] == []
        source = advisories_dir(tmp_path / "osv", JINJA2_ADVISORIES)
        registry: Any = client.app
        assert client.portal is not None
        client.portal.call(import_osv, registry.state.registry.store, source)
        assert run_scans(client, worker) == 1  # the worker notices the new version
        after = _vulnerabilities(client, "team/app", "1")
        assert after["status"]["reason"] == "rescan"
        assert {f["id"] for f in after["report"]["findings"]} == JINJA2_ADVISORIES
        assert after["report"]["db_version"] != "empty"
        assert run_scans(client, worker) == 0  # nothing stale any more


def test_an_index_is_scanned_per_platform(client: TestClient) -> None:
    amd = python_image([("Jinja2", "2.10")], arch="amd64")
    arm = python_image([("requests", "2.19.0")], arch="arm64")
    for image in (amd, arm):
        push_image(client, "team/multi", image, image.platform["architecture"])
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [amd.descriptor(), arm.descriptor()],
        }
    )
    push_manifest(client, "team/multi", "latest", index, OCI_INDEX).raise_for_status()
    requested = client.post("/api/v1/repositories/team/multi/artifacts/latest/scan")
    assert requested.status_code == 202
    assert {s["digest"] for s in requested.json()["scans"]} == {amd.digest, arm.digest}
    run_scans(client)
    found = _vulnerabilities(client, "team/multi", "latest")
    assert found["kind"] == "index" and found["status"] is None and found["report"] is None
    children = {c["platform"]: c for c in found["children"]}
    assert set(children) == {"linux/amd64", "linux/arm64"}
    assert children["linux/amd64"]["summary"]["total"] >= 2
    assert children["linux/arm64"]["status"]["state"] == "done"
    arm_report = _vulnerabilities(client, "team/multi", arm.digest)["report"]
    assert {f["package"] for f in arm_report["findings"]} == {"requests"}


class _SlowScanner:
    """Reads the real layers, then waits before reporting: progress can be looked at."""

    info = ScannerInfo("dockyard", "Dockyard", "slow")

    def __init__(self) -> None:
        self.read_first = asyncio.Event()
        self.release = asyncio.Event()

    def supports(self, media_type: str) -> bool:
        return True

    async def db_version(self) -> str:
        return "slow-db"

    async def scan(self, target: ScanTarget, progress: Any = None) -> ScanReport:
        inventory = await inventory_image(target.layers[:1])
        progress(1, len(target.layers))
        self.read_first.set()
        await self.release.wait()
        progress(len(target.layers), len(target.layers))
        return ScanReport(self.info, "slow-db", target.digest, 1.0, inventory)


def test_progress_is_visible_while_a_scan_runs(client: TestClient) -> None:
    push_image(client, "team/app", vulnerable_image(), "1")
    registry: Any = client.app
    store, storage = registry.state.registry.store, registry.state.registry.storage
    scanner = _SlowScanner()
    service = ScanService(store, storage, scanner, ScanningSettings(), progress_interval=0.0)
    assert client.portal is not None

    async def run_and_watch() -> dict[str, Any]:
        running = asyncio.create_task(service.run_one("slow"))
        await asyncio.wait_for(scanner.read_first.wait(), 30)
        for _ in range(200):  # until the progress writer has caught up (no timing asserted)
            async with store.transaction(readonly=True) as tx:
                status = (await tx.scans.status("team/app", [digest]))[digest]
            if status.progress_done == 1:
                break
            await asyncio.sleep(0.01)
        scanner.release.set()
        await running
        return {"during": status}

    digest = vulnerable_image().digest
    during = client.portal.call(run_and_watch)["during"]
    assert (during.state, during.progress_done, during.progress_total) == ("running", 1, 2)
    done = _vulnerabilities(client, "team/app", "1")["status"]
    assert (done["state"], done["progress"]) == ("done", {"done": 2, "total": 2})


def test_a_worker_told_to_stop_ends_its_batch_after_the_scan_at_hand(
    client: TestClient,
) -> None:
    """Shutdown: the scan under way finishes and is saved; the rest stay queued for the next
    process instead of being started and then cancelled."""
    for n in range(3):
        push_image(client, f"team/app{n}", python_image([("Jinja2", f"2.{n}")]), "1")
    registry: Any = client.app
    store, storage = registry.state.registry.store, registry.state.registry.storage
    scanner = _SlowScanner()
    worker = ScanWorker(ScanService(store, storage, scanner, ScanningSettings()), owner="w")
    assert client.portal is not None

    async def stop_during_the_first_scan() -> int:
        batch = asyncio.create_task(worker.run_queue())
        await asyncio.wait_for(scanner.read_first.wait(), 30)
        worker.stop()  # what the scheduler does when the process is told to shut down
        scanner.release.set()
        return await asyncio.wait_for(batch, 30)

    assert client.portal.call(stop_during_the_first_scan) == 1
    states = [_vulnerabilities(client, f"team/app{n}", "1")["status"]["state"] for n in range(3)]
    assert sorted(states) == ["done", "queued", "queued"]
    assert client.portal.call(worker.run_queue) == 0  # a stopped worker takes no more


def test_a_missing_layer_fails_that_scan_and_the_worker_goes_on(client: TestClient) -> None:
    broken, fine = python_image([("Jinja2", "2.10")]), python_image([("requests", "2.19.0")])
    push_image(client, "team/broken", broken, "1")
    push_image(client, "team/fine", fine, "1")
    registry: Any = client.app
    store, storage = registry.state.registry.store, registry.state.registry.storage
    assert client.portal is not None

    async def lose_layer() -> str:
        async with store.transaction(readonly=True) as tx:
            blob = await tx.blobs.get(broken.layer_digests[0])
        await storage.delete(blob.path)
        return str(blob.path)

    path = client.portal.call(lose_layer)
    run_scans(client)
    failed = _vulnerabilities(client, "team/broken", "1")
    assert failed["status"]["state"] == "failed" and failed["report"] is None
    error = failed["status"]["error"]
    assert broken.layer_digests[0] in error and "missing from storage" in error and path in error
    assert failed["status"]["attempts"] == 1  # a missing layer is not retried
    assert _vulnerabilities(client, "team/fine", "1")["status"]["state"] == "done"


def test_two_workers_on_postgresql_never_scan_one_image_at_once(
    pg_schema: str, tmp_path: Path
) -> None:
    database = {"url": PG_URL, "schema_name": pg_schema, "auto_upgrade": True}
    settings = Settings(
        data_dir=tmp_path, storage={"driver": "memory"}, database=database, extensions=QUIET
    )
    images = [python_image([("Jinja2", "2.10"), (f"pkg{i}", "1.0")]) for i in range(8)]
    with _client(settings) as client:
        for i, image in enumerate(images):
            push_image(client, f"team/app{i % 3}", image, str(i))
        first, second = worker_for(client, "replica-1"), worker_for(client, "replica-2")
        in_flight: set[str] = set()
        overlaps: list[str] = []
        scanned: list[str] = []
        for worker in (first, second):
            _instrument(worker, in_flight, overlaps, scanned)
        assert client.portal is not None

        async def both() -> list[int]:
            return list(await asyncio.gather(first.run_queue(), second.run_queue()))

        ran = client.portal.call(both)
        assert sum(ran) == len(images) and overlaps == []
        assert sorted(scanned) == sorted(
            f"team/app{i % 3}@{im.digest}" for i, im in enumerate(images)
        )
        for i, image in enumerate(images):
            found = _vulnerabilities(client, f"team/app{i % 3}", image.digest)
            assert found["status"]["state"] == "done"
            assert "PYSEC-2019-217" not in {f["id"] for f in found["report"]["findings"]}


def _instrument(
    worker: ScanWorker, in_flight: set[str], overlaps: list[str], scanned: list[str]
) -> None:
    service = worker.service
    real_scan = service.scanner.scan

    async def scan(target: ScanTarget, progress: Any = None) -> ScanReport:
        key = f"{target.repository}@{target.digest}"
        if key in in_flight:
            overlaps.append(key)
        in_flight.add(key)
        try:
            await asyncio.sleep(0.02)  # let the other worker claim meanwhile
            return await real_scan(target, progress)
        finally:
            in_flight.discard(key)
            scanned.append(key)

    service.scanner.scan = scan  # type: ignore[method-assign]
