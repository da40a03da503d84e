"""The dashboard in headless Chromium (Debian's package, driven by Playwright) against a real
`dockyard serve` seeded with real pushes (tests/ui/seed.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ADMIN, service_missing
from tests.e2e.conftest import DockyardServer
from tests.ui.seed import Seeded, seed_registry

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("DOCKYARD_TEST_CHROMIUM", "/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
TIMEOUT_MS = 15_000
# Pull counts reach the database this often: the overview shows the seed's pulls at once.
FAST_COUNTS = {"DOCKYARD_REGISTRY__USAGE_FLUSH_SECONDS": "0.2"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run a real server and a real browser: end to end."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@dataclass
class Dashboard:
    server: DockyardServer
    seeded: Seeded

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, auth: tuple[str, str] = ADMIN) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=auth, timeout=30)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """One seeded server per test module; tests that change things use names of their own."""
    root = tmp_path_factory.mktemp("ui")
    server = DockyardServer(root / "data", root / "server.log", env=FAST_COUNTS)
    server.start()
    try:
        with httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as client:
            seeded = seed_registry(client)
        yield Dashboard(server, seeded)
    finally:
        if server.process is not None:
            assert server.stop() == 0, server.log()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        service_missing(f"Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        service_missing("the playwright Python package (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        except Error as exc:
            service_missing(f"chromium that Playwright can start ({exc})")
        yield launched
        launched.close()


@dataclass
class Traffic:
    """Every request the page made and every console error it logged."""

    urls: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_assets: list[str] = field(default_factory=list)

    def outside(self) -> list[str]:
        return [
            u
            for u in self.urls
            if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urlsplit(u).hostname not in LOCAL_HOSTS
        ]


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


@pytest.fixture
def page(browser: Browser, dashboard: Dashboard, traffic: Traffic) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the dashboard; afterwards no request may have
    left 127.0.0.1 and no script error (a CSP violation included) may have been logged."""
    context = browser.new_context(base_url=dashboard.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    new_page = context.new_page()
    new_page.on("request", lambda request: traffic.urls.append(request.url))

    def console(message: Any) -> None:
        # A page answered 401/403/404 is logged as a failed load too: the responses are
        # checked on their own below (every asset must load; pages may refuse).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            traffic.console_errors.append(message.text)

    def response(answer: Any) -> None:
        if answer.request.resource_type != "document" and answer.status >= 400:
            traffic.failed_assets.append(f"{answer.status} {answer.url}")

    new_page.on("console", console)
    new_page.on("response", response)
    new_page.on("pageerror", lambda error: traffic.console_errors.append(str(error)))
    yield new_page
    context.close()
    assert traffic.outside() == [], "requests left the machine"
    assert traffic.console_errors == [], "the page logged errors"
    assert traffic.failed_assets == [], "assets failed to load"


def log_in(page: Page, username: str = ADMIN[0], password: str = ADMIN[1], path: str = "/") -> None:
    page.goto(path)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
