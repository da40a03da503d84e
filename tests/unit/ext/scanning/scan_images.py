"""Real data for the scan pipeline's tests: images with this machine's dpkg database and Python
packages of versions with known advisories, OSV advisories from osv.dev's PyPI export, and a
scan worker on a test registry."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

import dockyard
from dockyard.ext.scanning.scanner import BuiltinScanner
from dockyard.ext.scanning.service import ScanService
from dockyard.ext.scanning.settings import ScanningSettings
from dockyard.ext.scanning.vulndb import import_osv
from dockyard.ext.scanning.worker import ScanWorker
from dockyard.meta.sql import SqlMetadataStore
from dockyard.settings import Settings
from tests.conftest import service_missing
from tests.e2e.images import Image, build_image

ROOT = Path(__file__).resolve().parents[4]
PYPI_ALL = ROOT.parent / "shared" / "vulndb" / "PyPI-all.zip"  # osv.dev's PyPI/all.zip
DPKG_STATUS = Path("/var/lib/dpkg/status")
OS_RELEASE = Path("/etc/os-release")

# Versions with advisories every PyPI export since 2023 has (and their fixes).
JINJA2_ADVISORIES = {"PYSEC-2019-217", "PYSEC-2021-66"}  # sandbox escape, ReDoS
REQUESTS_ADVISORIES = {"PYSEC-2018-28", "PYSEC-2023-74"}  # auth leaks on redirect
ADVISORIES = JINJA2_ADVISORIES | REQUESTS_ADVISORIES
# No background scan runs: they would race the tests' own workers.
QUIET = {"scanning": {"run_scans": False}}


def need_pypi() -> Path:
    if not PYPI_ALL.exists():
        service_missing(f"the OSV PyPI export at {PYPI_ALL}")
    return PYPI_ALL


def dist_info(
    name: str, version: str, site: str = "usr/lib/python3/dist-packages"
) -> dict[str, bytes]:
    """An installed Python distribution as pip leaves it: just its METADATA is enough."""
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    return {f"{site}/{name}-{version}.dist-info/METADATA": metadata.encode()}


def os_layer() -> dict[str, bytes]:
    """This machine's package database and os-release, as a base layer holds them."""
    files = {"etc/os-release": OS_RELEASE.read_bytes()}
    if DPKG_STATUS.exists():
        files["var/lib/dpkg/status"] = DPKG_STATUS.read_bytes()
    return files


def vulnerable_image(arch: str = "amd64", **labels: str) -> Image:
    """Base layer from this machine; Jinja2 2.10 and requests 2.19.0 on top."""
    python = {**dist_info("Jinja2", "2.10"), **dist_info("requests", "2.19.0")}
    return build_image([os_layer(), python], arch=arch, **labels)


def python_image(packages: Iterable[tuple[str, str]], arch: str = "amd64") -> Image:
    files: dict[str, bytes] = {"etc/os-release": b"ID=debian\nVERSION_ID=12\n"}
    for name, version in packages:
        files.update(dist_info(name, version))
    return build_image([files], arch=arch)


def advisories_dir(target: Path, ids: Iterable[str]) -> Path:
    """A directory source with these advisories, taken from the real export."""
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(need_pypi()) as archive:
        for advisory in ids:
            (target / f"{advisory}.json").write_bytes(archive.read(f"{advisory}.json"))
    return target


def scan_settings(data_dir: Path, **scanning: Any) -> Settings:
    return Settings(data_dir=data_dir, extensions={"scanning": {**QUIET["scanning"], **scanning}})


async def import_into(url: str, source: Path) -> None:
    store = SqlMetadataStore(url)
    await store.open()
    try:
        await import_osv(store, source)
    finally:
        await store.close()


def vulndb_template(directory: Path) -> Path:
    """A data directory whose SQLite database holds the whole PyPI export (imported once;
    copy it with `data_dir_from`)."""
    import asyncio

    need_pypi()
    asyncio.run(import_into(f"sqlite+aiosqlite:///{directory / 'dockyard.db'}", PYPI_ALL))
    return directory


def data_dir_from(template: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for file in template.glob("dockyard.db*"):
        shutil.copy(file, target / file.name)
    return target


def worker_for(client: TestClient, owner: str = "test-worker", **settings: Any) -> ScanWorker:
    """A scan worker on the client's registry, as another replica would run it."""
    app: Any = client.app
    registry = app.state.registry
    scanner = BuiltinScanner(registry.store, dockyard.__version__)
    service = ScanService(registry.store, registry.storage, scanner, ScanningSettings(**settings))
    return ScanWorker(service, owner=owner)


def run_scans(client: TestClient, worker: ScanWorker | None = None) -> int:
    """Run the queue until it is empty; returns how many scans ran."""
    worker = worker or worker_for(client)
    assert client.portal is not None
    ran = 0
    while count := client.portal.call(worker.run_queue):
        ran += count
    return ran
