"""An artifact's supply-chain facts in one place: its scan (state, progress, severity counts),
its signatures and its pull-policy verdict; the same for a page of artifacts (scan only) and
for the registry as a whole (the vulnerability breakdown, the most exposed images, the images
findings appeared in since the latest database import).

The scanning extension offers this to the dashboard (`ExtensionContext.offered`, under
`OFFER`) and serves `GET …/artifacts/{reference}/security` from it. Results are typed
dataclasses; access goes through the same checks as the rest of the scanning API
(`ScanQueries.artifact`, `ScanQueries.scope`, `PolicyService`): hidden is 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.auth.actions import Action
from dockyard.auth.principal import Principal
from dockyard.errors import Problem
from dockyard.ext.scanning.policies.rules import RuleResult
from dockyard.ext.scanning.policies.service import PolicyService
from dockyard.ext.scanning.queries import ScanQueries
from dockyard.ext.scanning.service import ScanService
from dockyard.ext.scanning.severity import Severity
from dockyard.ext.scanning.signatures import SignatureStatus
from dockyard.meta.base import MetadataStore, Transaction
from dockyard.meta.records import ManifestRecord
from dockyard.meta.scan_store import (
    AffectedArtifact,
    FindingRow,
    ReportRow,
    ScanStatus,
    SeverityCounts,
)
from dockyard.registry import artifact_views as views

OFFER = "scanning.security"  # the name the dashboard looks this up by
NEW_FINDINGS = 500  # newly seen findings read for the overview, grouped into images


def severity_name(ordinal: int) -> str:
    return Severity(ordinal).name if 0 <= ordinal <= 5 else "UNKNOWN"


@dataclass(frozen=True, slots=True)
class ImageScan:
    """One image's place in the scan queue and its newest report (either may be missing)."""

    digest: str
    platform: str | None = None  # for an index's images
    state: str | None = None  # queued, running, done, failed; None: never queued
    progress_done: int = 0  # layers read so far by a running scan
    progress_total: int = 0
    queued_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    counts: SeverityCounts | None = None  # None: no report yet
    scanner: str | None = None
    db_version: str | None = None
    scanned_at: float | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    advisory_id: str
    package: str
    version: str
    ecosystem: str
    severity: str
    fixed: str | None


@dataclass(frozen=True, slots=True)
class SignatureLine:
    kind: str
    via: str  # tag or referrer
    reference: str
    verified: bool
    outcome: str  # valid, unknown-key, … ("unverified" for kinds Dockyard cannot verify)
    key_fingerprint: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class SignatureFacts:
    state: str  # signed, invalid, unsigned
    summary: str
    signatures: tuple[SignatureLine, ...]
    notation_present: bool


@dataclass(frozen=True, slots=True)
class PolicyFacts:
    enforced: bool  # the project has a policy with at least one rule
    allowed: bool
    message: str | None  # the refusal as clients print it
    exempt: str | None  # why no rule applies to this manifest
    rules: tuple[RuleResult, ...]


@dataclass(frozen=True, slots=True)
class ArtifactSecurity:
    repository: str
    digest: str
    scannable: bool  # an image, or an index with images; not a signature or an SBOM
    scans: tuple[ImageScan, ...]  # the image itself, or an index's images
    findings: tuple[Finding, ...]  # of an image, most severe first, at most as many as asked
    signatures: SignatureFacts
    policy: PolicyFacts
    may_scan: bool  # the viewer may request a scan (push access)


@dataclass(frozen=True, slots=True)
class ExposedImage:
    repository: str
    digest: str
    counts: SeverityCounts
    scanned_at: float


@dataclass(frozen=True, slots=True)
class AffectedImage:
    """An image with findings first seen since the latest database import."""

    repository: str
    digest: str
    advisories: tuple[str, ...]
    worst: str
    first_seen_at: float


@dataclass(frozen=True, slots=True)
class RegistrySecurity:
    scope: str  # registry (a system administrator) or visible
    artifacts: int  # with a report
    findings: SeverityCounts  # every finding, per severity
    worst: SeverityCounts  # images per most severe finding
    clean: int  # images without findings
    most_exposed: tuple[ExposedImage, ...]
    db_version: str | None
    imported_at: float | None
    newly_affected: tuple[AffectedImage, ...]


def image_scan(
    digest: str,
    status: ScanStatus | None,
    report: ReportRow | None,
    platform: str | None = None,
) -> ImageScan:
    queue = (
        {}
        if status is None
        else {
            "state": status.state,
            "progress_done": status.progress_done,
            "progress_total": status.progress_total,
            "queued_at": status.queued_at,
            "finished_at": status.finished_at,
            "error": status.error,
        }
    )
    found = (
        {}
        if report is None
        else {
            "counts": report.counts,
            "scanner": report.scanner,
            "db_version": report.db_version,
            "scanned_at": report.scanned_at,
        }
    )
    return ImageScan(digest, platform, **queue, **found)


def finding(row: FindingRow) -> Finding:
    return Finding(
        row.advisory_id,
        row.package,
        row.version,
        row.ecosystem,
        severity_name(row.severity),
        row.fixed,
    )


