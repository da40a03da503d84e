"""A database connection that drops in the middle of a transaction is an outage
(`MetadataUnavailable`, which the API turns into 503), never an unexpected error that kills a
background loop or surfaces as a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from dockyard.jobs.scheduler import Scheduler
from dockyard.meta.base import MetadataUnavailable
from dockyard.meta.sql import SqlMetadataStore
from tests.conftest import PG_URL
from tests.faults import TcpProxy

pytestmark = pytest.mark.anyio


@pytest.fixture
async def proxied(pg_schema: str) -> AsyncIterator[tuple[SqlMetadataStore, TcpProxy]]:
    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        store = SqlMetadataStore(url, schema=pg_schema)
        await store.upgrade()
        yield store, proxy
        await store.close()


async def test_a_connection_dropped_before_commit_is_an_outage(
    proxied: tuple[SqlMetadataStore, TcpProxy],
) -> None:
    store, proxy = proxied
    with pytest.raises(MetadataUnavailable):
        async with store.transaction() as tx:
            await tx.connection.execute(text("SELECT 1"))
            await asyncio.to_thread(proxy.cut)
    proxy.restore()
    async with store.transaction() as tx:
        assert (await tx.connection.execute(text("SELECT 1"))).scalar() == 1


async def test_the_scheduler_outlives_a_dropped_connection(
    proxied: tuple[SqlMetadataStore, TcpProxy],
) -> None:
    store, proxy = proxied
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)

    scheduler = Scheduler(store, tick=0.05)
    scheduler.every("job", 0.05, job)
    loop = asyncio.create_task(scheduler.run_forever())
    try:
        while not runs:
            await asyncio.sleep(0.02)
        for _ in range(5):  # cut at varying points of the claim/finish transactions
            await asyncio.to_thread(proxy.cut)
            await asyncio.sleep(0.1)
            await asyncio.to_thread(proxy.restore)
            await asyncio.sleep(0.03)
        before = len(runs)
        for _ in range(100):
            if len(runs) > before:
                break
            await asyncio.sleep(0.05)
        assert not loop.done(), loop.exception() if loop.done() else None
        assert len(runs) > before, "the scheduler stopped running jobs after the outage"
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
