"""The scanner suite, run on (a) the built-in scanner reading layers from memory, and (b) an
AdapterScanner talking over HTTP to an adapter server that serves the built-in scanner and
pulls the image from a real Dockyard registry. Both servers are real ASGI servers (uvicorn) on
free loopback ports, started once for the module and stopped at its end."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request

from dockyard.app import create_app
from dockyard.ext.base import ExtensionError
from dockyard.ext.scanning.adapter import AdapterError, AdapterScanner, AdapterServer
from dockyard.ext.scanning.adapter.wire import DB_UPDATED_AT
from dockyard.ext.scanning.scanner import BuiltinScanner, ScanTarget
from dockyard.ext.scanning.settings import AdapterSettings
from dockyard.ext.scanning.vulndb import import_osv
from dockyard.meta.sql import SqlMetadataStore
from dockyard.settings import Settings
from dockyard.testing.scanner_suite import (
    ScannerSuite,
    TestImage,
    finding_keys,
    memory_target,
    push_image,
    python_app_image,
)
from tests.conftest import ADMIN

pytestmark = pytest.mark.anyio

PYPI = Path(__file__).parents[4] / ".." / "shared" / "vulndb" / "PyPI-all.zip"
ADAPTER_TOKEN = "Bearer adapter-test-token"
START_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def vulndb(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite metadata database holding osv.dev's PyPI advisories, imported once."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('vulndb') / 'meta.db'}"

    async def load() -> None:
        store = SqlMetadataStore(url)
        await store.open()
        try:
            await import_osv(store, PYPI)
        finally:
            await store.close()

    asyncio.run(load())
    return url


def loopback_socket() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 (the port is known before the app exists)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def served(app: Any, sock: socket.socket | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread, on a free port of 127.0.0.1 (or `sock`),
    lifespan included; yields its base URL and stops it when the context ends."""
    sock = sock or loopback_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the test server did not stop within 10 seconds")


