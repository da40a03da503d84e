"""The offline vulnerability database: advisories, where they are found, and import versions.

An import writes thousands of rows; they go in as executemany batches inside the caller's one
transaction, so readers see either the old advisories of an ecosystem or the new ones.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, delete, func, or_, select, text

from dockyard.meta import schema as t
from dockyard.meta.advisory_records import AdvisoryRecord, FeedContent, VulnDbVersion
from dockyard.meta.sql_stores import _SubStore

_A = t.advisories.c
_P = t.advisory_packages.c
_I = t.vulndb_imports.c
BATCH = 500  # rows per statement: below SQLite's bound-parameter limit at two columns a row
_IMPORT_LOCK = 4242006  # PostgreSQL advisory lock id: imports take turns reading the state

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def db_version(state: Mapping[str, str]) -> str:
    """The database version for a {feed: content hash} state: independent of import order."""
    canonical = json.dumps(dict(sorted(state.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _advisory_row(record: AdvisoryRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "feed": record.feed,
        "modified": record.modified,
        "published": record.published,
        "withdrawn": record.withdrawn,
        "summary": record.summary or None,
        "severity": record.severity,
        "score": record.score,
        "aliases": json.dumps(list(record.aliases), separators=(",", ":")),
        "body": json.dumps(record.body, separators=(",", ":"), ensure_ascii=False),
    }


def _record(row: Any) -> AdvisoryRecord:
    return AdvisoryRecord(
        id=row.id,
        feed=row.feed,
        modified=row.modified,
        body=json.loads(row.body),
        published=row.published,
        withdrawn=row.withdrawn,
        summary=row.summary or "",
        severity=row.severity,
        score=row.score,
        aliases=tuple(json.loads(row.aliases)),
    )


def _version(row: Any) -> VulnDbVersion:
    feeds = {
        name: FeedContent(f["advisories"], f["withdrawn"], f["hash"])
        for name, f in json.loads(row.feeds).items()
    }
    return VulnDbVersion(
        id=row.id,
        imported_at=row.imported_at,
        source=row.source,
        feeds=feeds,
        db_version=row.db_version,
        state=json.loads(row.state),
    )


class SqlAdvisories(_SubStore):
    async def replace(
        self,
        feeds: Mapping[str, FeedContent],
        advisories: Sequence[AdvisoryRecord],
        source: str,
        imported_at: float,
    ) -> VulnDbVersion:
        if self.dialect == "postgresql":
            await self.conn.execute(text(f"SELECT pg_advisory_xact_lock({_IMPORT_LOCK})"))
        previous = await self.current()
        await self._delete(list(feeds), [a.id for a in advisories])
        rows = [_advisory_row(a) for a in advisories]
        for chunk in _chunks(rows):
            await self.conn.execute(t.advisories.insert(), list(chunk))
        packages = [
            {"ecosystem": ecosystem, "name": name, "advisory_id": a.id}
            for a in advisories
            for ecosystem, name in dict.fromkeys(a.packages)
        ]
        for chunk in _chunks(packages):
            await self.conn.execute(t.advisory_packages.insert(), list(chunk))
        return await self._record_import(previous, feeds, source, imported_at)

    async def _delete(self, feeds: list[str], ids: list[str]) -> None:
        # Rows of the feeds being replaced, and rows another feed wrote for an advisory this
        # import brings again (one GHSA advisory can name packages of two ecosystems).
        # Their package rows go with them (ON DELETE CASCADE).
        if feeds:
            await self.conn.execute(delete(t.advisories).where(_A.feed.in_(feeds)))
        for chunk in _chunks(ids):
            await self.conn.execute(delete(t.advisories).where(_A.id.in_(list(chunk))))

    async def _record_import(
        self,
        previous: VulnDbVersion | None,
        feeds: Mapping[str, FeedContent],
        source: str,
        imported_at: float,
    ) -> VulnDbVersion:
        state = dict(previous.state) if previous else {}
        state.update({name: content.content_hash for name, content in feeds.items()})
        feeds_json = {
            name: {"advisories": c.advisories, "withdrawn": c.withdrawn, "hash": c.content_hash}
            for name, c in sorted(feeds.items())
        }
        version = db_version(state)
        result = await self.conn.execute(
            t.vulndb_imports.insert().values(
                imported_at=imported_at,
                source=source,
                feeds=json.dumps(feeds_json, separators=(",", ":")),
                state=json.dumps(dict(sorted(state.items())), separators=(",", ":")),
                db_version=version,
            )
        )
        return VulnDbVersion(
            id=int(result.inserted_primary_key[0]),
            imported_at=imported_at,
            source=source,
            feeds=dict(feeds),
            db_version=version,
            state=state,
        )

    async def lookup(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[AdvisoryRecord]]:
        names: dict[str, set[str]] = defaultdict(set)
        for ecosystem, name in keys:
            names[ecosystem].add(name)
        if not names:
            return {}
        where = or_(*(and_(_P.ecosystem == e, _P.name.in_(sorted(n))) for e, n in names.items()))
        query = (
            select(_P.ecosystem.label("p_ecosystem"), _P.name.label("p_name"), t.advisories)
            .select_from(t.advisory_packages.join(t.advisories, _A.id == _P.advisory_id))
            .where(where)
            .order_by(_P.ecosystem, _P.name, _A.id)
        )
        found: dict[tuple[str, str], list[AdvisoryRecord]] = {}
        parsed: dict[str, AdvisoryRecord] = {}  # an advisory under two names is parsed once
        for row in await self.conn.execute(query):
            record = parsed.get(row.id)
            if record is None:
                record = parsed[row.id] = _record(row)
            found.setdefault((row.p_ecosystem, row.p_name), []).append(record)
        return found

    async def get(self, advisory_id: str) -> AdvisoryRecord | None:
        row = (await self.conn.execute(select(t.advisories).where(_A.id == advisory_id))).first()
        return _record(row) if row else None

    async def current(self) -> VulnDbVersion | None:
        query = select(t.vulndb_imports).order_by(_I.id.desc()).limit(1)
        row = (await self.conn.execute(query)).first()
        return _version(row) if row else None

    async def history(self, limit: int) -> list[VulnDbVersion]:
        query = select(t.vulndb_imports).order_by(_I.id.desc()).limit(limit)
        return [_version(row) for row in await self.conn.execute(query)]

    async def counts(self) -> dict[str, int]:
        """Advisories stored per feed, withdrawn ones included."""
        query = select(_A.feed, func.count()).group_by(_A.feed).order_by(_A.feed)
        return {feed: int(n) for feed, n in await self.conn.execute(query)}
