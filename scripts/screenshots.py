#!/usr/bin/env python3
"""Screenshots of the dashboard's main pages for docs/screenshots/, taken the way a person sees
them: a real `dockyard serve` with demo data pushed through the registry API, Debian's
chromium driven by Playwright.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Needs the test extras (`pip install -e '.[test]'`) and `apt-get install chromium`. It runs in a
temporary directory and leaves nothing behind but the PNGs. The pull/push history of the last
four weeks is synthetic (added through the metadata store's usage counters), so that the chart
has something to show; everything else is real, including the vulnerability scans: osv.dev's
PyPI export from ../shared/vulndb/ is imported and images with old Python packages are pushed
and scanned by the server's own scan worker.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.conftest import ADMIN  # noqa: E402
from tests.e2e.conftest import DockyardServer  # noqa: E402
from tests.e2e.images import push_image  # noqa: E402
from tests.ui.seed import OCI_INDEX, OCI_MANIFEST, seed_demo  # noqa: E402
from tests.unit.ext.scanning.scan_images import PYPI_ALL, import_into, python_image  # noqa: E402

from dockyard.meta.records import PullCount  # noqa: E402
from dockyard.meta.sql import SqlMetadataStore  # noqa: E402
from dockyard.registry.usage import DAY, day_of  # noqa: E402

HISTORY_DAYS = 29
# Images with Python packages that have advisories: what the security views show.
VULNERABLE = {
    "ml/notebook:2024.1": [("Jinja2", "2.10"), ("requests", "2.19.0"), ("PyYAML", "5.3")],
    "team/reports:1.4": [("Jinja2", "2.11.2"), ("urllib3", "1.26.4")],
    "team/api-tools:0.9": [("requests", "2.31.0")],
}
SCANS_ENV = {"DOCKYARD_EXTENSIONS__SCANNING__POLL_SECONDS": "0.2"}
VIEWPORT = {"width": 1360, "height": 860}


def digests(client: httpx.Client) -> dict[str, str]:
    """repository → the digest of its `latest` (or first) tag, from the registry API."""
    found: dict[str, str] = {}
    accept = f"{OCI_MANIFEST}, {OCI_INDEX}"
    for repository in client.get("/v2/_catalog").raise_for_status().json()["repositories"]:
        tags = client.get(f"/v2/{repository}/tags/list").raise_for_status().json()["tags"]
        tag = "latest" if "latest" in tags else sorted(tags)[0]
        head = client.head(f"/v2/{repository}/manifests/{tag}", headers={"Accept": accept})
        found[repository] = head.raise_for_status().headers["docker-content-digest"]
    return found


async def add_history(database_url: str, latest: dict[str, str]) -> None:
    """Weekday-shaped pull and push counts for the days before today."""
    store = SqlMetadataStore(database_url)
    await store.open(False)
    today = day_of(time.time())
    weights = {name: 1 + (len(latest) - i) * 0.6 for i, name in enumerate(sorted(latest))}
    try:
        async with store.transaction() as tx:
            counts = []
            for back in range(HISTORY_DAYS, 0, -1):
                day = today - back
                weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
                busy = 0.35 if weekday >= 5 else 1.0
                wave = 1 + 0.25 * math.sin(back / 3)
                for name, digest in latest.items():
                    pulls = round(18 * weights[name] * busy * wave)
                    counts.append(PullCount(name, digest, day, pulls, (day + 0.5) * DAY))
                    if weekday < 5 and (back + len(name)) % 4 == 0:
                        await tx.usage.add_push(name, day, (day + 0.4) * DAY)
            await tx.usage.add_pulls(counts)
    finally:
        await store.close()


def push_vulnerable(client: httpx.Client) -> None:
    """Push the images of VULNERABLE and wait until the server has scanned them."""
    for name, packages in VULNERABLE.items():
        repository, tag = name.split(":")
        image = python_image(packages)
        push_image(client, repository, image, tag)
        url = f"/api/v1/repositories/{repository}/artifacts/{image.digest}/security"
        deadline = time.monotonic() + 120
        while client.get(url).json()["scans"][0].get("state") != "done":
            assert time.monotonic() < deadline, f"{name} was not scanned in time"
            time.sleep(0.2)


def shoot(server: DockyardServer, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    taken: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        context = browser.new_context(base_url=server.url, viewport=VIEWPORT)
        page = context.new_page()

        def save(name: str, full_page: bool = True) -> None:
            page.wait_for_load_state("networkidle")
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=full_page)
            taken.append(path)

        page.goto("/login")
        save("login", full_page=False)
        page.get_by_label("User name").fill(ADMIN[0])
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("#usage-chart canvas")
        save("overview")
        page.goto("/projects/team")
        save("project")
        page.goto("/repositories/platform/nginx")
        save("repository")
        page.goto("/repositories/team/app")
        page.locator("#rows tbody tr a").first.click()
        page.get_by_role("region", name="Pull").wait_for()
        save("artifact")
        page.goto("/repositories/platform/gateway/-/artifacts/3.1")
        save("artifact-index")
        page.goto("/repositories/ml/notebook/-/artifacts/2024.1")
        page.get_by_role("region", name="Security").wait_for()
        save("artifact-security")
        page.goto("/projects/team/members")
        save("members")
        page.goto("/admin/users")
        save("users")
        page.goto("/admin/audit")
        save("audit")
        page.goto("/admin/robots")
        form = page.get_by_role("region", name="New robot account")
        form.get_by_label("Name").fill("release")
        form.get_by_label("push").check()
        form.get_by_label("Description").fill("pushes release images")
        form.get_by_role("button", name="Create robot").click()
        page.locator("#robot-secret").wait_for()
        save("robots")
        browser.close()
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        print(f"no chromium at {args.chromium}: apt-get install chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dockyard-screenshots-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        database = f"sqlite+aiosqlite:///{(data / 'dockyard.db').resolve()}"
        asyncio.run(import_into(database, PYPI_ALL))
        server = DockyardServer(data, Path(tmp) / "server.log", env=SCANS_ENV)
        server.start()
        try:
            with httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as client:
                seed_demo(client)
                push_vulnerable(client)
                latest = digests(client)
                # A quota, so that the project page shows its storage meter.
                client.patch("/api/v1/projects/team", json={"quota_bytes": 64 * 1024 * 1024})
            server.stop()  # flushes the pull counts; a new process has no cached totals
            asyncio.run(add_history(database, latest))
            server.start()
            for path in shoot(server, args.out, args.chromium):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            if server.process is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
