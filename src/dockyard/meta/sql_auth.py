"""Audit log, failed-login counters, signing keys and sessions, in SQL."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.engine import Row

from dockyard.meta import schema as t
from dockyard.meta.auth_records import (
    AuditQuery,
    AuditRecord,
    LoginFailures,
    SigningKeyRecord,
)
from dockyard.meta.sql_stores import _SubStore


def _clip(column: Any, value: str | None) -> str | None:
    """A string cut to its column's width: PostgreSQL refuses a longer one where SQLite keeps
    it, and what an audit entry or a throttle key says comes partly from clients."""
    width = column.type.length
    return value[:width] if value is not None and len(value) > width else value


class SqlAudit(_SubStore):
    async def add(self, record: AuditRecord) -> None:
        c = t.audit_log.c
        await self.conn.execute(
            t.audit_log.insert().values(
                at=record.at,
                actor=_clip(c.actor, record.actor),
                actor_kind=_clip(c.actor_kind, record.actor_kind),
                address=_clip(c.address, record.address),
                action=_clip(c.action, record.action),
                target=_clip(c.target, record.target),
                outcome=_clip(c.outcome, record.outcome),
                detail=json.dumps(record.detail) if record.detail is not None else None,
            )
        )

    async def query(self, query: AuditQuery) -> list[AuditRecord]:
        c = t.audit_log.c
        stmt = select(t.audit_log).order_by(c.id.desc()).limit(query.limit)
        if query.actor:
            stmt = stmt.where(c.actor == query.actor)
        if query.action and query.action.endswith("."):
            stmt = stmt.where(c.action.startswith(query.action, autoescape=True))
        elif query.action:
            stmt = stmt.where(c.action == query.action)
        if query.target_prefix:
            stmt = stmt.where(c.target.startswith(query.target_prefix, autoescape=True))
        if query.outcome:
            stmt = stmt.where(c.outcome == query.outcome)
        if query.since is not None:
            stmt = stmt.where(c.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(c.at < query.until)
        if query.before_id is not None:
            stmt = stmt.where(c.id < query.before_id)
        return [_audit(row) for row in await self.conn.execute(stmt)]


def _audit(row: Row[Any]) -> AuditRecord:
    values = row._asdict()
    values["detail"] = json.loads(values["detail"]) if values["detail"] is not None else None
    return AuditRecord(**values)


def _throttle_key(key: str) -> str:
    """The key as stored: one longer than the column (a client's made-up user name) keeps a
    prefix and a hash of the whole, so that it still counts on its own."""
    width = t.login_failures.c.key.type.length
    if len(key) <= width:
        return key
    return f"{key[: width - 65]}#{hashlib.sha256(key.encode()).hexdigest()}"


class SqlThrottle(_SubStore):
    async def get(self, key: str) -> LoginFailures | None:
        c = t.login_failures.c
        query = select(c.failures, c.window_start, c.locked_until).where(
            c.key == _throttle_key(key)
        )
        row = (await self.conn.execute(query)).first()
        return LoginFailures(key, **row._asdict()) if row else None

    async def put(self, record: LoginFailures) -> None:
        values = {
            "failures": record.failures,
            "window_start": record.window_start,
            "locked_until": record.locked_until,
        }
        stmt = self._insert(t.login_failures).values(key=_throttle_key(record.key), **values)
        await self.conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=values))

    async def clear(self, key: str) -> None:
        stmt = delete(t.login_failures).where(t.login_failures.c.key == _throttle_key(key))
        await self.conn.execute(stmt)

    async def record_failure(
        self, key: str, now: float, window: float, limit: int, lockout: float
    ) -> LoginFailures:
        """Count one failure in a single statement: concurrent failures on many replicas must
        all count (a read-modify-write would let them overwrite each other)."""
        c = t.login_failures.c
        expired = c.window_start < now - window
        failures = case((expired, 1), else_=c.failures + 1)
        stmt = self._insert(t.login_failures).values(
            key=_throttle_key(key),
            failures=1,
            window_start=now,
            locked_until=now + lockout if limit <= 1 else None,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": failures,
                "window_start": case((expired, now), else_=c.window_start),
                "locked_until": case((failures >= limit, now + lockout), else_=c.locked_until),
            },
        ).returning(c.failures, c.window_start, c.locked_until)
        row = (await self.conn.execute(stmt)).one()
        return LoginFailures(key, **row._asdict())


class SqlKeys(_SubStore):
    async def add(self, key: SigningKeyRecord) -> bool:
        stmt = self._insert(t.signing_keys).values(
            kid=key.kid,
            kind=key.kind,
            material=key.material,
            created_at=key.created_at,
            retired_at=key.retired_at,
        )
        return (await self.conn.execute(stmt.on_conflict_do_nothing())).rowcount > 0

    async def keys(self, kind: str) -> list[SigningKeyRecord]:
        c = t.signing_keys.c
        stmt = select(t.signing_keys).where(c.kind == kind).order_by(c.created_at.desc(), c.kid)
        return [SigningKeyRecord(**row._asdict()) for row in await self.conn.execute(stmt)]

    async def retire(self, kind: str, before: float, at: float) -> int:
        c = t.signing_keys.c
        stmt = update(t.signing_keys).where(
            c.kind == kind, c.created_at < before, c.retired_at.is_(None)
        )
        return (await self.conn.execute(stmt.values(retired_at=at))).rowcount

    async def prune(self, kind: str, retired_before: float) -> int:
        c = t.signing_keys.c
        stmt = delete(t.signing_keys).where(c.kind == kind, c.retired_at < retired_before)
        return (await self.conn.execute(stmt)).rowcount


class SqlSessions(_SubStore):
    async def add(self, session_id: str, username: str, stamp: str, expires_at: float) -> None:
        await self.conn.execute(
            t.sessions.insert().values(
                id=session_id,
                username=username,
                stamp=stamp,
                created_at=time.time(),
                expires_at=expires_at,
            )
        )

    async def get(self, session_id: str) -> tuple[str, str, float] | None:
        c = t.sessions.c
        row = (
            await self.conn.execute(
                select(c.username, c.stamp, c.expires_at).where(c.id == session_id)
            )
        ).first()
        return (row.username, row.stamp, row.expires_at) if row else None

    async def delete(self, session_id: str) -> bool:
        stmt = delete(t.sessions).where(t.sessions.c.id == session_id)
        return (await self.conn.execute(stmt)).rowcount > 0

    async def delete_expired(self, now: float) -> int:
        stmt = delete(t.sessions).where(t.sessions.c.expires_at <= now)
        return (await self.conn.execute(stmt)).rowcount
