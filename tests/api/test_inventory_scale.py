"""The management API stays fast at scale: 100,000 tags (and manifests) in one repository and
10,000 repositories in a project. Timed assertions are not allowed (DESIGN.md), so this checks
what makes the pages fast: every query the inventory issues for them is an index search, never
a scan of a big table, and (counted in SQLite virtual machine steps, not seconds) reads about
a page, not the repository. The exceptions are named: a repository's own totals (its tag count
and size) and substring search read that one repository's index range. Times are printed for
the record."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings
from tests.api.helpers import OCI_MANIFEST, push_image
from tests.api.registry_helpers import project
from tests.conftest import PG_URL, admin_client

TAGS = 100_000
REPOSITORIES = 10_000
BIG_TABLES = {
    "tags",
    "manifests",
    "manifest_references",
    "blob_links",
    "repositories",
    "manifest_pulls",
    "daily_usage",
}
V1 = "/api/v1"
PAGE_STEPS = 100_000  # SQLite VM steps; reading 100k index entries takes millions
# Allowed to read one repository's (or project's) whole index range: its totals, and `q`.
RANGE_READS = re.compile(r"GROUP BY (tags|manifests|blob_links)\.repository| LIKE ")


def _fill(db: Path, manifest: dict[str, Any]) -> None:
    """100,000 manifests each with its tag in big/app, and 10,000 more repositories."""
    config, layer = manifest["config"]["digest"], manifest["layers"][0]["digest"]
    conn = sqlite3.connect(db)
    with conn:
        manifests, refs, tags = [], [], []
        for i in range(TAGS):
            body = json.dumps({**manifest, "annotations": {"n": str(i)}}).encode()
            digest = f"sha256:{i:064x}"
            manifests.append(
                ("big/app", digest, OCI_MANIFEST, None, None, len(body), body, 2e9 + i)
            )
            refs += [("big/app", digest, config, "blob"), ("big/app", digest, layer, "blob")]
            tags.append(("big/app", f"tag-{i:06d}", digest, 2e9 + i))
        conn.executemany(
            "INSERT INTO manifests (repository, digest, media_type, artifact_type, subject, "
            "size, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            manifests,
        )
        conn.executemany("INSERT INTO manifest_references VALUES (?, ?, ?, ?)", refs)
        conn.executemany("INSERT INTO tags VALUES (?, ?, ?, ?)", tags)
        conn.executemany(
            "INSERT INTO repositories (name, created_at, project, last_pushed_at, pulls) "
            "VALUES (?, ?, 'big', ?, ?)",
            [(f"big/r{i:05d}", 1e9, 1e9 + i, i % 97) for i in range(REPOSITORIES)],
        )
    conn.close()


@contextmanager
def _statements(client: TestClient) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the registry's inline SQLite readers run meanwhile."""
    reader = client.app.state.registry.store._reader  # type: ignore[attr-defined]
    found: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        found.append((statement, parameters))

    event.listen(reader, "before_cursor_execute", record)
    try:
        yield found
    finally:
        event.remove(reader, "before_cursor_execute", record)


def _scans(db: Path, statements: list[tuple[str, Any]]) -> list[str]:
    """Plan lines that read a big table whole (SQLite says SCAN; a SEARCH uses a key)."""
    conn = sqlite3.connect(db)
    bad = []
    for statement, parameters in statements:
        for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()):
            detail = row[-1]
            words = detail.split()
            if words[0] == "SCAN" and words[1] in BIG_TABLES:
                bad.append(f"{detail}\n    in: {' '.join(statement.split())}")
    conn.close()
    return bad


def _heavy(db: Path, statements: list[tuple[str, Any]]) -> list[str]:
    """Queries that read far more than a page (counted in VM steps, never in seconds)."""
    conn = sqlite3.connect(db)
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(step, 100)
    heavy = []
    for statement, parameters in statements:
        if not statement.lstrip().upper().startswith("SELECT") or RANGE_READS.search(statement):
            continue
        steps[0] = 0
        conn.execute(statement, parameters or ()).fetchall()
        if steps[0] * 100 > PAGE_STEPS:
            heavy.append(f"{steps[0] * 100} steps: {' '.join(statement.split())}")
    conn.close()
    return heavy


