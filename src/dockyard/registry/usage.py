"""Pull and push counts without a write per pull.

A manifest GET stays one indexed read: the route tells the bus (`ManifestPulled`, in process
only), this recorder counts it in memory per (repository, digest, day), and every few seconds
(and at shutdown) adds the counts to the database with increment-upserts, so any number of
replicas flushing at once add up. A flush that fails keeps its counts for the next one.

Pushes are rare and already write: they are counted inside the push's own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from dockyard.events.bus import EventBus
from dockyard.events.types import Event, ManifestPulled, ManifestPushed
from dockyard.meta.base import MetadataStore, MetadataUnavailable, Transaction
from dockyard.meta.records import PullCount

log = logging.getLogger(__name__)

DAY = 86400


def day_of(at: float) -> int:
    """Days since the epoch (UTC)."""
    return int(at // DAY)


class UsageRecorder:
    def __init__(self, store: MetadataStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._pending: dict[tuple[str, str, int], list[float]] = {}  # → [pulls, last at]
        self._flushing = asyncio.Lock()
        self._stopping = asyncio.Event()

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(ManifestPulled, self.on_pulled)
        bus.subscribe_in_transaction(self.on_event_in_transaction)

    def on_pulled(self, event: Event) -> None:
        assert isinstance(event, ManifestPulled)
        key = (event.repository, event.digest, day_of(event.at))
        entry = self._pending.get(key)
        if entry is None:
            self._pending[key] = [1, event.at]
        else:
            entry[0] += 1
            entry[1] = max(entry[1], event.at)

    async def on_event_in_transaction(self, tx: Transaction, event: Event) -> None:
        if isinstance(event, ManifestPushed):
            now = self._clock()
            await tx.usage.add_push(event.repository, day_of(now), now)

    @property
    def pending(self) -> int:
        """Pulls counted and not yet flushed."""
        return int(sum(entry[0] for entry in self._pending.values()))

    async def flush(self) -> int:
        """Add what was counted to the database; returns how many pulls were written."""
        async with self._flushing:
            taken, self._pending = self._pending, {}
            if not taken:
                return 0
            counts = [
                PullCount(repo, digest, day, int(n), at)
                for (repo, digest, day), (n, at) in taken.items()
            ]
            try:
                async with self._store.transaction() as tx:
                    await tx.usage.add_pulls(counts)
            except BaseException:
                self._restore(counts)
                raise
            return sum(c.pulls for c in counts)

    def _restore(self, counts: list[PullCount]) -> None:
        for c in counts:
            entry = self._pending.setdefault((c.repository, c.digest, c.day), [0, 0.0])
            entry[0] += c.pulls
            entry[1] = max(entry[1], c.last_pulled_at)

    async def run(self, interval: float) -> None:
        """Flush every `interval` seconds until `stop` (then call `close`)."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if not self._stopping.is_set():
                await self._flush_logged()

    def stop(self) -> None:
        """End `run` after the flush in progress: cancelling it could cut a write halfway."""
        self._stopping.set()

    async def close(self) -> None:
        """The last flush, at shutdown."""
        await self._flush_logged()

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except MetadataUnavailable as exc:
            log.warning("pull counts not flushed (kept for the next try): %s", exc)
        except Exception:
            log.exception("pull counts not flushed (kept for the next try)")
