"""The reports, findings and registry-wide views half of tx.scans.

Reports and findings belong to a digest, not to a repository (meta/scan_store.py); the views
join them to the queue rows only to list artifacts still in the registry and to scope them to
projects. The queue itself lives in meta/sql_scan_queue.py; meta/sql_scans.py composes both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, or_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from dockyard.meta import schema as t
from dockyard.meta.scan_store import (
    SEVERITY_COLUMNS,
    AffectedArtifact,
    Breakdown,
    ExposedArtifact,
    FindingRow,
    ReportRow,
    SeverityCounts,
)
from dockyard.meta.sql_stores import _SubStore

_S = t.scan_status.c
_R = t.scan_reports.c
_F = t.scan_findings.c
_P = t.repositories.c


def _counts(row: Any) -> SeverityCounts:
    return SeverityCounts(*(int(row._mapping[c] or 0) for c in SEVERITY_COLUMNS))


def _report(row: Any, with_blob: bool) -> ReportRow:
    return ReportRow(
        digest=row.digest,
        scanner=row.scanner,
        db_version=row.db_version,
        scanned_at=row.scanned_at,
        packages=row.packages,
        counts=_counts(row),
        report=bytes(row.report) if with_blob else None,
    )


def _finding(row: Any) -> FindingRow:
    return FindingRow(
        advisory_id=row.advisory_id,
        package=row.package,
        version=row.version,
        ecosystem=row.ecosystem,
        severity=row.severity,
        fixed=row.fixed,
        first_seen_at=row.first_seen_at,
    )


def _newest(report: Any) -> ColumnElement[bool]:
    """`report` (an alias of scan_reports) is its digest's newest report over every scanner."""
    newer = t.scan_reports.alias("newer")
    return ~exists().where(
        newer.c.digest == report.c.digest,
        or_(
            newer.c.scanned_at > report.c.scanned_at,
            and_(newer.c.scanned_at == report.c.scanned_at, newer.c.scanner > report.c.scanner),
        ),
    )


def _fits(finding: FindingRow) -> FindingRow:
    """Cut to the columns' widths: names and versions come from files inside images."""
    return FindingRow(
        advisory_id=finding.advisory_id[:100],
        package=finding.package[:300],
        version=finding.version[:255],
        ecosystem=finding.ecosystem[:50],
        severity=finding.severity,
        fixed=finding.fixed[:255] if finding.fixed else None,
    )