class TestBuiltinScanner(ScannerSuite):
    @pytest.fixture
    async def scanner(self, vulndb: str) -> AsyncIterator[BuiltinScanner]:
        store = SqlMetadataStore(vulndb)
        await store.open()
        yield BuiltinScanner(store, "test")
        await store.close()

    @pytest.fixture
    def publish(self) -> Any:
        return memory_target


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Dockyard (filesystem + SQLite) that the adapter pulls from."""
    data_dir = tmp_path_factory.mktemp("registry")
    with served(create_app(Settings(data_dir=data_dir))) as url:
        yield url


def adapter_app(vulndb: str, refresh_after: int = 1) -> Starlette:
    """A stand-alone adapter endpoint serving the built-in scanner, as Dockyard mounts it,
    behind a fixed token instead of Dockyard's own authentication."""
    store = SqlMetadataStore(vulndb)
    server = AdapterServer(
        BuiltinScanner(store, "test"), authorize=_token_only, refresh_after=refresh_after
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open()  # in the server's own event loop
        try:
            yield
        finally:
            await server.aclose()
            await store.close()

    return Starlette(routes=server.routes(), lifespan=lifespan)


async def _token_only(request: Request) -> bool:
    return request.headers.get("authorization") == ADAPTER_TOKEN


@pytest.fixture(scope="module")
def adapter_url(vulndb: str) -> Iterator[str]:
    with served(adapter_app(vulndb)) as url:
        yield f"{url}/scanner-adapter"


def basic(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(credentials).encode()).decode()


class TestAdapterScanner(ScannerSuite):
    @pytest.fixture
    def lent(self) -> list[str]:
        """The repositories the scanner asked a registry credential for."""
        return []

    @pytest.fixture
    async def scanner(
        self, adapter_url: str, registry_url: str, lent: list[str]
    ) -> AsyncIterator[AdapterScanner]:
        settings = AdapterSettings(
            name="remote-dockyard", url=adapter_url, authorization=ADAPTER_TOKEN
        )

        async def credentials(repository: str) -> str:
            lent.append(repository)
            return basic(ADMIN)

        scanner = AdapterScanner(
            settings, registry_url=registry_url, registry_authorization=credentials
        )
        await scanner.load_metadata()
        yield scanner
        await scanner.aclose()

    @pytest.fixture
    async def publish(self, registry_url: str) -> AsyncIterator[Any]:
        async with httpx.AsyncClient(auth=ADMIN, timeout=30) as http:

            async def publish(image: TestImage, repository: str) -> ScanTarget:
                await push_image(http, registry_url, repository, image, "latest")
                # Same digest, media type and layers: the adapter pulls them from the registry.
                return await memory_target(image, repository)

            yield publish

    async def test_the_round_trip_loses_nothing(
        self, scanner: AdapterScanner, publish: Any, vulndb: str
    ) -> None:
        """The adapter's findings are the built-in scanner's, field for field."""
        target = await publish(python_app_image(), "suite/roundtrip")
        remote = await scanner.scan(target)
        store = SqlMetadataStore(vulndb)
        await store.open()
        try:
            local = await BuiltinScanner(store, "test").scan(target)
        finally:
            await store.close()
        assert finding_keys(remote.findings) == finding_keys(local.findings)
        assert remote.findings == local.findings
        assert remote.db_version == local.db_version
        assert remote.inventory.distro == local.inventory.distro

    async def test_a_credential_is_lent_for_each_scan(
        self, scanner: AdapterScanner, publish: Any, lent: list[str]
    ) -> None:
        target = await publish(python_app_image(), "suite/lent")
        await scanner.scan(target)
        await scanner.scan(target)
        assert lent == ["suite/lent", "suite/lent"]

    async def test_a_refused_pull_fails_the_scan_with_the_reason(
        self, adapter_url: str, registry_url: str, publish: Any
    ) -> None:
        target = await publish(python_app_image(), "suite/refused")
        settings = AdapterSettings(name="remote", url=adapter_url, authorization=ADAPTER_TOKEN)
        wrong = basic(("admin", "not-the-password"))
        scanner = AdapterScanner(
            settings, registry_url=registry_url, registry_authorization=lambda _: wrong
        )
        try:
            with pytest.raises(AdapterError, match=r"HTTP 500.*401"):
                await scanner.scan(target)
        finally:
            await scanner.aclose()


# --- a registry set to scan through an adapter ----------------------------------------------


async def _scanned(http: httpx.AsyncClient, url: str, within: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        got = await http.get(url)
        if got.status_code == 200 and got.json()["status"]["state"] in {"done", "failed"}:
            return dict(got.json())
        assert time.monotonic() < deadline, f"no finished scan after {within}s: {got.text}"
        await asyncio.sleep(0.2)


async def test_a_registry_set_to_an_adapter_scans_every_push_through_it(
    adapter_url: str, vulndb: str, tmp_path: Path
) -> None:
    """`extensions.scanning.adapter`: pushes are scanned by the external scanner, which pulls
    the image with a token lent for that repository only, even past a "scanned only" policy
    that refuses everyone else the image until it is scanned."""
    sock = loopback_socket()
    own_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    adapter = {
        "name": "remote-dockyard",
        "url": adapter_url,
        "authorization": ADAPTER_TOKEN,
        "registry_url": own_url,
    }
    scanning = {"poll_seconds": 0.2, "adapter": adapter}
    settings = Settings(data_dir=tmp_path, extensions={"scanning": scanning})
    image = python_app_image()
    store = SqlMetadataStore(vulndb)
    await store.open()
    try:
        expected = await BuiltinScanner(store, "test").scan(await memory_target(image, "t/a"))
    finally:
        await store.close()
    with served(create_app(settings), sock) as url:
        async with httpx.AsyncClient(base_url=url, auth=ADMIN, timeout=30) as http:
            created = await http.post("/api/v1/projects", json={"name": "team"})
            assert created.status_code == 201, created.text
            policy = await http.put("/api/v1/projects/team/policy", json={"deny_unscanned": True})
            assert policy.status_code == 200, policy.text
            await push_image(http, url, "team/app", image, "latest")
            path = "/api/v1/repositories/team/app/artifacts/latest/vulnerabilities"
            scanned = await _scanned(http, path)
            pulled = await http.get(
                "/v2/team/app/manifests/latest", headers={"Accept": image.media_type}
            )
    assert scanned["status"]["error"] is None, scanned["status"]
    report = scanned["report"]
    assert report["scanner"]["name"] == "remote-dockyard"
    assert sorted(f["id"] for f in report["findings"]) == sorted(
        f.advisory_id for f in expected.findings
    )
    assert report["findings"], "the test image must have known-vulnerable packages"
    assert report["db_version"] == expected.db_version
    assert pulled.status_code == 200, "scanned now: the policy lets the image through"


async def test_adapter_metadata_says_when_the_database_was_imported(adapter_url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        got = await http.get(
            f"{adapter_url}/api/v1/metadata", headers={"Authorization": ADAPTER_TOKEN}
        )
    properties = got.json()["properties"]
    updated = dt.datetime.fromisoformat(properties[DB_UPDATED_AT])
    assert updated.tzinfo is not None and properties[DB_UPDATED_AT].endswith("Z")
    age = dt.datetime.now(dt.UTC) - updated
    assert dt.timedelta(0) <= age < dt.timedelta(hours=1), "imported by this test module"


def test_an_adapter_without_a_registry_url_is_refused_at_start(tmp_path: Path) -> None:
    adapter = {"name": "trivy", "url": "http://127.0.0.1:9/"}
    settings = Settings(data_dir=tmp_path, extensions={"scanning": {"adapter": adapter}})
    with pytest.raises(ExtensionError, match="URL the adapter pulls images from"):
        create_app(settings)
