"""Project supply-chain policies and vulnerability allow-lists (tx.policies): records and the
sub-store protocol.

Implemented for SQLite and PostgreSQL in meta/sql_policies.py; every backend passes
testing/metadata_policies_suite.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

SYSTEM = ""  # the allow-list scope that applies to every project


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    project: str
    scan_on_push: bool = True
    require_signature: bool = False  # by one of `trusted_keys`
    max_severity: str | None = None  # "HIGH": refuse pulls with a finding at or above; None: off
    deny_unscanned: bool = False
    trusted_keys: tuple[str, ...] = ()  # PEM public keys
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class AllowlistEntry:
    """An advisory a project (or, with project SYSTEM, every project) accepts until it
    expires; `advisory_id` may also be one of an advisory's aliases (a CVE id)."""

    project: str
    advisory_id: str
    expires_at: float | None = None  # None: never
    reason: str | None = None
    created_by: str | None = None
    created_at: float = 0.0

    def active(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class PolicyFinding:
    """One finding of a scan report, as the pull policy weighs it."""

    advisory_id: str
    severity: int  # dockyard.ext.scanning.severity.Severity's value: 5 critical … 0 unknown
    package: str
    version: str
    aliases: tuple[str, ...] = ()  # the advisory's aliases (CVE-…), when the database has it


@dataclass(frozen=True, slots=True)
class ScanFacts:
    """What the scan tables say about one image manifest."""

    digest: str
    scanned: bool  # a report exists (from any scanner)
    findings: tuple[PolicyFinding, ...] = ()  # at or above the severity asked for
    state: str | None = None  # the repository's scan status: queued, running, done, failed
    error: str | None = None  # why the last scan failed


class PolicyStore(Protocol):
    async def get(self, project: str) -> PolicyRecord | None: ...
    async def put(self, record: PolicyRecord) -> None:
        """Insert or replace the project's policy (the project must exist)."""

    async def allowlist(self, project: str, now: float) -> list[AllowlistEntry]:
        """The entries of `project` and the system-wide ones that have not expired at `now`,
        ordered by (project, advisory_id)."""

    async def entries(self, project: str) -> list[AllowlistEntry]:
        """Every entry of exactly this scope (SYSTEM for the system-wide list), expired ones
        included, ordered by advisory_id."""

    async def allow(self, entry: AllowlistEntry) -> None:
        """Insert or replace the entry for (project, advisory_id)."""

    async def disallow(self, project: str, advisory_id: str) -> bool: ...

    async def forget_project(self, project: str) -> None:
        """Delete the project's policy and allow-list (with the project itself), so that a
        project created later under the same name starts without them."""

    async def scan_facts(
        self, repository: str, digests: Sequence[str], min_severity: int
    ) -> dict[str, ScanFacts]:
        """For each digest: whether a scan report exists, its findings with a severity of at
        least `min_severity` (ordered by severity, highest first, then advisory), and the scan
        status of the digest in `repository`. Read-only; every digest asked for is answered."""