class SqlScanReports(_SubStore):
    """Scan reports and findings by digest, and the views over them."""

    async def save_report(
        self, report: ReportRow, findings: Sequence[FindingRow], now: float
    ) -> None:
        # The report row first: a second worker saving the same digest waits on its lock here,
        # so the findings below are never written by two transactions at once.
        values = {
            "db_version": report.db_version,
            "scanned_at": report.scanned_at,
            "packages": report.packages,
            "report": report.report or b"",
            **{c: getattr(report.counts, c) for c in SEVERITY_COLUMNS},
        }
        stmt = self._insert(t.scan_reports).values(
            digest=report.digest, scanner=report.scanner, **values
        )
        await self.conn.execute(
            stmt.on_conflict_do_update(index_elements=[_R.digest, _R.scanner], set_=values)
        )
        name = report.scanner.split("/", 1)[0]
        await self.conn.execute(
            delete(t.scan_reports).where(
                _R.digest == report.digest,
                _R.scanner != report.scanner,
                _R.scanner.startswith(f"{name}/", autoescape=True),
            )
        )
        await self._replace_findings(report.digest, findings, now)

    async def drop_unheld(self, digest: str) -> int:
        held = exists().where(t.manifests.c.digest == digest)
        found = await self.conn.execute(select(held))
        if found.scalar():
            return 0
        await self.conn.execute(delete(t.scan_findings).where(_F.digest == digest))
        gone = await self.conn.execute(delete(t.scan_reports).where(_R.digest == digest))
        return int(gone.rowcount or 0)

    async def _replace_findings(
        self, digest: str, findings: Sequence[FindingRow], now: float
    ) -> None:
        known = select(_F.advisory_id, _F.package, _F.version, _F.first_seen_at).where(
            _F.digest == digest
        )
        seen = {(a, p, v): at for a, p, v, at in await self.conn.execute(known)}
        await self.conn.execute(delete(t.scan_findings).where(_F.digest == digest))
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        for finding in map(_fits, findings):
            key = (finding.advisory_id, finding.package, finding.version)
            if key in rows and rows[key]["severity"] >= finding.severity:
                continue  # one row per key: the same package found at two paths
            rows[key] = {
                "digest": digest,
                "advisory_id": finding.advisory_id,
                "package": finding.package,
                "version": finding.version,
                "ecosystem": finding.ecosystem,
                "severity": finding.severity,
                "fixed": finding.fixed,
                "first_seen_at": seen.get(key, now),
            }
        if rows:
            await self.conn.execute(t.scan_findings.insert(), list(rows.values()))

    async def report(self, digest: str) -> ReportRow | None:
        query = (
            select(t.scan_reports)
            .where(_R.digest == digest)
            .order_by(_R.scanned_at.desc(), _R.scanner.desc())
            .limit(1)
        )
        row = (await self.conn.execute(query)).first()
        return _report(row, with_blob=True) if row else None

    async def summaries(self, digests: Sequence[str]) -> dict[str, ReportRow]:
        if not digests:
            return {}
        columns = [c for c in t.scan_reports.c if c.name != "report"]
        query = select(*columns).where(_R.digest.in_(sorted(set(digests))))
        newest: dict[str, ReportRow] = {}
        for row in await self.conn.execute(query):
            found = _report(row, with_blob=False)
            known = newest.get(found.digest)
            if known is None or (found.scanned_at, found.scanner) > (
                known.scanned_at,
                known.scanner,
            ):
                newest[found.digest] = found
        return newest

    async def findings(self, digest: str) -> list[FindingRow]:
        query = (
            select(t.scan_findings)
            .where(_F.digest == digest)
            .order_by(_F.severity.desc(), _F.package, _F.version, _F.advisory_id)
        )
        return [_finding(row) for row in await self.conn.execute(query)]

    async def stale(
        self, db_version: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[tuple[str, str]]:
        reported = exists().where(_R.digest == _S.digest)
        current = exists().where(_R.digest == _S.digest, _R.db_version == db_version)
        query = (
            select(_S.repository, _S.digest)
            .where(reported, ~current)
            .order_by(_S.repository, _S.digest)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(_S.repository, _S.digest) > tuple_(*after))
        return [(r, d) for r, d in await self.conn.execute(query)]

    # --- registry-wide views ---------------------------------------------------------------

    def _scoped(self, query: Any, projects: Sequence[str] | None) -> Any:
        if projects is None:
            return query
        return query.join(t.repositories, _P.name == _S.repository).where(
            _P.project.in_(sorted(set(projects)))
        )

    async def breakdown(self, projects: Sequence[str] | None) -> Breakdown:
        report = t.scan_reports.alias("report")
        c = report.c
        # An artifact's worst severity is the first column, most severe first, above zero.
        worst = [
            func.sum(case((and_(c[s] > 0, *(c[h] == 0 for h in SEVERITY_COLUMNS[:i])), 1), else_=0))
            for i, s in enumerate(SEVERITY_COLUMNS)
        ]
        clean = func.sum(case((and_(*(c[s] == 0 for s in SEVERITY_COLUMNS)), 1), else_=0))
        query = (
            select(func.count(), *(func.sum(c[s]) for s in SEVERITY_COLUMNS), *worst, clean)
            .select_from(t.scan_status.join(report, report.c.digest == _S.digest))
            .where(_newest(report))
        )
        row = (await self.conn.execute(self._scoped(query, projects))).one()
        numbers = [int(v or 0) for v in row]
        return Breakdown(
            artifacts=numbers[0],
            findings=SeverityCounts(*numbers[1:6]),
            worst=SeverityCounts(*numbers[6:11]),
            clean=numbers[11],
        )

    async def most_exposed(
        self, limit: int, projects: Sequence[str] | None
    ) -> list[ExposedArtifact]:
        report = t.scan_reports.alias("report")
        c = report.c
        query = (
            select(
                _S.repository, _S.digest, c.scanned_at, c.db_version, *map(c.get, SEVERITY_COLUMNS)
            )
            .select_from(t.scan_status.join(report, c.digest == _S.digest))
            .where(_newest(report), or_(*(c[s] > 0 for s in SEVERITY_COLUMNS)))
            .order_by(*(c[s].desc() for s in SEVERITY_COLUMNS), _S.repository, _S.digest)
            .limit(limit)
        )
        return [
            ExposedArtifact(
                row.repository, row.digest, _counts(row), row.scanned_at, row.db_version
            )
            for row in await self.conn.execute(self._scoped(query, projects))
        ]

    async def affected_by(
        self, advisory_ids: Sequence[str], limit: int, projects: Sequence[str] | None = None
    ) -> list[AffectedArtifact]:
        if not advisory_ids:
            return []
        query = self._affected(projects).where(_F.advisory_id.in_(sorted(set(advisory_ids))))
        query = query.order_by(_S.repository, _S.digest, _F.advisory_id, _F.package, _F.version)
        return await self._affected_rows(query.limit(limit))

    async def newly_affected(
        self, since: float, limit: int, projects: Sequence[str] | None = None
    ) -> list[AffectedArtifact]:
        query = self._affected(projects).where(_F.first_seen_at >= since)
        query = query.order_by(_F.first_seen_at, _S.repository, _S.digest, _F.advisory_id)
        return await self._affected_rows(query.limit(limit))

    def _affected(self, projects: Sequence[str] | None) -> Any:
        query = select(
            _S.repository.label("in_repository"), _S.digest.label("in_digest"), t.scan_findings
        )
        query = query.select_from(t.scan_findings.join(t.scan_status, _S.digest == _F.digest))
        return self._scoped(query, projects)

    async def _affected_rows(self, query: Any) -> list[AffectedArtifact]:
        return [
            AffectedArtifact(row.in_repository, row.in_digest, _finding(row))
            for row in await self.conn.execute(query)
        ]