def test_listings_use_indexes_with_100k_tags_and_10k_repositories(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with admin_client(create_app(settings)) as client:
        project(client, "big")
        body, _ = push_image(client, "big/app", "seed")
    _fill(tmp_path / "dockyard.db", json.loads(body))

    with admin_client(create_app(settings)) as client, _statements(client) as statements:
        started = time.perf_counter()
        page = client.get(
            f"{V1}/repositories/big/app/tags", params={"limit": 50, "last": "tag-050000"}
        )
        elapsed = time.perf_counter() - started
        assert [t["name"] for t in page.json()["tags"]][:2] == ["tag-050001", "tag-050002"]
        assert page.json()["next_last"] == "tag-050050"
        print(f"\n100k-tag repository: one page of 50 tags in {elapsed * 1000:.1f} ms")

        started = time.perf_counter()
        first = client.get(f"{V1}/repositories/big/app/artifacts", params={"limit": 50})
        second = client.get(
            f"{V1}/repositories/big/app/artifacts",
            params={"limit": 50, "last": first.json()["next_last"]},
        )
        elapsed = time.perf_counter() - started
        assert first.json()["artifacts"][0]["tags"] == [f"tag-{TAGS - 1:06d}"]
        assert second.json()["artifacts"][0]["digest"] == f"sha256:{TAGS - 51:064x}"
        print(f"100k-manifest repository: two pages of 50 artifacts in {elapsed * 1000:.1f} ms")

        found = client.get(f"{V1}/repositories/big/app/tags", params={"q": "tag-09999"})
        assert len(found.json()["tags"]) == 10
        detail = client.get(f"{V1}/repositories/big/app/artifacts/tag-099999").json()
        assert detail["summary"]["tag_count"] == 1
        for sort in ("name", "pulls", "last_push"):
            started = time.perf_counter()
            listed = client.get(
                f"{V1}/projects/big/repositories", params={"sort": sort, "limit": 50}
            ).json()
            nxt = client.get(
                f"{V1}/projects/big/repositories",
                params={"sort": sort, "limit": 50, "last": listed["next_last"]},
            ).json()
            elapsed = time.perf_counter() - started
            assert len(listed["repositories"]) == len(nxt["repositories"]) == 50
            print(f"10k repositories by {sort}: two pages of 50 in {elapsed * 1000:.1f} ms")
        searched = client.get(f"{V1}/projects/big/repositories", params={"q": "r0999"}).json()
        assert len(searched["repositories"]) == 10
        repository = client.get(f"{V1}/repositories/big/app").json()
        assert (repository["tag_count"], repository["artifact_count"]) == (TAGS + 1, TAGS + 1)

    assert len(statements) > 50
    assert _scans(tmp_path / "dockyard.db", statements) == []
    assert _heavy(tmp_path / "dockyard.db", statements) == []


def test_tag_and_artifact_pages_use_indexes_on_postgresql(pg_schema: str, tmp_path: Path) -> None:
    """The same pages on PostgreSQL: neither a sequential scan of tags or manifests nor a sort
    of them (its planner scans small tables, so these are filled: 20,000 tags, then ANALYZE)."""
    settings = Settings(
        data_dir=tmp_path,
        storage={"driver": "memory"},
        database={"url": PG_URL, "schema_name": pg_schema, "auto_upgrade": True},
    )
    with admin_client(create_app(settings)) as client:
        push_image(client, "big/app", "seed")
        store = client.app.state.registry.store  # type: ignore[attr-defined]

        async def fill() -> None:
            rows = [(f"sha256:{i:064x}", 2e9 + i, f"tag-{i:06d}") for i in range(20_000)]
            async with store.engine.begin() as conn:
                await conn.exec_driver_sql(
                    "INSERT INTO manifests (repository, digest, media_type, size, payload, "
                    "created_at) VALUES ('big/app', $1, 'x', 2, '\\x7b7d'::bytea, $2)",
                    [(d, at) for d, at, _ in rows],
                )
                await conn.exec_driver_sql(
                    "INSERT INTO tags VALUES ('big/app', $1, $2, 1)", [(t, d) for d, _, t in rows]
                )
                await conn.exec_driver_sql("ANALYZE")

        assert client.portal is not None
        client.portal.call(fill)
        found: list[tuple[str, Any]] = []

        def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
            if "FROM tags" in statement or "FROM manifests" in statement:
                found.append((statement, parameters))

        event.listen(store.engine.sync_engine, "before_cursor_execute", record)
        page = client.get(f"{V1}/repositories/big/app/tags", params={"limit": 50, "last": "tag-01"})
        assert page.json()["tags"][0]["name"] == "tag-010000"
        client.get(f"{V1}/repositories/big/app/artifacts", params={"limit": 50})
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)

        async def plans() -> list[str]:
            lines = []
            async with store.engine.connect() as conn:
                for statement, parameters in found:
                    result = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                    lines += [row[0] for row in result]
            return lines

        lines = client.portal.call(plans)
    assert found and lines
    # (Small tables are scanned, and GROUP BY over one page's keys sorts: both are fine.)
    bad = re.compile(r"Seq Scan on (tags|manifests) |Sort Key: .*(name|created_at)")
    assert [line for line in lines if bad.search(line)] == [], lines
