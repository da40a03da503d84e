"""Importing real OSV data into the metadata database (SQLite and PostgreSQL), and matching
packages against it through the store."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dockyard.ext.scanning.matcher import Finding, match
from dockyard.ext.scanning.packages import Ecosystem, Package
from dockyard.ext.scanning.severity import Severity
from dockyard.ext.scanning.vulndb import ImportSummary, VulnDbError, import_osv, store_lookup
from dockyard.meta.sql import SqlMetadataStore
from tests.conftest import PG_URL, _pg_execute, _run_in_thread, service_missing

pytestmark = pytest.mark.anyio

VULNDB = Path(__file__).parents[4] / ".." / "shared" / "vulndb"
DATA = Path(__file__).parents[3] / "osv_advisories" / "osv"
ZIPS = ("Go-all.zip", "PyPI-all.zip", "crates.io-all.zip")


@dataclass(frozen=True)
class Database:
    url: str
    schema: str | None
    summaries: dict[str, ImportSummary]


def _import_all(url: str, schema: str | None) -> dict[str, ImportSummary]:
    async def run() -> dict[str, ImportSummary]:
        store = SqlMetadataStore(url, schema=schema)
        if schema:
            await store.upgrade()
        await store.open()
        try:
            return {name: await import_osv(store, VULNDB / name) for name in ZIPS}
        finally:
            await store.close()

    return asyncio.run(run())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """The three real feeds, imported once per backend for the whole module."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('vulndb') / 'meta.db'}"
        yield Database(url, None, _import_all(url, None))
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        _run_in_thread(_pg_execute(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # any failure to reach PostgreSQL
        service_missing(f"PostgreSQL at {PG_URL} ({exc})")
    try:
        yield Database(PG_URL, schema, _import_all(PG_URL, schema))
    finally:
        _run_in_thread(_pg_execute(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
async def store(database: Database) -> AsyncIterator[SqlMetadataStore]:
    store = SqlMetadataStore(database.url, schema=database.schema)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def scratch(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    """An empty SQLite store of the test's own."""
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}")
    await store.open()
    yield store
    await store.close()


def _package(name: str, version: str, ecosystem: Ecosystem, **extra: str) -> Package:
    return Package(name, version, ecosystem, f"pkg:generic/{name}@{version}", "here", **extra)


async def _findings(store: SqlMetadataStore, *packages: Package) -> list[Finding]:
    return await match(packages, store_lookup(store))


async def _ids(store: SqlMetadataStore, name: str, version: str, ecosystem: Ecosystem) -> set[str]:
    return {f.advisory_id for f in await _findings(store, _package(name, version, ecosystem))}


async def test_the_three_feeds_are_imported(database: Database, store: SqlMetadataStore) -> None:
    feeds = {name: s.feeds for name, s in database.summaries.items()}
    assert {
        n: {e: (c.advisories, c.withdrawn) for e, c in f.items()} for n, f in feeds.items()
    } == {
        "Go-all.zip": {"Go": (4291, 17)},
        "PyPI-all.zip": {"PyPI": (2661, 10)},
        "crates.io-all.zip": {"crates.io": (1206, 13)},
    }
    assert all(s.skipped == 0 for s in database.summaries.values())
    async with store.transaction(readonly=True) as tx:
        assert await tx.advisories.counts() == {"Go": 4291, "PyPI": 2661, "crates.io": 1206}
        current = await tx.advisories.current()
        stored = await tx.advisories.get("RUSTSEC-2021-0003")
    assert current is not None and set(current.state) == {"Go", "PyPI", "crates.io"}
    assert stored is not None and (stored.severity, stored.score) == ("CRITICAL", 9.8)
    assert stored.summary == "Buffer overflow in SmallVec::insert_many"


async def test_real_pypi_findings(store: SqlMetadataStore) -> None:
    assert await _ids(store, "Jinja2", "2.10", Ecosystem.PYPI) == {
        "PYSEC-2019-217",
        "PYSEC-2021-66",
    }
    assert await _ids(store, "jinja2", "2.10.1", Ecosystem.PYPI) == {"PYSEC-2021-66"}
    assert await _ids(store, "jinja2", "2.11.3", Ecosystem.PYPI) == set()
    assert await _ids(store, "requests", "2.19.0", Ecosystem.PYPI) == {
        "PYSEC-2018-28",
        "PYSEC-2023-74",
    }
    assert await _ids(store, "requests", "2.31.0", Ecosystem.PYPI) == set()
    # PYSEC-2023-73 (redis, every version) is withdrawn; the two that replaced it remain.
    assert await _ids(store, "redis", "4.5.0", Ecosystem.PYPI) == {"PYSEC-2023-45", "PYSEC-2023-46"}


async def test_real_go_findings(store: SqlMetadataStore) -> None:
    stdlib = await _ids(store, "stdlib", "go1.20", Ecosystem.GO)
    assert {"GO-2023-1840", "GO-2023-1568", "GO-2023-1569"} <= stdlib
    assert "GO-2023-2044" not in stdlib  # introduced in 1.21
    assert "GO-2023-1840" not in await _ids(store, "stdlib", "1.20.5", Ecosystem.GO)
    assert "GO-2023-2044" in await _ids(store, "stdlib", "go1.21.0", Ecosystem.GO)
    net = await _ids(store, "golang.org/x/net", "v0.0.0-20190125002852-4b62a64f59f7", Ecosystem.GO)
    assert "GO-2020-0014" in net and "GO-2022-0197" not in net  # fixed by that very commit
    gin = await _ids(store, "github.com/gin-gonic/gin", "v1.9.0", Ecosystem.GO)
    assert "GO-2023-1737" in gin and "GO-2020-0001" not in gin
    assert "GO-2024-2730" not in await _ids(
        store, "github.com/gorilla/sessions", "v1.2.1", Ecosystem.GO
    )  # withdrawn


async def test_real_crates_findings(store: SqlMetadataStore) -> None:
    assert await _ids(store, "smallvec", "0.6.9", Ecosystem.CRATES_IO) == {
        "RUSTSEC-2018-0018",
        "RUSTSEC-2019-0009",
        "RUSTSEC-2019-0012",
        "RUSTSEC-2021-0003",
    }
    assert await _ids(store, "smallvec", "1.6.1", Ecosystem.CRATES_IO) == set()
    [time] = await _findings(store, _package("time", "0.1.45", Ecosystem.CRATES_IO))
    assert (time.advisory_id, time.severity, time.score) == (
        "RUSTSEC-2020-0071",
        Severity.MEDIUM,
        6.2,
    )
    assert time.fixed == ("0.2.0", "0.2.23") and time.aliases == (
        "CVE-2020-26235",
        "GHSA-wcg3-cvx6-7396",
    )
    assert await _ids(store, "time", "0.3.20", Ecosystem.CRATES_IO) == {"RUSTSEC-2026-0009"}


async def test_a_reimport_of_the_same_content_keeps_the_version(
    database: Database, store: SqlMetadataStore
) -> None:
    before = database.summaries["crates.io-all.zip"]
    again = await import_osv(store, VULNDB / "crates.io-all.zip")
    assert again.feeds == before.feeds
    async with store.transaction(readonly=True) as tx:
        current = await tx.advisories.current()
        history = await tx.advisories.history(2)
    assert current is not None and again.db_version == current.db_version
    assert again.db_version == history[1].db_version  # unchanged by the re-import
    assert again.db_version == database.summaries["crates.io-all.zip"].db_version


async def test_directories_of_distribution_advisories(scratch: SqlMetadataStore) -> None:
    debian = await import_osv(scratch, DATA / "debian")
    alpine = await import_osv(scratch, DATA / "alpine")
    assert {e: c.advisories for e, c in debian.feeds.items()} == {"Debian": 3}
    assert {e: c.advisories for e, c in alpine.feeds.items()} == {"Alpine": 3}
    assert debian.db_version != alpine.db_version
    libssl = _package(
        "libssl1.0.2", "1.0.2u-1~deb9u6", Ecosystem.DEBIAN, distro_release="9",
        source_name="openssl1.0", source_version="1.0.2u-1~deb9u6",
    )  # fmt: skip
    busybox = _package("bind-tools", "9.16.45-r0", Ecosystem.ALPINE, distro_release="3.16",
                       source_name="bind")  # fmt: skip
    findings = await _findings(scratch, libssl, busybox)
    assert {(f.package.name, f.advisory_id) for f in findings} == {
        ("libssl1.0.2", "DLA-2953-1"),
        ("bind-tools", "ALPINE-CVE-2023-4408"),
    }


async def test_an_import_replaces_the_ecosystem(scratch: SqlMetadataStore, tmp_path: Path) -> None:
    await import_osv(scratch, DATA / "alpine")
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    for name in ("ALPINE-CVE-2023-4408.json", "ALPINE-CVE-2018-8897.json"):
        (fewer / name).write_bytes((DATA / "alpine" / name).read_bytes())
    summary = await import_osv(scratch, fewer)
    assert summary.advisories == 2
    async with scratch.transaction(readonly=True) as tx:
        assert await tx.advisories.get("ALPINE-CVE-2019-12900") is None
        assert await tx.advisories.counts() == {"Alpine": 2}


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_unreadable_files_are_skipped_and_named(
    scratch: SqlMetadataStore, tmp_path: Path
) -> None:
    withdrawn = json.loads((DATA / "alpine" / "ALPINE-CVE-2018-8897.json").read_text())
    withdrawn["withdrawn"] = "2024-01-01T00:00:00Z"
    source = tmp_path / "Alpine-all.zip"
    source.write_bytes(
        _zip(
            {
                "ALPINE-CVE-2023-4408.json": (
                    DATA / "alpine/ALPINE-CVE-2023-4408.json"
                ).read_bytes(),
                "ALPINE-CVE-2018-8897.json": json.dumps(withdrawn).encode(),
                "broken.json": b"{not json",
                "not-an-advisory.json": b'{"hello": "world"}',
                "README.md": b"ignored: not JSON by name",
            }
        )
    )
    summary = await import_osv(scratch, source)
    assert summary.feeds["Alpine"].advisories == 2 and summary.feeds["Alpine"].withdrawn == 1
    assert summary.skipped == 2
    assert [p.split(":")[0] for p in summary.problems] == ["broken.json", "not-an-advisory.json"]
    xen = _package("xen", "4.10.1-r0", Ecosystem.ALPINE, distro_release="3.10")
    assert await _findings(scratch, xen) == []  # withdrawn


async def test_a_download_is_imported(scratch: SqlMetadataStore) -> None:
    body = _zip({p.name: p.read_bytes() for p in (DATA / "alpine").glob("*.json")})

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/Alpine/all.zip":
            return httpx.Response(200, content=body)
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as client:
        url = "https://osv-vulnerabilities.test/Alpine/all.zip"
        summary = await import_osv(scratch, url, client=client)
        assert (summary.source, summary.advisories) == (url, 3)
        with pytest.raises(VulnDbError, match="HTTP 404"):
            await import_osv(scratch, "https://osv-vulnerabilities.test/missing.zip", client=client)


async def test_what_is_not_a_source_is_refused(scratch: SqlMetadataStore, tmp_path: Path) -> None:
    with pytest.raises(VulnDbError, match="not a zip"):
        await import_osv(scratch, tmp_path / "missing.zip")
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(VulnDbError, match="not a zip"):
        await import_osv(scratch, tmp_path / "text.zip")
    async with scratch.transaction(readonly=True) as tx:
        assert await tx.advisories.current() is None