class SecurityFacts:
    def __init__(
        self,
        store: MetadataStore,
        queries: ScanQueries,
        service: ScanService,
        policies: PolicyService,
    ) -> None:
        self._store = store
        self._queries = queries
        self._service = service
        self._policies = policies

    async def artifact(
        self, principal: Principal, repository: str, reference: str, findings: int = 0
    ) -> ArtifactSecurity:
        """Everything about one artifact; `findings`: how many of an image's to list."""
        record = (await self._queries.artifact(principal, repository, reference)).record
        async with self._store.transaction(readonly=True) as tx:
            images = await self._scannable(tx, record)
            scans = await self._scans(tx, record, images or [])
            rows = await tx.scans.findings(record.digest) if findings and images else []
        rows.sort(key=lambda r: (-r.severity, r.package, r.advisory_id))
        signatures = await self._policies.signatures(principal, repository, record.digest)
        verdict, policy = await self._policies.check(principal, repository, record.digest)
        visible = self._queries.visibility(principal)
        return ArtifactSecurity(
            repository,
            record.digest,
            images is not None,
            scans,
            tuple(finding(r) for r in rows[:findings]),
            _signatures(signatures.status),
            PolicyFacts(
                policy is not None and policy.enforces,
                verdict.allowed,
                verdict.message,
                verdict.exempt,
                verdict.results,
            ),
            images is not None and await visible.may(Action.PUSH, repository),
        )

    async def _scannable(
        self, tx: Transaction, record: ManifestRecord
    ) -> list[ManifestRecord] | None:
        try:
            return await self._service.images_of(tx, record)
        except Problem:
            return None  # a signature, an SBOM, …: nothing to scan

    async def _scans(
        self, tx: Transaction, record: ManifestRecord, images: Sequence[ManifestRecord]
    ) -> tuple[ImageScan, ...]:
        digests = [i.digest for i in images]
        statuses = await tx.scans.status(record.repository, digests)
        reports = await tx.scans.summaries(digests)
        platforms: dict[str, str | None] = {}
        if views.kind_of(record) == "index":
            for d in views.descriptors(views.document(record), "manifests"):
                platform = views.platform(d.get("platform"))
                platforms[str(d.get("digest"))] = str(platform) if platform else None
        return tuple(
            image_scan(d, statuses.get(d), reports.get(d), platforms.get(d)) for d in digests
        )

    async def request_scan(self, principal: Principal, repository: str, reference: str) -> int:
        """Queue a scan of the artifact's images (push access); how many were queued."""
        requested = await self._queries.request(principal, repository, reference)
        return len(requested["scans"])

    async def rows(
        self, principal: Principal, repository: str, digests: Sequence[str]
    ) -> dict[str, ImageScan]:
        """The scans of a page of a repository's artifacts, by digest (absent: none)."""
        await self._queries.visibility(principal).require_pull(repository)
        async with self._store.transaction(readonly=True) as tx:
            statuses = await tx.scans.status(repository, digests)
            reports = await tx.scans.summaries(digests)
        return {
            d: image_scan(d, statuses.get(d), reports.get(d))
            for d in digests
            if d in statuses or d in reports
        }

    async def registry(self, principal: Principal, top: int) -> RegistrySecurity:
        """The registry-wide view, over what the principal may pull (as the summary API)."""
        projects = await self._queries.scope(principal)
        async with self._store.transaction(readonly=True) as tx:
            breakdown = await tx.scans.breakdown(projects)
            exposed = await tx.scans.most_exposed(top, projects)
            history = await tx.advisories.history(1)
            since = history[0].imported_at if history else None
            new = (
                []
                if since is None
                else await tx.scans.newly_affected(since, NEW_FINDINGS, projects)
            )
        return RegistrySecurity(
            "registry" if projects is None else "visible",
            breakdown.artifacts,
            breakdown.findings,
            breakdown.worst,
            breakdown.clean,
            tuple(ExposedImage(e.repository, e.digest, e.counts, e.scanned_at) for e in exposed),
            history[0].db_version if history else None,
            since,
            _affected_images(new, top),
        )


def _signatures(status: SignatureStatus) -> SignatureFacts:
    lines = [
        SignatureLine(
            c.source.kind.value,
            c.source.via,
            c.source.reference,
            c.verification.valid,
            c.verification.outcome.value,
            c.verification.key_fingerprint,
            c.verification.reason,
        )
        for c in status.checks
    ]
    lines += [
        SignatureLine(
            a.kind.value,
            a.via,
            a.reference,
            False,
            "unverified",
            None,
            "Dockyard cannot verify this kind",
        )
        for a in status.unverified
    ]
    return SignatureFacts(status.state.value, status.summary, tuple(lines), status.notation_present)


def _affected_images(rows: Sequence[AffectedArtifact], top: int) -> tuple[AffectedImage, ...]:
    """Findings (oldest first) grouped into images, the most recently hit image first."""
    grouped: dict[tuple[str, str], list[FindingRow]] = {}
    for row in rows:
        grouped.setdefault((row.repository, row.digest), []).append(row.finding)
    images = [
        AffectedImage(
            repository,
            digest,
            tuple(dict.fromkeys(f.advisory_id for f in found)),
            severity_name(max(f.severity for f in found)),
            max(f.first_seen_at for f in found),
        )
        for (repository, digest), found in grouped.items()
    ]
    images.sort(key=lambda i: -i.first_seen_at)
    return tuple(images[:top])
