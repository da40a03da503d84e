"""The scan queue half of tx.scans: enqueue, claim under a lease, progress, finish.

Kept apart from the reports and findings (meta/sql_scan_reports.py) because the queue is about
which worker holds which artifact and when, while reports are about what a scan found; the two
share no helpers and are composed into one `tx.scans` in meta/sql_scans.py.

Workers on several replicas claim queue rows with `SELECT … FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite has one writer at a time, so a plain select-then-update is already atomic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from dockyard.meta import schema as t
from dockyard.meta.scan_store import STATES, ScanStatus
from dockyard.meta.sql_stores import _SubStore

_S = t.scan_status.c
_REQUEUE = ("done", "failed")
_CLAIM_TRIES = 5  # expired rows failed (out of attempts) before giving up on this claim


def _status(row: Any) -> ScanStatus:
    return ScanStatus(**{k: row._mapping[k] for k in ScanStatus.__dataclass_fields__})


class SqlScanQueue(_SubStore):
    """The queue rows of tx.scans: one per (repository, image manifest)."""

    async def enqueue(self, repository: str, digest: str, reason: str, now: float) -> bool:
        fresh = {
            "state": "queued",
            "reason": reason,
            "queued_at": now,
            "started_at": None,
            "finished_at": None,
            "progress_done": 0,
            "progress_total": 0,
            "attempts": 0,
            "lease_owner": None,
            "lease_until": None,
            "error": None,
        }
        stmt = self._insert(t.scan_status).values(repository=repository, digest=digest, **fresh)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_S.repository, _S.digest],
            set_=fresh,
            where=t.scan_status.c.state.in_(_REQUEUE),
        )
        return bool((await self.conn.execute(stmt)).rowcount)

    async def claim(
        self, owner: str, now: float, lease_until: float, max_attempts: int
    ) -> ScanStatus | None:
        for _ in range(_CLAIM_TRIES):
            row = await self._candidate(and_(_S.state == "running", _S.lease_until < now))
            if row is not None and row.attempts >= max_attempts:
                await self._give_up(row.repository, row.digest, now, row.attempts)
                continue
            if row is None:
                row = await self._candidate(_S.state == "queued")
            if row is None:
                return None
            return await self._take(row, owner, now, lease_until)
        return None

    async def _candidate(self, where: ColumnElement[bool]) -> Any:
        query = (
            select(_S.repository, _S.digest, _S.state, _S.attempts)
            .where(where)
            .order_by(_S.queued_at, _S.repository, _S.digest)
            .limit(1)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return (await self.conn.execute(query)).first()

    async def _give_up(self, repository: str, digest: str, now: float, attempts: int) -> None:
        error = (
            f"the scan did not finish within its lease {attempts} time(s): its worker stopped "
            "or the image takes longer than lease_seconds to scan"
        )
        await self.conn.execute(
            update(t.scan_status)
            .where(_S.repository == repository, _S.digest == digest)
            .values(
                state="failed", finished_at=now, lease_owner=None, lease_until=None, error=error
            )
        )

    async def _take(self, row: Any, owner: str, now: float, lease_until: float) -> ScanStatus:
        key = and_(_S.repository == row.repository, _S.digest == row.digest)
        await self.conn.execute(
            update(t.scan_status)
            .where(key, _S.state == row.state)
            .values(
                state="running",
                lease_owner=owner,
                lease_until=lease_until,
                started_at=now,
                finished_at=None,
                attempts=_S.attempts + 1,
                progress_done=0,
                progress_total=0,
            )
        )
        return _status((await self.conn.execute(select(t.scan_status).where(key))).one())

    async def progress(
        self, repository: str, digest: str, owner: str, done: int, total: int, lease_until: float
    ) -> bool:
        result = await self.conn.execute(
            update(t.scan_status)
            .where(self._owned(repository, digest, owner))
            .values(progress_done=done, progress_total=total, lease_until=lease_until)
        )
        return bool(result.rowcount)

    def _owned(self, repository: str, digest: str, owner: str) -> ColumnElement[bool]:
        return and_(
            _S.repository == repository,
            _S.digest == digest,
            _S.state == "running",
            _S.lease_owner == owner,
        )

    async def finish(
        self,
        repository: str,
        digest: str,
        owner: str,
        now: float,
        error: str | None = None,
        max_attempts: int = 1,
    ) -> str | None:
        where = self._owned(repository, digest, owner)
        row = (await self.conn.execute(select(_S.attempts).where(where))).first()
        if row is None:
            return None
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "error": error}
        if error is None:
            state = "done"
            values.update(finished_at=now, progress_done=_S.progress_total)
        elif row.attempts < max_attempts:
            state = "queued"  # behind what is already waiting, so one bad image cannot hog
            values.update(queued_at=now)
        else:
            state = "failed"
            values.update(finished_at=now)
        await self.conn.execute(update(t.scan_status).where(where).values(state=state, **values))
        return state

    async def status(self, repository: str, digests: Sequence[str]) -> dict[str, ScanStatus]:
        if not digests:
            return {}
        query = select(t.scan_status).where(
            _S.repository == repository, _S.digest.in_(sorted(set(digests)))
        )
        return {row.digest: _status(row) for row in await self.conn.execute(query)}

    async def queue_counts(self) -> dict[str, int]:
        query = select(_S.state, func.count()).group_by(_S.state)
        found = {state: int(n) for state, n in await self.conn.execute(query)}
        return {state: found.get(state, 0) for state in STATES}
