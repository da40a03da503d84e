"""Supply-chain security in the dashboard, in headless Chromium against a real `dockyard serve`
that scanned a real vulnerable image (Jinja2 2.10 and requests 2.19.0) against advisories from
osv.dev's PyPI export: the artifact page, the repository's rows and the overview show what the
management API answers, and the SBOM downloads."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.e2e.conftest import DockyardServer
from tests.e2e.images import Image, push_image
from tests.ui.conftest import FAST_COUNTS, Dashboard, log_in
from tests.ui.seed import seed_registry
from tests.unit.ext.scanning.scan_images import (
    ADVISORIES,
    advisories_dir,
    import_into,
    python_image,
)

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture says so: a skip on a laptop, a failure in CI
    Page = Any  # type: ignore[misc,assignment]
    expect = None  # type: ignore[assignment]

REPOSITORY, TAG = "team/vuln", "1.0"
SEVERITIES = ("critical", "high", "medium", "low", "unknown")
FAST_SCANS = {**FAST_COUNTS, "DOCKYARD_EXTENSIONS__SCANNING__POLL_SECONDS": "0.2"}


def security_url(image: Image) -> str:
    return f"/api/v1/repositories/{REPOSITORY}/artifacts/{image.digest}/security"


def wait_for_scan(api: httpx.Client, image: Image, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        found: dict[str, Any] = api.get(security_url(image)).json()
        if found["scans"] and found["scans"][0]["state"] in ("done", "failed"):
            assert found["scans"][0]["state"] == "done", found
            return found
        assert time.monotonic() < deadline, f"the scan did not finish: {found}"
        time.sleep(0.2)


@dataclass
class Scanned(Dashboard):
    image: Image


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The seeded dashboard, with the advisories imported before it starts and one vulnerable
    image pushed and scanned by the server's own scan worker."""
    root = tmp_path_factory.mktemp("ui-security")
    source = advisories_dir(root / "osv", ADVISORIES)
    data = root / "data"
    data.mkdir()
    url = f"sqlite+aiosqlite:///{data / 'dockyard.db'}"
    # In a thread of its own: Playwright's event loop may already run in this one.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, import_into(url, source)).result()
    server = DockyardServer(data, root / "server.log", env=FAST_SCANS)
    server.start()
    try:
        with httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as client:
            seeded = seed_registry(client)
            image = python_image([("Jinja2", "2.10"), ("requests", "2.19.0")])
            push_image(client, REPOSITORY, image, TAG)
            wait_for_scan(client, image)
        yield Scanned(server, seeded, image)
    finally:
        if server.process is not None:
            assert server.stop() == 0, server.log()


def scanned_image(dashboard: Dashboard) -> Image:
    assert isinstance(dashboard, Scanned)
    return dashboard.image


def badges(counts: dict[str, int]) -> list[str]:
    """The severity badges a person reads for these counts, most severe first."""
    return [f"{counts[k]} {k}" for k in SEVERITIES if counts[k]] or ["no findings"]


def test_the_artifact_page_shows_scan_signatures_verdict_and_sboms(
    page: Page, dashboard: Dashboard, tmp_path: Path
) -> None:
    check = expect
    image = scanned_image(dashboard)
    with dashboard.api() as api:
        facts = api.get(security_url(image)).json()
    counts = facts["scans"][0]["summary"]
    assert counts["total"] == len(ADVISORIES)

    log_in(page, path=f"/repositories/{REPOSITORY}/-/artifacts/{image.digest}")
    section = page.get_by_role("region", name="Security")
    check(section.locator(".scan .badge.state")).to_have_text("scanned")
    check(section.locator(".scan .badge.sev")).to_have_text(badges(counts))
    check(section.locator(".scan")).to_contain_text(facts["scans"][0]["db_version"])
    findings = section.get_by_role("table", name="Findings")
    check(findings.locator("tbody tr")).to_have_count(len(ADVISORIES))
    for advisory in ADVISORIES:
        link = findings.get_by_role("link", name=advisory)
        check(link).to_have_attribute("href", f"https://osv.dev/vulnerability/{advisory}")
    check(findings).to_contain_text("Jinja2")
    check(findings).to_contain_text("2.19.0")

    check(section.locator(".badge.signature")).to_have_text("unsigned")
    check(section).to_contain_text("unsigned: no cosign signature")
    check(section.locator(".badge.verdict")).to_have_text("no policy")

    with page.expect_download() as started:
        section.get_by_role("link", name="Download CycloneDX").click()
    saved = tmp_path / "sbom.json"
    started.value.save_as(saved)
    sbom = json.loads(saved.read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert {"Jinja2", "requests"} <= {c["name"] for c in sbom["components"]}
    spdx = section.get_by_role("link", name="Download SPDX")
    check(spdx).to_have_attribute("href", re.compile(r"/sbom\?format=spdx$"))


def test_scan_now_queues_a_scan_and_the_page_follows_it(page: Page, dashboard: Dashboard) -> None:
    check = expect
    image = scanned_image(dashboard)
    log_in(page, path=f"/repositories/{REPOSITORY}/-/artifacts/{image.digest}")
    section = page.get_by_role("region", name="Security")
    section.get_by_role("button", name="Scan now").click()
    check(page.get_by_role("status")).to_have_text("Scan of 1 image queued.")
    # Queued or already running: the section reloads itself until the scan is done.
    check(page.locator("#security .badge.state")).to_have_text("scanned", timeout=30_000)
    with dashboard.api() as api:
        assert api.get(security_url(image)).json()["scans"][0]["state"] == "done"


def test_the_repository_rows_show_each_artifacts_scan(page: Page, dashboard: Dashboard) -> None:
    check = expect
    image = scanned_image(dashboard)
    with dashboard.api() as api:
        counts = api.get(security_url(image)).json()["scans"][0]["summary"]
    log_in(page, path=f"/repositories/{REPOSITORY}")
    check(page.get_by_role("columnheader", name="Scan")).to_be_visible()
    row = page.get_by_role("row").filter(has=page.locator(f'[title="{image.digest}"]'))
    check(row.locator(".scan-cell .badge")).to_have_text(badges(counts))


def test_the_overview_charts_the_breakdown_and_names_the_exposed_images(
    page: Page, dashboard: Dashboard
) -> None:
    check = expect
    image = scanned_image(dashboard)
    with dashboard.api() as api:
        summary = api.get("/api/v1/vulnerabilities/summary").json()
    findings = summary["findings"]
    assert findings["total"] >= len(ADVISORIES)

    log_in(page)
    chart = page.get_by_role("img", name=re.compile("Findings by severity"))
    expected = ", ".join(f"{findings[k]} {k}" for k in SEVERITIES)
    check(chart).to_have_accessible_name(f"Findings by severity: {expected}")
    table = page.get_by_role("table", name=re.compile("Findings and images by severity"))
    for key in SEVERITIES:
        cell = table.locator(f'tr[data-severity="{key}"] td.findings')
        check(cell).to_have_text(f"{findings[key]:,}")

    exposed = page.get_by_role("region", name="Most exposed images")
    first = exposed.get_by_role("link").first
    check(first).to_have_attribute("href", f"/repositories/{REPOSITORY}/-/artifacts/{image.digest}")
    newly = page.get_by_role("region", name=re.compile("Newly affected images"))
    href = f"/repositories/{REPOSITORY}/-/artifacts/{image.digest}"
    check(newly.locator(f'a[href="{href}"]')).to_have_count(1)
    first.click()
    check(page.get_by_role("heading", level=1)).to_have_text(f"{REPOSITORY}:{TAG}")
