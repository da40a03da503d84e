"""tx.policies on SQLite and PostgreSQL (see meta/policy_store.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, or_, select

from dockyard.meta import schema as t
from dockyard.meta.policy_store import (
    SYSTEM,
    AllowlistEntry,
    PolicyFinding,
    PolicyRecord,
    ScanFacts,
)
from dockyard.meta.sql_stores import _SubStore

_P = t.project_policies.c
_A = t.vulnerability_allowlist.c
_F = t.scan_findings.c


def _policy(row: Any) -> PolicyRecord:
    keys = json.loads(row.trusted_keys or "[]")
    return PolicyRecord(
        project=row.project,
        scan_on_push=bool(row.scan_on_push),
        require_signature=bool(row.require_signature),
        max_severity=row.max_severity,
        deny_unscanned=bool(row.deny_unscanned),
        trusted_keys=tuple(k for k in keys if isinstance(k, str)),
        updated_at=row.updated_at,
    )


def _entry(row: Any) -> AllowlistEntry:
    return AllowlistEntry(
        row.project, row.advisory_id, row.expires_at, row.reason, row.created_by, row.created_at
    )


def _aliases(text: str | None) -> tuple[str, ...]:
    try:
        found = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple(a for a in found if isinstance(a, str)) if isinstance(found, list) else ()


class SqlPolicies(_SubStore):
    async def get(self, project: str) -> PolicyRecord | None:
        row = await self.conn.execute(select(t.project_policies).where(_P.project == project))
        found = row.first()
        return _policy(found) if found else None

    async def put(self, record: PolicyRecord) -> None:
        values = {
            "scan_on_push": record.scan_on_push,
            "require_signature": record.require_signature,
            "max_severity": record.max_severity,
            "deny_unscanned": record.deny_unscanned,
            "trusted_keys": json.dumps(list(record.trusted_keys)),
            "updated_at": record.updated_at,
        }
        stmt = self._insert(t.project_policies).values(project=record.project, **values)
        await self.conn.execute(
            stmt.on_conflict_do_update(index_elements=[_P.project], set_=values)
        )

    async def allowlist(self, project: str, now: float) -> list[AllowlistEntry]:
        query = (
            select(t.vulnerability_allowlist)
            .where(
                _A.project.in_([project, SYSTEM]),
                or_(_A.expires_at.is_(None), _A.expires_at > now),
            )
            .order_by(_A.project, self._lexical(_A.advisory_id))
        )
        return [_entry(row) for row in await self.conn.execute(query)]

    async def entries(self, project: str) -> list[AllowlistEntry]:
        query = (
            select(t.vulnerability_allowlist)
            .where(_A.project == project)
            .order_by(self._lexical(_A.advisory_id))
        )
        return [_entry(row) for row in await self.conn.execute(query)]

    async def allow(self, entry: AllowlistEntry) -> None:
        values = {
            "expires_at": entry.expires_at,
            "reason": entry.reason,
            "created_by": entry.created_by,
            "created_at": entry.created_at,
        }
        stmt = self._insert(t.vulnerability_allowlist).values(
            project=entry.project, advisory_id=entry.advisory_id, **values
        )
        stmt = stmt.on_conflict_do_update(index_elements=[_A.project, _A.advisory_id], set_=values)
        await self.conn.execute(stmt)

    async def disallow(self, project: str, advisory_id: str) -> bool:
        stmt = delete(t.vulnerability_allowlist).where(
            _A.project == project, _A.advisory_id == advisory_id
        )
        return bool((await self.conn.execute(stmt)).rowcount)

    async def forget_project(self, project: str) -> None:
        await self.conn.execute(
            delete(t.project_policies).where(t.project_policies.c.project == project)
        )
        allowlist = t.vulnerability_allowlist.c
        await self.conn.execute(
            delete(t.vulnerability_allowlist).where(allowlist.project == project)
        )

    async def scan_facts(
        self, repository: str, digests: Sequence[str], min_severity: int
    ) -> dict[str, ScanFacts]:
        wanted = list(dict.fromkeys(digests))
        if not wanted:
            return {}
        reports = select(t.scan_reports.c.digest).where(t.scan_reports.c.digest.in_(wanted))
        scanned = set((await self.conn.execute(reports.distinct())).scalars())
        findings: dict[str, list[PolicyFinding]] = {d: [] for d in wanted}
        for row in await self.conn.execute(self._findings(wanted, min_severity)):
            findings[row.digest].append(
                PolicyFinding(
                    row.advisory_id, row.severity, row.package, row.version, _aliases(row.aliases)
                )
            )
        status_c = t.scan_status.c
        states = {
            row.digest: (row.state, row.error)
            for row in await self.conn.execute(
                select(status_c.digest, status_c.state, status_c.error).where(
                    status_c.repository == repository, status_c.digest.in_(wanted)
                )
            )
        }
        return {
            d: ScanFacts(d, d in scanned, tuple(findings[d]), *states.get(d, (None, None)))
            for d in wanted
        }

    def _findings(self, digests: list[str], min_severity: int) -> Any:
        join = t.scan_findings.outerjoin(t.advisories, t.advisories.c.id == _F.advisory_id)
        return (
            select(_F.digest, _F.advisory_id, _F.severity, _F.package, _F.version)
            .add_columns(t.advisories.c.aliases)
            .select_from(join)
            .where(_F.digest.in_(digests), _F.severity >= min_severity)
            .order_by(
                _F.digest,
                _F.severity.desc(),
                self._lexical(_F.advisory_id),
                self._lexical(_F.package),
                self._lexical(_F.version),
            )
        )
