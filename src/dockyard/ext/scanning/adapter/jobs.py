"""The scan requests an adapter endpoint has accepted, and the background tasks that run them.

Kept in the memory of one process, which is what the adapter API needs: Harbor polls the report
of a request soon after making it and keeps the report itself. The price: a restart forgets
the requests in flight (their pollers get 404 and Harbor marks the scan failed, to be run
again), and behind a load balancer with several replicas the poll must reach the replica that
took the request (sticky sessions, or one replica serving the adapter path). Durable scanning
for Dockyard's own images is the scan queue's job, not this one's.

Bounded and expiring: at most `capacity` requests are kept; a finished one is forgotten `ttl`
seconds after it finished (or sooner, oldest first, when room is needed), and a new request
that finds `capacity` requests all still running is refused. At most `concurrency` scans run at
once; the rest wait their turn, and a scan that takes longer than `scan_timeout` fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from dockyard.ext.scanning.adapter.wire import ScanRequest
from dockyard.ext.scanning.scanner import ScanReport

log = logging.getLogger("dockyard.ext.scanning.adapter")

RunScan = Callable[[ScanRequest], Awaitable[ScanReport]]


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(slots=True)
class ScanJob:
    id: str
    request: ScanRequest
    state: State = State.QUEUED
    report: ScanReport | None = None
    error: str = ""
    finished_at: float | None = None  # on the jobs' clock

    @property
    def finished(self) -> bool:
        return self.state in (State.DONE, State.FAILED)


class TooBusy(Exception):
    """Every slot holds a request that is still running."""


class ScanJobs:
    def __init__(
        self,
        run: RunScan,
        *,
        capacity: int = 1000,
        ttl: float = 3600.0,
        concurrency: int = 2,
        scan_timeout: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self._capacity = capacity
        self._ttl = ttl
        self._slots = asyncio.Semaphore(concurrency)
        self._scan_timeout = scan_timeout
        self._clock = clock
        self._jobs: dict[str, ScanJob] = {}  # in insertion order: oldest first
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._jobs)

    def submit(self, request: ScanRequest) -> ScanJob:
        self._forget_expired()
        if len(self._jobs) >= self._capacity:
            self._make_room()
        job = ScanJob(str(uuid.uuid4()), request)
        self._jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._work(job), name=f"scan {job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, job_id: str) -> ScanJob | None:
        self._forget_expired()
        return self._jobs.get(job_id)

    async def aclose(self) -> None:
        """Cancel the scans still running and wait for them to stop."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self, job: ScanJob) -> None:
        request = job.request
        try:
            async with self._slots:
                job.state = State.RUNNING
                async with asyncio.timeout(self._scan_timeout):
                    job.report = await self._run(request)
                job.state = State.DONE
        except asyncio.CancelledError:
            self._fail(job, "the scanner adapter stopped before the scan finished")
            raise
        except TimeoutError:
            self._fail(job, f"the scan did not finish within {self._scan_timeout:g} seconds")
        except Exception as exc:  # any failure of the pull or the scan is the request's answer
            self._fail(job, str(exc) or type(exc).__name__)
            log.warning(
                "scan %s of %s@%s failed: %s", job.id, request.repository, request.digest, exc
            )
        finally:
            job.finished_at = self._clock()
            # The registry credentials were lent for this scan only.
            job.request = replace(request, authorization=None)

    @staticmethod
    def _fail(job: ScanJob, message: str) -> None:
        job.state, job.error = State.FAILED, message

    def _forget_expired(self) -> None:
        now = self._clock()
        expired = [
            job_id
            for job_id, job in self._jobs.items()
            if job.finished_at is not None and now - job.finished_at >= self._ttl
        ]
        for job_id in expired:
            del self._jobs[job_id]

    def _make_room(self) -> None:
        for job_id, job in self._jobs.items():
            if job.finished:
                del self._jobs[job_id]  # the oldest finished one; its poller had its chance
                return
        raise TooBusy(f"{len(self._jobs)} scans are already queued or running")
