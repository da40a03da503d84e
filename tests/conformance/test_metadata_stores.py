"""Every MetadataStore backend passes the same suites: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from dockyard.meta.sql import SqlMetadataStore
from dockyard.testing.metadata_advisories_suite import MetadataAdvisoriesSuite
from dockyard.testing.metadata_auth_suite import MetadataAuthSuite
from dockyard.testing.metadata_policies_suite import MetadataPoliciesSuite
from dockyard.testing.metadata_scans_suite import MetadataScansSuite
from dockyard.testing.metadata_suite import MetadataStoreSuite
from dockyard.testing.metadata_usage_suite import MetadataUsageSuite
from tests.conftest import PG_URL


class TestSqlite(
    MetadataStoreSuite,
    MetadataAuthSuite,
    MetadataUsageSuite,
    MetadataAdvisoriesSuite,
    MetadataPoliciesSuite,
    MetadataScansSuite,
):
    constraint_error = IntegrityError

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
        store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
        await store.open()
        yield store
        await store.close()


class TestPostgresql(
    MetadataStoreSuite,
    MetadataAuthSuite,
    MetadataUsageSuite,
    MetadataAdvisoriesSuite,
    MetadataPoliciesSuite,
    MetadataScansSuite,
):
    constraint_error = IntegrityError

    @pytest.fixture
    async def store(self, pg_schema: str) -> AsyncIterator[SqlMetadataStore]:
        store = SqlMetadataStore(PG_URL, schema=pg_schema)
        await store.upgrade()  # what `dockyard db upgrade` does before replicas start
        await store.open()
        yield store
        await store.close()
