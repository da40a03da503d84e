"""Scanning images: queueing them, and running the queue.

`request` puts an image (or every platform of an index) in the queue; `run_one` claims the
oldest queued scan under a lease, streams the image's layers from the storage driver into the
scanner (never a whole blob in memory; tar parsing runs in a worker thread), writes progress to
the queue row as it goes, and stores the report and its findings in the same transaction that
marks the row done. A scan that fails leaves its reason on the row and is retried a few times;
nothing a scan does can stop the worker.

Reports are per digest: an image pushed to a second repository, or tagged again, is not read
again while its report is from the current scanner and vulnerability database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from dockyard.errors import RegistryError, invalid, not_found
from dockyard.ext.scanning.inventory import LayerSource
from dockyard.ext.scanning.inventory.bridge import OpenStream
from dockyard.ext.scanning.reports import finding_rows, report_row, scanner_key
from dockyard.ext.scanning.scanner import ScanError, Scanner, ScanReport, ScanTarget
from dockyard.ext.scanning.settings import ScanningSettings
from dockyard.meta.base import MetadataStore, Transaction
from dockyard.meta.records import ManifestRecord
from dockyard.meta.scan_store import ScanStatus
from dockyard.oci import mediatypes as mt
from dockyard.registry import artifact_views as views
from dockyard.registry.manifests import Reference, find
from dockyard.storage.base import PathNotFound, StorageDriver, StorageError

log = logging.getLogger(__name__)

STALE_PAGE = 500  # queue rows enqueued per transaction when the database changes
MAX_ERROR = 2000  # characters of an error kept on the queue row


@dataclass(frozen=True, slots=True)
class Requested:
    """What a scan request resolved to, and the queue rows it touched (one per image: the
    platforms of an index)."""

    record: ManifestRecord
    scans: list[ScanStatus]


@dataclass(frozen=True, slots=True)
class Outcome:
    repository: str
    digest: str
    state: str | None  # done, queued (to be retried), failed; None when the lease was lost
    error: str | None = None


class _Progress:
    """The scanner's progress callback (synchronous) feeding the task that writes it."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0
        self.changed = asyncio.Event()
        self.finished = asyncio.Event()

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self.changed.set()


async def _wait(event: asyncio.Event, within: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), within)


