"""The scanning extension's background work: running the queue, refreshing the vulnerability
database, rescanning after it changes, and queueing images as they are pushed.

Every replica runs the same tasks through the scheduler; queue rows carry their own leases,
so two replicas never scan one image at once, and a database import on any replica (or with
`dockyard vulndb import`) is noticed by every replica's next queue run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from dockyard.events.types import Event, ManifestDeleted, ManifestPushed
from dockyard.ext.scanning.scanner import ScanError
from dockyard.ext.scanning.service import ScanService
from dockyard.ext.scanning.vulndb import ImportSummary, VulnDbError, import_osv
from dockyard.jobs.scheduler import process_identity
from dockyard.meta.base import MetadataUnavailable, Transaction
from dockyard.oci import mediatypes as mt
from dockyard.registry import artifact_views as views

log = logging.getLogger(__name__)

BATCH = 20  # scans one queue run takes on at most, so that other jobs get their turn


class ScanWorker:
    def __init__(
        self,
        service: ScanService,
        *,
        owner: str | None = None,
        batch: int = BATCH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.settings = service.settings
        self.owner = owner or process_identity()
        self.batch = batch
        self._clock = clock
        self._seen_db: str | None = None  # the database version stale reports were queued for
        self._stopping = False

    async def run_queue(self) -> int:
        """One queue run: rescan if the database changed, then up to `batch` scans, for no
        longer than half a lease (the scheduler's own lease on this job is at least 60 s)."""
        try:
            await self.rescan_if_changed()
        except ScanError as err:  # an external scanner that cannot be reached: try next time
            log.warning("scanner %s unavailable: %s", self.service.scanner.info.name, err)
            return 0
        deadline = self._clock() + max(30.0, self.settings.lease_seconds / 2)
        ran = 0
        while ran < self.batch and self._clock() < deadline and not self._stopping:
            outcome = await self.service.run_one(self.owner)
            if outcome is None:
                break
            ran += 1
            if outcome.error is None:
                log.info("scanned %s@%s (%s)", outcome.repository, outcome.digest, outcome.state)
            else:
                log.warning(
                    "scan of %s@%s: %s (%s)",
                    outcome.repository,
                    outcome.digest,
                    outcome.error,
                    outcome.state,
                )
        return ran

    def stop(self) -> None:
        """End the queue run in progress after the scan at hand (shutdown), and run no more."""
        self._stopping = True

    async def rescan_if_changed(self) -> int:
        """Queue stale artifacts when the database version differs from the one seen last."""
        version = await self.service.scanner.db_version()
        if version == self._seen_db:
            return 0
        queued = await self.service.rescan_stale()
        self._seen_db = version
        if queued:
            log.info("vulnerability database %s: %d artifact(s) queued again", version, queued)
        return queued

    async def refresh_db(self) -> list[ImportSummary]:
        """Import every configured source (none configured: nothing to do), then queue what the
        change makes stale. One failing source does not keep the others from importing."""
        imported = []
        for source in self.settings.vulndb_sources:
            try:
                summary = await import_osv(self.service.store, source)
            except (VulnDbError, OSError, MetadataUnavailable) as err:
                log.warning("vulnerability database source %s failed: %s", source, err)
                continue
            log.info(
                "imported %d advisories from %s; database %s",
                summary.advisories,
                source,
                summary.db_version,
            )
            imported.append(summary)
        if imported:
            await self.rescan_if_changed()
        return imported

    # --- scan on push -----------------------------------------------------------------------

    async def on_event_in_transaction(self, tx: Transaction, event: Event) -> None:
        """Queue a pushed image in the push's own transaction: the row exists exactly when the
        manifest does. Referrers (signatures, SBOMs), other artifacts and indexes (their
        platform images were pushed, and queued, on their own) are left out. A deleted
        manifest takes its digest's reports along when no repository holds it any more."""
        if isinstance(event, ManifestDeleted):
            # Reports are per digest: they go with the last repository holding it.
            await tx.scans.drop_unheld(event.digest)
            return
        if not isinstance(event, ManifestPushed) or event.subject is not None:
            return
        if event.media_type not in mt.IMAGE_MANIFESTS:
            return
        if not await self.scan_on_push(tx, event.repository.split("/", 1)[0]):
            return
        if await tx.scans.status(event.repository, [event.digest]):
            return  # pushed again (another tag): queued or scanned already
        record = await tx.manifests.get(event.repository, event.digest)
        if record is None or views.kind_of(record) != "image":
            return
        await tx.scans.enqueue(event.repository, event.digest, "push", time.time())

    async def scan_on_push(self, tx: Transaction, project: str) -> bool:
        """The project's policy when it says, else the registry's setting."""
        policy = await tx.policies.get(project)
        return policy.scan_on_push if policy is not None else self.settings.scan_on_push
