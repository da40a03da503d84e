"""What the management API answers about scans, as one principal may see it.

Reading needs pull access to the repository (hidden is the same as absent: 404); asking for a
scan or attaching an SBOM needs push. Registry-wide views cover what the principal may pull in
whole projects, as the registry statistics do; system administrators see everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.auth.access import AccessControl
from dockyard.auth.actions import Action
from dockyard.auth.principal import Principal
from dockyard.errors import not_found
from dockyard.ext.scanning.reports import (
    ReportFormatError,
    counts_view,
    decode,
    package_view,
    report_view,
)
from dockyard.ext.scanning.scanner import ScanReport
from dockyard.ext.scanning.service import ScanService, resolve
from dockyard.ext.scanning.severity import Severity
from dockyard.meta.advisory_records import VulnDbVersion
from dockyard.meta.base import MetadataStore, Transaction
from dockyard.meta.records import ManifestRecord
from dockyard.meta.scan_store import AffectedArtifact, ExposedArtifact, ScanStatus
from dockyard.oci.digest import is_digest_like
from dockyard.registry import artifact_views as views
from dockyard.registry.visibility import Visibility

MAX_PROJECTS = 10_000  # a non-admin's registry-wide views cover at most this many projects
HISTORY = 10  # database imports listed in the summary


@dataclass(frozen=True, slots=True)
class Artifact:
    """A resolved artifact the principal may see."""

    record: ManifestRecord
    tag: str | None  # when it was named by a tag


def status_view(status: ScanStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "digest": status.digest,
        "state": status.state,
        "reason": status.reason,
        "queued_at": status.queued_at,
        "started_at": status.started_at,
        "finished_at": status.finished_at,
        "progress": {"done": status.progress_done, "total": status.progress_total},
        "attempts": status.attempts,
        "error": status.error,
    }


def _database_view(version: VulnDbVersion) -> dict[str, Any]:
    return {
        "db_version": version.db_version,
        "imported_at": version.imported_at,
        "source": version.source,
        "feeds": {
            name: {"advisories": f.advisories, "withdrawn": f.withdrawn}
            for name, f in sorted(version.feeds.items())
        },
    }


def _exposed_view(item: ExposedArtifact) -> dict[str, Any]:
    return {
        "repository": item.repository,
        "digest": item.digest,
        "summary": counts_view(item.counts),
        "scanned_at": item.scanned_at,
        "db_version": item.db_version,
    }


def _affected_view(item: AffectedArtifact) -> dict[str, Any]:
    finding = item.finding
    return {
        "repository": item.repository,
        "digest": item.digest,
        "advisory": finding.advisory_id,
        "package": finding.package,
        "version": finding.version,
        "ecosystem": finding.ecosystem,
        "severity": Severity(finding.severity).name if 0 <= finding.severity <= 5 else "UNKNOWN",
        "fixed": finding.fixed,
        "first_seen_at": finding.first_seen_at,
    }


class ScanQueries:
    def __init__(self, store: MetadataStore, access: AccessControl, service: ScanService) -> None:
        self._store = store
        self._access = access
        self._service = service

    def visibility(self, principal: Principal) -> Visibility:
        return Visibility(self._store, self._access, principal)

    async def artifact(
        self, principal: Principal, repository: str, reference: str, action: Action = Action.PULL
    ) -> Artifact:
        """The artifact, when the principal may `action` on its repository (404 when they
        may not even pull, 403 when they may pull but not `action`)."""
        visible = self.visibility(principal)
        if action is Action.PULL:
            await visible.require_pull(repository)
        else:
            await visible.require(action, repository)
        async with self._store.transaction(readonly=True) as tx:
            record = await resolve(tx, repository, reference)
        return Artifact(record, None if is_digest_like(reference) else reference)

    async def request(
        self, principal: Principal, repository: str, reference: str
    ) -> dict[str, Any]:
        await self.artifact(principal, repository, reference, Action.PUSH)
        requested = await self._service.request(repository, reference, "manual")
        return {
            "repository": repository,
            "digest": requested.record.digest,
            "media_type": requested.record.media_type,
            "scans": [status_view(s) for s in requested.scans],
        }

    async def vulnerabilities(
        self, principal: Principal, repository: str, reference: str, minimum: Severity
    ) -> dict[str, Any]:
        found = await self.artifact(principal, repository, reference)
        record = found.record
        async with self._store.transaction(readonly=True) as tx:
            images = await self._service.images_of(tx, record)
            statuses = await tx.scans.status(repository, [i.digest for i in images])
            if views.kind_of(record) == "index":
                body = await self._index(tx, record, images, statuses)
            else:
                report = await _report(tx, record.digest)
                body = {
                    "status": status_view(statuses.get(record.digest)),
                    "report": report_view(report, minimum) if report else None,
                }
        if body["status"] is None and body.get("report") is None and not body.get("children"):
            raise not_found(
                f"{repository}@{record.digest} has not been scanned yet; request a scan with "
                f"POST /api/v1/repositories/{repository}/artifacts/{record.digest}/scan"
            )
        head = {"repository": repository, "digest": record.digest, "media_type": record.media_type}
        return {**head, "kind": views.kind_of(record), **body}

    async def _index(
        self,
        tx: Transaction,
        index: ManifestRecord,
        images: Sequence[ManifestRecord],
        statuses: dict[str, ScanStatus],
    ) -> dict[str, Any]:
        summaries = await tx.scans.summaries([i.digest for i in images])
        platforms = {
            str(d.get("digest")): views.platform(d.get("platform"))
            for d in views.descriptors(views.document(index), "manifests")
        }
        children = []
        for image in images:
            summary = summaries.get(image.digest)
            if summary is None and image.digest not in statuses:
                continue
            platform = platforms.get(image.digest)
            children.append(
                {
                    "digest": image.digest,
                    "platform": str(platform) if platform else None,
                    "status": status_view(statuses.get(image.digest)),
                    "summary": counts_view(summary.counts) if summary else None,
                    "scanned_at": summary.scanned_at if summary else None,
                    "db_version": summary.db_version if summary else None,
                }
            )
        return {"status": None, "report": None, "children": children}

    async def report(
        self, principal: Principal, repository: str, reference: str
    ) -> tuple[Artifact, ScanReport]:
        """The stored report of an image (404 when there is none, or for an index)."""
        found = await self.artifact(principal, repository, reference)
        record = found.record
        if views.kind_of(record) == "index":
            async with self._store.transaction(readonly=True) as tx:
                images = await self._service.images_of(tx, record)
            digests = ", ".join(i.digest for i in images) or "none in this repository"
            raise not_found(
                f"{repository}@{record.digest} is an index; ask for one of its platform "
                f"images ({digests})"
            )
        async with self._store.transaction(readonly=True) as tx:
            report = await _report(tx, record.digest)
        if report is None:
            raise not_found(
                f"{repository}@{record.digest} has not been scanned yet, so its packages are "
                f"not known; request a scan with POST /api/v1/repositories/{repository}/"
                f"artifacts/{record.digest}/scan"
            )
        return found, report

    async def packages(
        self, principal: Principal, repository: str, reference: str
    ) -> dict[str, Any]:
        found, report = await self.report(principal, repository, reference)
        inventory = report.inventory
        return {
            "repository": repository,
            "digest": found.record.digest,
            "scanner": report.scanner.name,
            "generated_at": report.generated_at,
            "distro": None
            if inventory.distro is None
            else {
                "id": inventory.distro.id,
                "version_id": inventory.distro.version_id,
                "pretty_name": inventory.distro.pretty_name,
            },
            "packages": [package_view(p) for p in inventory.packages],
            "problems": [{"layer": p.layer, "reason": p.reason} for p in inventory.problems],
        }

    # --- registry-wide --------------------------------------------------------------------

    async def scope(self, principal: Principal) -> list[str] | None:
        """The projects a principal's registry-wide views cover (None: every project)."""
        if principal.is_admin:
            return None
        visible = self.visibility(principal)
        found: list[str] = []
        cursor: str | None = None
        while len(found) < MAX_PROJECTS:
            async with self._store.transaction(readonly=True) as tx:
                batch = await tx.access.projects(cursor, 500)
            found += [p.name for p in batch if await visible.pulls_whole_project(p.name)]
            if len(batch) < 500:
                break
            cursor = batch[-1].name
        return found[:MAX_PROJECTS]

    async def summary(self, principal: Principal, top: int) -> dict[str, Any]:
        projects = await self.scope(principal)
        async with self._store.transaction(readonly=True) as tx:
            breakdown = await tx.scans.breakdown(projects)
            exposed = await tx.scans.most_exposed(top, projects)
            history = await tx.advisories.history(HISTORY)
            advisories = await tx.advisories.counts()
            queue = await tx.scans.queue_counts() if projects is None else None
        current = history[0] if history else None
        return {
            "scope": "registry" if projects is None else "visible",
            "database": None
            if current is None
            else {**_database_view(current), "advisories": advisories},
            "history": [_database_view(v) for v in history],
            "artifacts": breakdown.artifacts,
            "findings": counts_view(breakdown.findings),
            "worst": {**counts_view(breakdown.worst), "clean": breakdown.clean},
            "most_exposed": [_exposed_view(e) for e in exposed],
            "queue": queue,
        }

    async def affected(
        self, principal: Principal, advisories: Sequence[str], limit: int
    ) -> dict[str, Any]:
        projects = await self.scope(principal)
        async with self._store.transaction(readonly=True) as tx:
            rows = await tx.scans.affected_by(advisories, limit + 1, projects)
            known = [await tx.advisories.get(a) for a in advisories]
        return {
            "advisories": [
                {
                    "id": a.id,
                    "summary": a.summary,
                    "severity": a.severity,
                    "score": a.score,
                    "aliases": list(a.aliases),
                    "withdrawn": a.withdrawn,
                }
                for a in known
                if a is not None
            ],
            "artifacts": [_affected_view(r) for r in rows[:limit]],
            "truncated": len(rows) > limit,
        }


async def _report(tx: Transaction, digest: str) -> ScanReport | None:
    stored = await tx.scans.report(digest)
    if stored is None or stored.report is None:
        return None
    try:
        return decode(stored.report)
    except ReportFormatError:
        return None  # written by another version: as good as not scanned
