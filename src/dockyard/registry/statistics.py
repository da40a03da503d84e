"""Registry statistics: storage and what deduplication saves, counts, pulls and pushes per day,
the most pulled repositories and recent activity.

System admins see the whole registry; anyone else the projects whose every repository they may
pull (public projects, project-wide grants), so nothing they could not list leaks in a number.
"""

from __future__ import annotations

import datetime
import time

from dockyard.meta.auth_records import AuditQuery, AuditRecord
from dockyard.meta.base import MetadataStore
from dockyard.meta.records import Totals
from dockyard.registry.inventory_models import Activity, DayUsage, RepositoryPulls, Statistics
from dockyard.registry.usage import DAY, day_of
from dockyard.registry.visibility import Visibility

MAX_PROJECTS = 10_000  # a non-admin's statistics cover at most this many projects
AUDITED_PROJECTS = 20  # recent activity of at most this many projects, for non-admins


class StatisticsReader:
    def __init__(self, store: MetadataStore, totals_seconds: float) -> None:
        self._store = store
        self._totals_seconds = totals_seconds
        self._cached: tuple[float, Totals, int] | None = None

    async def read(self, visible: Visibility, days: int, top: int, recent: int) -> Statistics:
        admin = visible.principal.is_admin
        projects = None if admin else await self._projects(visible)
        if admin:
            totals, users = await self._registry_totals()
        else:
            async with self._store.transaction(readonly=True) as tx:
                totals = await tx.inventory.totals(projects or [])
            users = None
        first_day = day_of(time.time()) - days + 1
        async with self._store.transaction(readonly=True) as tx:
            daily = await tx.inventory.daily(first_day, projects if not admin else None)
            top_rows = await tx.inventory.top(top, projects if not admin else None)
        activity = await self._recent(visible, projects, recent)
        return Statistics(
            scope="registry" if admin else "visible",
            storage_bytes=totals.storage_bytes,
            logical_bytes=totals.logical_bytes,
            saved_bytes=max(0, totals.logical_bytes - totals.storage_bytes),
            projects=totals.projects,
            repositories=totals.repositories,
            artifacts=totals.artifacts,
            tags=totals.tags,
            users=users,
            days=_every_day(first_day, days, daily),
            top_repositories=[RepositoryPulls(r.name, r.pulls, r.last_pulled_at) for r in top_rows],
            recent=[_activity(r) for r in activity],
        )

    async def _registry_totals(self) -> tuple[Totals, int]:
        now = time.monotonic()
        if self._cached is not None and self._cached[0] > now:
            return self._cached[1], self._cached[2]
        async with self._store.transaction(readonly=True) as tx:
            totals = await tx.inventory.totals(None)
            users = await tx.identities.count_users()
        self._cached = (now + self._totals_seconds, totals, users)
        return totals, users

    def forget(self) -> None:
        """Drop the cached totals (tests; after a large delete)."""
        self._cached = None

    async def _projects(self, visible: Visibility) -> list[str]:
        found: list[str] = []
        cursor: str | None = None
        while len(found) < MAX_PROJECTS:
            async with self._store.transaction(readonly=True) as tx:
                batch = await tx.access.projects(cursor, 500)
            for project in batch:
                if await visible.pulls_whole_project(project.name):
                    found.append(project.name)
            if len(batch) < 500:
                break
            cursor = batch[-1].name
        return found[:MAX_PROJECTS]

    async def _recent(
        self, visible: Visibility, projects: list[str] | None, limit: int
    ) -> list[AuditRecord]:
        if limit == 0:
            return []
        async with self._store.transaction(readonly=True) as tx:
            if projects is None:
                return await tx.audit.query(AuditQuery(limit=limit))
            found: list[AuditRecord] = []
            readable = [p for p in projects if await visible.may_read_audit(p)]
            for project in readable[:AUDITED_PROJECTS]:
                query = AuditQuery(target_prefix=f"{project}/", limit=limit)
                found += await tx.audit.query(query)
        found.sort(key=lambda r: r.id or 0, reverse=True)
        return found[:limit]


def _every_day(first_day: int, days: int, rows: list[tuple[int, int, int]]) -> list[DayUsage]:
    counts = {day: (pulls, pushes) for day, pulls, pushes in rows}
    return [
        DayUsage(_iso(day), *counts.get(day, (0, 0))) for day in range(first_day, first_day + days)
    ]


def _iso(day: int) -> str:
    return datetime.datetime.fromtimestamp(day * DAY, datetime.UTC).date().isoformat()


def _activity(record: AuditRecord) -> Activity:
    return Activity(
        id=record.id,
        at=record.at,
        actor=record.actor,
        action=record.action,
        target=record.target,
        outcome=record.outcome,
    )
