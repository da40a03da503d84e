"""Fixtures shared by every test: backends, deployment shapes, services."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings

PG_URL = os.environ.get("DOCKYARD_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


def service_missing(what: str) -> None:
    """Skip on a laptop without the service; fail in CI, where .ci/run must provide it."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} is not available")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_execute(f'CREATE SCHEMA "{schema}"'))
    except (OSError, Exception) as exc:  # asyncpg raises several connection error types
        service_missing(f"PostgreSQL at {PG_URL} ({exc})")
    yield schema
    asyncio.run(_pg_execute(f'DROP SCHEMA "{schema}" CASCADE'))


SHAPES = ["filesystem-sqlite", "memory-postgresql"]


def shape_settings(shape: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    if shape == "filesystem-sqlite":
        return Settings(data_dir=tmp_path)
    schema = request.getfixturevalue("pg_schema")
    return Settings(
        data_dir=tmp_path,
        storage={"driver": "memory"},
        database={"url": PG_URL, "schema_name": schema},
    )


@pytest.fixture(params=SHAPES)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return shape_settings(request.param, tmp_path, request)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client on a registry in each deployment shape, lifespan included."""
    with TestClient(create_app(settings), base_url="http://registry.test") as test_client:
        yield test_client