class ScanService:
    def __init__(
        self,
        store: MetadataStore,
        storage: StorageDriver,
        scanner: Scanner,
        settings: ScanningSettings,
        *,
        clock: Callable[[], float] = time.time,
        progress_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.storage = storage
        self.scanner = scanner
        self.settings = settings
        self._clock = clock
        self._progress_interval = progress_interval

    # --- queueing ---------------------------------------------------------------------------

    async def request(self, repository: str, reference: str, reason: str) -> Requested:
        """Queue a scan of the artifact (by tag or digest): an image, or each platform image of
        an index. Problem 404 when it is not there, 422 when it is not an image."""
        now = self._clock()
        async with self.store.transaction() as tx:
            record = await resolve(tx, repository, reference)
            images = await self.images_of(tx, record)
            for image in images:
                await tx.scans.enqueue(repository, image.digest, reason, now)
            statuses = await tx.scans.status(repository, [i.digest for i in images])
        return Requested(record, [statuses[i.digest] for i in images if i.digest in statuses])

    async def images_of(self, tx: Transaction, record: ManifestRecord) -> list[ManifestRecord]:
        """The scannable images an artifact stands for: itself, or an index's platforms."""
        kind = views.kind_of(record)
        if kind == "image" and self.scanner.supports(record.media_type):
            return [record]
        if kind != "index":
            what = record.artifact_type or record.media_type
            raise invalid(
                f"{record.digest} is an artifact of type {what}, not an image: "
                "only images (and indexes of them) are scanned"
            )
        found = []
        for child in views.descriptors(views.document(record), "manifests"):
            image = await tx.manifests.get(record.repository, str(child.get("digest")))
            scannable = image is not None and views.kind_of(image) == "image"
            if image is not None and scannable and self.scanner.supports(image.media_type):
                found.append(image)
        return found

    async def rescan_stale(self) -> int:
        """Queue every artifact whose report is from another database version; returns how
        many were queued (queued or running ones are left as they are)."""
        version = await self.scanner.db_version()
        queued, after = 0, None
        while True:
            async with self.store.transaction(readonly=True) as tx:
                page = await tx.scans.stale(version, STALE_PAGE, after)
            if not page:
                return queued
            now = self._clock()
            async with self.store.transaction() as tx:
                for repository, digest in page:
                    queued += await tx.scans.enqueue(repository, digest, "rescan", now)
            if len(page) < STALE_PAGE:
                return queued
            after = page[-1]

    # --- running ----------------------------------------------------------------------------

    async def run_one(self, owner: str) -> Outcome | None:
        """Claim and run the oldest queued scan; None when the queue is empty."""
        now = self._clock()
        lease = self.settings.lease_seconds
        async with self.store.transaction() as tx:
            row = await tx.scans.claim(owner, now, now + lease, self.settings.max_attempts)
        if row is None:
            return None
        try:
            report = await self._scan(row, owner)
        except asyncio.CancelledError:
            await asyncio.shield(self._release(row, owner))
            raise
        except ScanError as err:
            return await self._failed(row, owner, str(err), err.retry)
        except Exception as err:  # a scanner bug must not stop the worker or lose the row
            log.exception("scanning %s@%s failed", row.repository, row.digest)
            return await self._failed(row, owner, f"{type(err).__name__}: {err}", True)
        return await self._save(row, owner, report)

    async def _scan(self, row: ScanStatus, owner: str) -> ScanReport | None:
        """The scanner's report; None when the stored one is still current."""
        async with self.store.transaction(readonly=True) as tx:
            record = await tx.manifests.get(row.repository, row.digest)
            if record is None:
                raise ScanError("the manifest is no longer in the repository", retry=False)
            if not self.scanner.supports(record.media_type):
                raise ScanError(
                    f"{self.scanner.info.name} cannot scan a {record.media_type}", retry=False
                )
            if row.reason != "manual" and await self._current(tx, row.digest):
                return None
            target = await self._target(tx, record)
        progress = _Progress()
        writer = asyncio.create_task(self._write_progress(row, owner, progress))
        try:
            return await self.scanner.scan(target, progress)
        finally:
            # Told to stop, not cancelled: a write cancelled halfway would leave its
            # transaction (and on SQLite the database lock) behind.
            progress.finished.set()
            progress.changed.set()
            await writer

    async def _current(self, tx: Transaction, digest: str) -> bool:
        """Whether the digest's stored report is from this scanner and database already."""
        summary = (await tx.scans.summaries([digest])).get(digest)
        if summary is None or summary.scanner != scanner_key(self.scanner.info):
            return False
        return summary.db_version == await self.scanner.db_version()

    async def _target(self, tx: Transaction, record: ManifestRecord) -> ScanTarget:
        layers = []
        for layer in views.descriptors(views.document(record), "layers"):
            digest, media_type = str(layer.get("digest")), str(layer.get("mediaType"))
            blob = await tx.blobs.linked(record.repository, digest)
            if blob is None:
                if layer.get("urls") or media_type in mt.FOREIGN_LAYERS:
                    continue  # e.g. a Windows base layer the registry never holds
                raise ScanError(
                    f"layer {digest} is not in repository {record.repository}", retry=False
                )
            layers.append(LayerSource(digest, media_type, self._opener(digest, blob.path)))
        return ScanTarget(record.repository, record.digest, record.media_type, layers)

    def _opener(self, digest: str, path: str) -> OpenStream:
        async def open_layer() -> AsyncIterator[bytes]:
            try:
                return await self.storage.read(path)
            except PathNotFound:
                raise ScanError(
                    f"layer {digest} is missing from storage (no object at {path!r}); the "
                    "registry's metadata lists it, its bytes are gone",
                    retry=False,
                ) from None
            except StorageError as err:
                raise ScanError(f"layer {digest} cannot be read from storage: {err}") from err

        return open_layer

    async def _write_progress(self, row: ScanStatus, owner: str, progress: _Progress) -> None:
        """Progress to the row at most once per interval, and the lease renewed while the
        scan runs (also when a large layer keeps the progress still)."""
        renew = self.settings.lease_seconds / 3
        while True:
            await _wait(progress.changed, renew)
            if progress.finished.is_set():
                return
            progress.changed.clear()
            until = self._clock() + self.settings.lease_seconds
            try:
                async with self.store.transaction() as tx:
                    owned = await tx.scans.progress(
                        row.repository, row.digest, owner, progress.done, progress.total, until
                    )
            except Exception:  # progress is a courtesy: the scan goes on without it
                log.warning("could not record scan progress", exc_info=True)
                owned = True
            if not owned:
                log.warning("lost the lease on %s@%s", row.repository, row.digest)
            await _wait(progress.finished, self._progress_interval)

    async def _save(self, row: ScanStatus, owner: str, report: ScanReport | None) -> Outcome:
        now = self._clock()
        async with self.store.transaction() as tx:
            if report is not None:
                stored = await asyncio.to_thread(report_row, report)  # JSON + gzip, off the loop
                await tx.scans.save_report(stored, finding_rows(report), now)
            state = await tx.scans.finish(row.repository, row.digest, owner, now)
        return Outcome(row.repository, row.digest, state)

    async def _failed(self, row: ScanStatus, owner: str, error: str, retry: bool) -> Outcome:
        error = error[:MAX_ERROR]
        attempts = self.settings.max_attempts if retry else 1
        async with self.store.transaction() as tx:
            state = await tx.scans.finish(
                row.repository, row.digest, owner, self._clock(), error, attempts
            )
        return Outcome(row.repository, row.digest, state, error)

    async def _release(self, row: ScanStatus, owner: str) -> None:
        """Put an interrupted scan (shutdown) back in the queue instead of waiting out its
        lease."""
        try:
            async with self.store.transaction() as tx:
                await tx.scans.finish(
                    row.repository,
                    row.digest,
                    owner,
                    self._clock(),
                    "interrupted (the worker stopped); queued again",
                    row.attempts + 1,
                )
        except Exception:
            log.warning("could not release %s@%s", row.repository, row.digest, exc_info=True)


async def resolve(tx: Transaction, repository: str, reference: str) -> ManifestRecord:
    """The manifest a tag or digest names; Problem 404 when there is none."""
    try:
        ref = Reference.parse(reference)
    except RegistryError:  # neither a tag nor a digest: for this API, nothing is there
        raise not_found(f"no artifact {reference!r} in {repository!r}") from None
    record = await find(tx, repository, ref)
    if record is None:
        raise not_found(f"no artifact {reference!r} in {repository!r}")
    return record
