"""The scan queue, reports and findings (tx.scans): records and the sub-store protocol.

Implemented for SQLite and PostgreSQL in meta/sql_scans.py; every backend passes
testing/metadata_scans_suite.py.

The queue has one row per (repository, image manifest). Reports and findings belong to a
digest, not to a repository: the same image pushed to ten repositories is scanned once per
database version, and every repository holding it reads the same report. Queries that answer
"which images" therefore go from findings or reports to the queue rows by digest, and only
artifacts with a queue row (so: still in the registry) are ever listed.

What a report means (its JSON, severities) is the scanning extension's business; the metadata
layer stores the blob and a few columns it queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

ScanState = Literal["queued", "running", "done", "failed"]
ScanReason = Literal["push", "manual", "rescan"]
STATES: tuple[ScanState, ...] = ("queued", "running", "done", "failed")
REASONS: tuple[ScanReason, ...] = ("push", "manual", "rescan")
# The severity columns of a report, most severe first ("unknown" also counts NONE).
SEVERITY_COLUMNS = ("critical", "high", "medium", "low", "unknown")


@dataclass(frozen=True, slots=True)
class ScanStatus:
    """One artifact's place in the scan queue."""

    repository: str
    digest: str
    state: str  # a ScanState
    reason: str  # a ScanReason
    queued_at: float
    started_at: float | None = None
    finished_at: float | None = None
    progress_done: int = 0  # layers read so far
    progress_total: int = 0  # layers in the image (0 until the scan starts)
    attempts: int = 0  # runs started, this one included
    lease_owner: str | None = None
    lease_until: float | None = None
    error: str | None = None  # the last run's failure (kept while a retry waits)


@dataclass(frozen=True, slots=True)
class SeverityCounts:
    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        return self.critical + self.high + self.medium + self.low + self.unknown


@dataclass(frozen=True, slots=True)
class ReportRow:
    """The newest report of one scanner for one image manifest. `report` is the scanner's
    gzip JSON; summaries leave it out (None)."""

    digest: str
    scanner: str  # "name/version"
    db_version: str
    scanned_at: float
    packages: int
    counts: SeverityCounts
    report: bytes | None = None


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One (advisory, package, version) found in an image; `severity` is the scanner's ordinal
    (higher is worse)."""

    advisory_id: str
    package: str
    version: str
    ecosystem: str
    severity: int
    fixed: str | None = None
    first_seen_at: float = 0.0  # set by the store: when this image first had this finding


@dataclass(frozen=True, slots=True)
class AffectedArtifact:
    """An artifact an advisory affects, with the package it was found in."""

    repository: str
    digest: str
    finding: FindingRow


@dataclass(frozen=True, slots=True)
class ExposedArtifact:
    repository: str
    digest: str
    counts: SeverityCounts
    scanned_at: float
    db_version: str


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Across the newest reports of some artifacts: how many artifacts have a report, their
    findings per severity, and how many artifacts have each severity as their worst finding
    (`clean`: none at all)."""

    artifacts: int
    findings: SeverityCounts
    worst: SeverityCounts
    clean: int


class ScanStore(Protocol):
    # --- the queue ------------------------------------------------------------------------

    async def enqueue(self, repository: str, digest: str, reason: str, now: float) -> bool:
        """Queue the artifact (the manifest must exist): insert a row, or re-queue a done or
        failed one. A queued or running row is left alone. True when this call queued it."""

    async def claim(
        self, owner: str, now: float, lease_until: float, max_attempts: int
    ) -> ScanStatus | None:
        """Take the oldest queued row, or a running one whose lease expired (its worker died),
        as running under `owner`'s lease; several workers never get the same row. A row whose
        lease expired after `max_attempts` runs is failed instead of run again."""

    async def progress(
        self, repository: str, digest: str, owner: str, done: int, total: int, lease_until: float
    ) -> bool:
        """Record progress and extend the lease; False when the owner lost the row."""

    async def finish(
        self,
        repository: str,
        digest: str,
        owner: str,
        now: float,
        error: str | None = None,
        max_attempts: int = 1,
    ) -> str | None:
        """End the owner's run: done, or with an error queued again until `max_attempts` runs
        have failed, then failed. Returns the new state; None when the owner lost the row."""

    async def status(self, repository: str, digests: Sequence[str]) -> dict[str, ScanStatus]: ...

    async def queue_counts(self) -> dict[str, int]:
        """Rows per state (every state present)."""

    # --- reports and findings -------------------------------------------------------------

    async def save_report(
        self, report: ReportRow, findings: Sequence[FindingRow], now: float
    ) -> None:
        """Store the scanner's report of the digest (replacing its previous one, and reports of
        older versions of the same scanner), and make `findings` the digest's findings; a
        finding already known keeps its `first_seen_at`, a new one gets `now`."""

    async def drop_unheld(self, digest: str) -> int:
        """Delete the digest's reports and findings when no repository holds the digest any
        more (called in the transaction that deleted a manifest); returns the reports deleted."""

    async def report(self, digest: str) -> ReportRow | None:
        """The newest report of the digest over every scanner, with its blob."""

    async def summaries(self, digests: Sequence[str]) -> dict[str, ReportRow]:
        """The newest report of each digest, without the blob."""

    async def findings(self, digest: str) -> list[FindingRow]: ...

    async def stale(
        self, db_version: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """(repository, digest) of artifacts with a report but none from `db_version`, in
        (repository, digest) order after `after`: what a database update makes worth
        scanning again."""

    # --- registry-wide views ---------------------------------------------------------------

    async def breakdown(self, projects: Sequence[str] | None) -> Breakdown:
        """Over the artifacts of `projects` (None: every project)."""

    async def most_exposed(
        self, limit: int, projects: Sequence[str] | None
    ) -> list[ExposedArtifact]:
        """Artifacts with the most severe findings first (critical, then high, …)."""

    async def affected_by(
        self, advisory_ids: Sequence[str], limit: int, projects: Sequence[str] | None = None
    ) -> list[AffectedArtifact]:
        """Artifacts with a finding of one of the advisories, by repository and digest."""

    async def newly_affected(
        self, since: float, limit: int, projects: Sequence[str] | None = None
    ) -> list[AffectedArtifact]:
        """Findings first seen at or after `since` (a new advisory, a new image), oldest
        first."""
