"""Periodic jobs with leases in the metadata database.

Every process runs a scheduler; before running a due job it claims the job's row with one
conditional UPDATE (the lease), so however many workers or replicas there are, each run happens
once. A process that dies mid-run loses its lease when it expires, and another takes over.
Works the same on SQLite (embedded) and PostgreSQL (scale-out): no Redis, no leader election.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.meta.base import MetadataStore, MetadataUnavailable

log = logging.getLogger(__name__)

JobFunction = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval: float
    run: JobFunction
    lease: float  # seconds a claimed run may take before another process may take over
    stop: Callable[[], None] | None = None  # asks a run in progress to end early (shutdown)


def process_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    def __init__(self, store: MetadataStore, tick: float = 1.0, *, shared: bool = True) -> None:
        self.store = store
        self.tick = tick
        # False: every process runs these jobs on its own schedule, with no lease: for work
        # that already divides itself safely between processes (a queue leased row by row).
        self.shared = shared
        self.owner = process_identity()
        self.jobs: list[Job] = []
        self._stopping = asyncio.Event()
        self._next_local: dict[str, float] = {}  # when each job is due here, when unshared

    def every(
        self,
        name: str,
        interval: float,
        run: JobFunction,
        lease: float | None = None,
        *,
        stop: Callable[[], None] | None = None,
    ) -> None:
        self.jobs.append(Job(name, interval, run, lease or max(60.0, interval), stop))

    async def run_forever(self) -> None:
        """Run due jobs every tick until `stop` is called; then return once the job at hand
        is done, so that no transaction is cut off halfway."""
        while not self._stopping.is_set():
            await self.run_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.tick)

    def stop(self) -> None:
        """Ask `run_forever` to end after the job it is running (if any), and that job to end
        after the item at hand when it can be told to."""
        self._stopping.set()
        for job in self.jobs:
            if job.stop is not None:
                job.stop()

    async def run_due(self) -> int:
        """Run every job that is due and that this process wins; returns how many ran."""
        ran = 0
        for job in self.jobs:
            if self._stopping.is_set():
                break
            if not self.shared:
                ran += await self._run_locally(job)
                continue
            try:
                if await self._claim(job):
                    ran += 1
                    await self._run(job)
            except MetadataUnavailable as exc:
                log.warning("scheduler: database unavailable, retrying: %s", exc)
            except Exception:  # the schedule outlives any one failure; the lease covers the run
                log.exception("scheduler: job %s could not be claimed or finished", job.name)
        return ran

    async def _claim(self, job: Job) -> bool:
        now = time.time()
        async with self.store.transaction() as tx:
            await tx.jobs.ensure(job.name, first_run_at=now)
            return bool(
                await tx.jobs.claim(job.name, self.owner, now, now + job.lease, job.interval)
            )

    async def _run(self, job: Job) -> None:
        error = None
        try:
            await job.run()
        except Exception as exc:  # one failing run must not stop the schedule
            log.exception("job %s failed", job.name)
            error = f"{type(exc).__name__}: {exc}"[:1000]
        finished = time.time()
        async with self.store.transaction() as tx:
            await tx.jobs.finish(job.name, self.owner, finished, finished + job.interval, error)

    async def _run_locally(self, job: Job) -> int:
        """Run a job when it is due in this process (an unshared scheduler); 1 if it ran."""
        if self._next_local.get(job.name, 0.0) > time.monotonic():
            return 0
        try:
            await job.run()
        except Exception:  # one failing run must not stop the schedule
            log.exception("job %s failed", job.name)
        self._next_local[job.name] = time.monotonic() + job.interval
        return 1
