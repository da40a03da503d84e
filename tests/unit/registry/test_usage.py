"""Pull counting in memory: aggregated per manifest and day, kept when a flush fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from dockyard.events.bus import EventBus
from dockyard.events.types import ManifestPulled
from dockyard.meta.base import MetadataUnavailable
from dockyard.meta.records import PullCount
from dockyard.registry.usage import DAY, UsageRecorder, day_of

pytestmark = pytest.mark.anyio


class _Usage:
    def __init__(self) -> None:
        self.batches: list[list[PullCount]] = []
        self.fail = False

    async def add_pulls(self, counts: list[PullCount]) -> None:
        if self.fail:
            raise MetadataUnavailable("down")
        self.batches.append(sorted(counts, key=lambda c: (c.repository, c.digest, c.day)))


class _Store:
    def __init__(self) -> None:
        self.usage = _Usage()

    @asynccontextmanager
    async def transaction(self, readonly: bool = False) -> AsyncIterator[Any]:
        yield self


def _recorder() -> tuple[UsageRecorder, _Store, EventBus]:
    store, bus = _Store(), EventBus()
    recorder = UsageRecorder(store)  # type: ignore[arg-type]
    recorder.attach(bus)
    return recorder, store, bus


def test_days_are_utc_days_since_the_epoch() -> None:
    assert day_of(0) == 0 and day_of(DAY - 0.001) == 0 and day_of(DAY) == 1


async def test_pulls_are_aggregated_per_manifest_and_day() -> None:
    recorder, store, bus = _recorder()
    for at in (10.0, 30.0, 20.0):
        bus.notify(ManifestPulled("r", "sha256:a", at))
    bus.notify(ManifestPulled("r", "sha256:a", DAY + 1))
    bus.notify(ManifestPulled("r", "sha256:b", 5.0))
    assert recorder.pending == 5
    assert await recorder.flush() == 5
    assert store.usage.batches == [
        [
            PullCount("r", "sha256:a", 0, 3, 30.0),
            PullCount("r", "sha256:a", 1, 1, DAY + 1),
            PullCount("r", "sha256:b", 0, 1, 5.0),
        ]
    ]
    assert recorder.pending == 0 and await recorder.flush() == 0


async def test_a_failed_flush_keeps_its_counts_for_the_next() -> None:
    recorder, store, bus = _recorder()
    bus.notify(ManifestPulled("r", "sha256:a", 10.0))
    store.usage.fail = True
    with pytest.raises(MetadataUnavailable):
        await recorder.flush()
    bus.notify(ManifestPulled("r", "sha256:a", 50.0))
    await recorder.close()  # logs the failure instead of raising
    assert recorder.pending == 2
    store.usage.fail = False
    assert await recorder.flush() == 2
    assert store.usage.batches == [[PullCount("r", "sha256:a", 0, 2, 50.0)]]


async def test_stop_ends_the_flush_loop_without_cutting_a_flush_short() -> None:
    recorder, store, bus = _recorder()
    bus.notify(ManifestPulled("r", "sha256:a", 10.0))
    loop = asyncio.create_task(recorder.run(0.05))
    while not store.usage.batches:
        await asyncio.sleep(0.01)
    recorder.stop()
    await asyncio.wait_for(loop, 2)  # ends by itself, not through cancellation

    bus.notify(ManifestPulled("r", "sha256:b", 20.0))
    await recorder.close()
    assert store.usage.batches == [
        [PullCount("r", "sha256:a", 0, 1, 10.0)],
        [PullCount("r", "sha256:b", 0, 1, 20.0)],
    ]
