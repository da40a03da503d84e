"""Usage counters: pushes in the push's transaction, pulls in batches flushed from memory.

Every write is an increment (`pulls = pulls + n`) or a keep-the-latest, so replicas flushing
at the same time add up instead of overwriting each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, case, delete, update

from dockyard.meta import schema as t
from dockyard.meta.records import PullCount
from dockyard.meta.sql_stores import _SubStore


def _latest(column: Any, value: Any) -> Any:
    return case((column.is_(None), value), (column < value, value), else_=column)


class SqlUsage(_SubStore):
    async def add_push(self, repository: str, day: int, at: float) -> None:
        stmt = self._insert(t.daily_usage).values(repository=repository, day=day, pulls=0, pushes=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.daily_usage.c.repository, t.daily_usage.c.day],
            set_={"pushes": t.daily_usage.c.pushes + 1},
        )
        await self.conn.execute(stmt)
        repos = t.repositories.c
        await self.conn.execute(
            update(t.repositories)
            .where(repos.name == repository)
            .values(pushes=repos.pushes + 1, last_pushed_at=_latest(repos.last_pushed_at, at))
        )

    async def add_pulls(self, counts: Sequence[PullCount]) -> None:
        if not counts:
            return
        await self._manifest_pulls(counts)
        await self._daily_pulls(counts)
        await self._repository_pulls(counts)

    async def _manifest_pulls(self, counts: Sequence[PullCount]) -> None:
        merged: dict[tuple[str, str], list[Any]] = {}
        for c in counts:
            entry = merged.setdefault((c.repository, c.digest), [0, 0.0])
            entry[0] += c.pulls
            entry[1] = max(entry[1], c.last_pulled_at)
        stmt = self._insert(t.manifest_pulls)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.manifest_pulls.c.repository, t.manifest_pulls.c.digest],
            set_={
                "pulls": t.manifest_pulls.c.pulls + stmt.excluded.pulls,
                "last_pulled_at": _latest(
                    t.manifest_pulls.c.last_pulled_at, stmt.excluded.last_pulled_at
                ),
            },
        )
        rows = [
            {"repository": r, "digest": d, "pulls": n, "last_pulled_at": at}
            for (r, d), (n, at) in sorted(merged.items())  # one lock order for every replica
        ]
        await self.conn.execute(stmt, rows)

    async def _daily_pulls(self, counts: Sequence[PullCount]) -> None:
        merged: dict[tuple[str, int], int] = defaultdict(int)
        for c in counts:
            merged[(c.repository, c.day)] += c.pulls
        stmt = self._insert(t.daily_usage)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.daily_usage.c.repository, t.daily_usage.c.day],
            set_={"pulls": t.daily_usage.c.pulls + stmt.excluded.pulls},
        )
        rows = [
            {"repository": r, "day": day, "pulls": n, "pushes": 0}
            for (r, day), n in sorted(merged.items())
        ]
        await self.conn.execute(stmt, rows)

    async def _repository_pulls(self, counts: Sequence[PullCount]) -> None:
        merged: dict[str, list[Any]] = {}
        for c in counts:
            entry = merged.setdefault(c.repository, [0, 0.0])
            entry[0] += c.pulls
            entry[1] = max(entry[1], c.last_pulled_at)
        repos = t.repositories.c
        stmt = (
            update(t.repositories)
            .where(repos.name == bindparam("r_name"))
            .values(
                pulls=repos.pulls + bindparam("r_pulls"),
                last_pulled_at=_latest(repos.last_pulled_at, bindparam("r_at")),
            )
        )
        rows = [{"r_name": r, "r_pulls": n, "r_at": at} for r, (n, at) in sorted(merged.items())]
        await self.conn.execute(stmt, rows)

    async def forget_manifests(self, repository: str, digests: Sequence[str]) -> None:
        if digests:
            await self.conn.execute(
                delete(t.manifest_pulls).where(
                    t.manifest_pulls.c.repository == repository,
                    t.manifest_pulls.c.digest.in_(list(digests)),
                )
            )
