"""The schema comes from Alembic migrations, and a server refuses a schema it cannot serve."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from dockyard.cli.main import app
from dockyard.meta.migrate import SchemaMismatch
from dockyard.meta.schema import metadata
from dockyard.meta.sql import SqlMetadataStore
from tests.conftest import PG_URL

pytestmark = pytest.mark.anyio


def _drift(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


async def _schema_drift(store: SqlMetadataStore) -> list[object]:
    async with store.engine.connect() as conn:
        return await conn.run_sync(_drift)


async def test_sqlite_is_migrated_on_open_and_matches_the_model(tmp_path: Path) -> None:
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    status = await store.open()
    assert status.up_to_date
    assert await _schema_drift(store) == []
    await store.close()


async def test_postgresql_refuses_an_empty_schema_until_upgraded(pg_schema: str) -> None:
    store = SqlMetadataStore(PG_URL, schema=pg_schema)
    with pytest.raises(SchemaMismatch, match="run `dockyard db upgrade`"):
        await store.open()
    await store.upgrade()
    assert (await store.open()).up_to_date
    assert await _schema_drift(store) == []
    await store.close()


async def test_a_schema_newer_than_this_dockyard_is_refused(tmp_path: Path) -> None:
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await store.open()
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    with pytest.raises(SchemaMismatch, match="newer than this version of Dockyard"):
        await store.open(auto_upgrade=True)
    await store.close()


def test_serve_refuses_to_start_on_an_old_schema_and_says_what_to_run(
    pg_schema: str, tmp_path: Path
) -> None:
    config = tmp_path / "scale.yaml"
    config.write_text(f"database:\n  url: {PG_URL}\n  schema_name: {pg_schema}\n")
    runner = CliRunner()
    serve = runner.invoke(app, ["serve", "--config", str(config), "--data-dir", str(tmp_path)])
    assert serve.exit_code == 2
    assert "dockyard db upgrade" in serve.output

    status = runner.invoke(app, ["db", "status", "--config", str(config)])
    assert status.exit_code == 1
    assert "none (empty database)" in status.output

    upgrade = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
    assert upgrade.exit_code == 0, upgrade.output
    assert runner.invoke(app, ["db", "status", "--config", str(config)]).exit_code == 0
