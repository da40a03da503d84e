"""Two schedulers on one database (two replicas) never run the same job at the same time."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.jobs.scheduler import Scheduler
from dockyard.meta.sql import SqlMetadataStore
from tests.conftest import PG_URL

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgresql"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SqlMetadataStore, SqlMetadataStore]]:
    if request.param == "sqlite":
        url, schema = f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}", None
    else:
        url, schema = PG_URL, request.getfixturevalue("pg_schema")
    one, two = SqlMetadataStore(url, schema=schema), SqlMetadataStore(url, schema=schema)
    await one.upgrade()
    await two.open()
    yield one, two
    await one.close()
    await two.close()


async def test_each_run_happens_once_across_replicas(
    stores: tuple[SqlMetadataStore, SqlMetadataStore],
) -> None:
    runs: list[tuple[str, float, float]] = []
    interval = 0.3

    def job(owner: str):
        async def run() -> None:
            started = time.monotonic()
            await asyncio.sleep(0.05)
            runs.append((owner, started, time.monotonic()))

        return run

    schedulers = []
    for name, store in zip(("one", "two"), stores, strict=True):
        scheduler = Scheduler(store, tick=0.02)
        scheduler.every("sweep", interval, job(name))
        schedulers.append(scheduler)
    tasks = [asyncio.create_task(s.run_forever()) for s in schedulers]
    deadline = time.monotonic() + 10
    while len(runs) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    assert len(runs) >= 4, runs
    ordered = sorted(runs, key=lambda r: r[1])
    for (_, _, previous_end), (_, start, _) in itertools.pairwise(ordered):
        # Never two at once, and the next run waits out the interval after the last finished.
        assert start >= previous_end + interval * 0.9
    async with stores[0].transaction(readonly=True) as tx:
        job_row = await tx.jobs.get("sweep")
    assert job_row is not None and job_row["last_error"] is None


async def test_a_failing_job_is_recorded_and_runs_again(
    stores: tuple[SqlMetadataStore, SqlMetadataStore],
) -> None:
    attempts = []

    async def flaky() -> None:
        attempts.append(time.monotonic())
        raise RuntimeError("disk on fire")

    scheduler = Scheduler(stores[0])
    scheduler.every("flaky", 0.0, flaky)
    assert await scheduler.run_due() == 1
    async with stores[1].transaction(readonly=True) as tx:
        job_row = await tx.jobs.get("flaky")
    assert job_row["last_error"] == "RuntimeError: disk on fire"
    assert job_row["lease_owner"] is None
    assert await scheduler.run_due() == 1
    assert len(attempts) == 2


async def test_stop_lets_the_running_job_finish_its_work(
    stores: tuple[SqlMetadataStore, SqlMetadataStore],
) -> None:
    """Shutdown asks the scheduler to stop instead of cancelling it: a job halfway through
    its work (and its transaction) completes, and its run is recorded as finished."""
    store = stores[0]
    started, finished = asyncio.Event(), []

    async def job() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(time.monotonic())

    scheduler = Scheduler(store, tick=0.02)
    scheduler.every("slow", 60, job)
    loop = asyncio.create_task(scheduler.run_forever())
    await asyncio.wait_for(started.wait(), 10)
    scheduler.stop()
    await asyncio.wait_for(loop, 5)  # returns by itself: no CancelledError

    assert len(finished) == 1
    async with store.transaction(readonly=True) as tx:
        row = await tx.jobs.get("slow")
    assert row is not None and row["last_error"] is None
    assert row["lease_owner"] is None, "the finished run must give its lease back"


async def test_an_unshared_job_runs_in_every_process_without_a_lease(
    stores: tuple[SqlMetadataStore, SqlMetadataStore],
) -> None:
    """Per-process work (the scan queue): each scheduler runs it on its own clock, at the
    same time as the others, and no job row is claimed for it."""
    running: set[str] = set()
    overlapped: list[bool] = []
    runs: list[str] = []

    def job(owner: str):
        async def run() -> None:
            running.add(owner)
            await asyncio.sleep(0.1)
            overlapped.append(len(running) == 2)
            running.discard(owner)
            runs.append(owner)

        return run

    schedulers = []
    for name, store in zip(("one", "two"), stores, strict=True):
        scheduler = Scheduler(store, tick=0.02, shared=False)
        scheduler.every("scan-queue", 0.05, job(name))
        schedulers.append(scheduler)
    loops = [asyncio.create_task(s.run_forever()) for s in schedulers]
    deadline = time.monotonic() + 10
    while (runs.count("one") < 3 or runs.count("two") < 3) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for scheduler in schedulers:
        scheduler.stop()
    await asyncio.wait_for(asyncio.gather(*loops), 5)

    assert runs.count("one") >= 3 and runs.count("two") >= 3, runs
    assert any(overlapped), "the two processes never ran it at the same time"
    async with stores[0].transaction(readonly=True) as tx:
        assert await tx.jobs.get("scan-queue") is None


async def test_stop_tells_each_job_that_can_be_told(
    stores: tuple[SqlMetadataStore, SqlMetadataStore],
) -> None:
    told: list[str] = []

    async def nothing() -> None:
        return None

    scheduler = Scheduler(stores[0], tick=0.02)
    scheduler.every("batch", 60, nothing, stop=lambda: told.append("batch"))
    scheduler.every("plain", 60, nothing)
    scheduler.stop()
    assert told == ["batch"]
