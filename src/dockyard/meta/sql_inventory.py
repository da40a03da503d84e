"""Read-only queries behind the management API and the dashboard.

Each one is bounded by an index: a page of rows found by a key range, or a grouped count over
one page's keys. The registry-wide totals are the exception (they count whole tables) and are
cached by their caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import and_, exists, func, select, tuple_

from dockyard.meta import schema as t
from dockyard.meta.records import (
    ManifestRecord,
    RepositoryCounts,
    RepositoryRow,
    TagRow,
    Totals,
)
from dockyard.meta.sql_stores import _manifest, _SubStore

Sort = Literal["name", "last_push", "pulls"]

_R = t.repositories.c
_M = t.manifests.c
_T = t.tags.c


def _repository(row: Any) -> RepositoryRow:
    return RepositoryRow(
        name=row.name,
        project=row.project or row.name.split("/", 1)[0],
        created_at=row.created_at,
        pulls=row.pulls,
        pushes=row.pushes,
        last_pushed_at=row.last_pushed_at or None,
        last_pulled_at=row.last_pulled_at,
    )


class SqlInventory(_SubStore):
    # --- repositories ---------------------------------------------------------------------

    async def repository(self, name: str) -> RepositoryRow | None:
        row = (await self.conn.execute(select(t.repositories).where(_R.name == name))).first()
        return _repository(row) if row else None

    async def repositories(
        self,
        project: str,
        *,
        q: str | None,
        sort: Sort,
        after: tuple[Any, ...] | None,
        limit: int,
    ) -> list[RepositoryRow]:
        """One page of a project's repositories. `after` is the last row's sort key:
        (name,) for "name"; (last_pushed_at, name) or (pulls, name) for the others, which
        run newest / most pulled first."""
        query = select(t.repositories).where(_R.project == project).limit(limit)
        if q:
            query = query.where(_R.name.contains(q, autoescape=True))
        if sort == "name":
            name = self._lexical(_R.name)
            query = query.order_by(name)
            if after:
                query = query.where(name > after[0])
        else:
            key = _R.pulls if sort == "pulls" else _R.last_pushed_at
            query = query.order_by(key.desc(), _R.name.desc())
            if after:
                query = query.where(tuple_(key, _R.name) < tuple_(*after))
        return [_repository(row) for row in await self.conn.execute(query)]

    async def counts(self, names: Sequence[str]) -> dict[str, RepositoryCounts]:
        if not names:
            return {}
        wanted = list(set(names))
        blobs = (
            select(t.blob_links.c.repository, func.sum(t.blobs.c.size))
            .select_from(t.blob_links.join(t.blobs, t.blob_links.c.digest == t.blobs.c.digest))
            .where(t.blob_links.c.repository.in_(wanted))
            .group_by(t.blob_links.c.repository)
        )
        manifests = (
            select(_M.repository, func.sum(_M.size), func.count())
            .where(_M.repository.in_(wanted))
            .group_by(_M.repository)
        )
        tags = select(_T.repository, func.count()).where(_T.repository.in_(wanted))
        blob_bytes = {r: s for r, s in await self.conn.execute(blobs)}
        manifest_rows = {r: (s, n) for r, s, n in await self.conn.execute(manifests)}
        tag_counts = {r: n for r, n in await self.conn.execute(tags.group_by(_T.repository))}
        return {
            name: RepositoryCounts(
                blob_bytes=int(blob_bytes.get(name) or 0),
                manifest_bytes=int(manifest_rows.get(name, (0, 0))[0] or 0),
                tags=int(tag_counts.get(name) or 0),
                manifests=int(manifest_rows.get(name, (0, 0))[1] or 0),
            )
            for name in wanted
        }

    # --- manifests ----------------------------------------------------------------------------

    async def manifests(
        self,
        repository: str,
        *,
        before: tuple[float, str] | None,
        limit: int,
        top_level: bool,
    ) -> list[ManifestRecord]:
        """Newest first; `before` is the last row's (created_at, digest)."""
        query = (
            select(t.manifests)
            .where(_M.repository == repository)
            .order_by(_M.created_at.desc(), _M.digest.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(tuple_(_M.created_at, _M.digest) < tuple_(*before))
        if top_level:
            refs = t.manifest_references.c
            listed = exists().where(
                refs.digest == _M.digest, refs.repository == _M.repository, refs.kind == "manifest"
            )
            query = query.where(_M.subject.is_(None), ~listed)
        return [_manifest(row) for row in await self.conn.execute(query)]

    async def manifests_by_digest(
        self, repository: str, digests: Sequence[str]
    ) -> list[ManifestRecord]:
        if not digests:
            return []
        query = select(t.manifests).where(
            _M.repository == repository, _M.digest.in_(list(set(digests)))
        )
        return [_manifest(row) for row in await self.conn.execute(query)]

    async def blob_bytes(self, repository: str, manifests: Sequence[str]) -> dict[str, int]:
        """Per manifest, the sizes of the blobs it references (config and layers)."""
        if not manifests:
            return {}
        refs = t.manifest_references.c
        query = (
            select(refs.manifest, func.sum(t.blobs.c.size))
            .select_from(t.manifest_references.join(t.blobs, refs.digest == t.blobs.c.digest))
            .where(
                refs.repository == repository,
                refs.manifest.in_(list(set(manifests))),
                refs.kind == "blob",
            )
            .group_by(refs.manifest)
        )
        return {m: int(s or 0) for m, s in await self.conn.execute(query)}

    async def tags_of(
        self, repository: str, digests: Sequence[str], cap: int
    ) -> dict[str, tuple[list[str], int]]:
        """Per manifest: its first `cap` tags in lexical order and how many it has."""
        found: dict[str, tuple[list[str], int]] = {}
        for digest in dict.fromkeys(digests):
            where = and_(_T.repository == repository, _T.digest == digest)
            names = select(_T.name).where(where).order_by(self._lexical(_T.name)).limit(cap)
            first = list((await self.conn.execute(names)).scalars())
            if len(first) < cap:
                found[digest] = (first, len(first))
                continue
            count = select(func.count()).select_from(t.tags).where(where)
            found[digest] = (first, int((await self.conn.execute(count)).scalar_one()))
        return found

    async def referrer_counts(self, repository: str, digests: Sequence[str]) -> dict[str, int]:
        if not digests:
            return {}
        query = (
            select(_M.subject, func.count())
            .where(_M.repository == repository, _M.subject.in_(list(set(digests))))
            .group_by(_M.subject)
        )
        return {s: int(n) for s, n in await self.conn.execute(query)}

    async def pulls(
        self, repository: str, digests: Sequence[str]
    ) -> dict[str, tuple[int, float | None]]:
        if not digests:
            return {}
        c = t.manifest_pulls.c
        query = select(c.digest, c.pulls, c.last_pulled_at).where(
            c.repository == repository, c.digest.in_(list(set(digests)))
        )
        return {d: (int(n), at) for d, n, at in await self.conn.execute(query)}

    async def parents(self, repository: str, digest: str) -> list[str]:
        """The indexes in the repository that list `digest`."""
        refs = t.manifest_references.c
        query = select(refs.manifest).where(
            refs.digest == digest, refs.repository == repository, refs.kind == "manifest"
        )
        return list((await self.conn.execute(query)).scalars())

    # --- tags and blobs -----------------------------------------------------------------------

    async def tags(
        self, repository: str, *, q: str | None, last: str | None, limit: int
    ) -> list[TagRow]:
        join = t.tags.join(
            t.manifests, and_(_T.repository == _M.repository, _T.digest == _M.digest)
        )
        name = self._lexical(_T.name)
        query = (
            select(_T.name, _T.digest, _T.updated_at, _M.media_type, _M.artifact_type, _M.size)
            .select_from(join)
            .where(_T.repository == repository)
            .order_by(name)
            .limit(limit)
        )
        if q:
            query = query.where(_T.name.contains(q, autoescape=True))
        if last:
            query = query.where(name > last)
        return [TagRow(*row) for row in await self.conn.execute(query)]

    async def blob_sizes(self, digests: Sequence[str]) -> dict[str, int]:
        if not digests:
            return {}
        query = select(t.blobs.c.digest, t.blobs.c.size).where(
            t.blobs.c.digest.in_(list(set(digests)))
        )
        return {d: int(s) for d, s in await self.conn.execute(query)}

    async def sharing(self, digest: str, repository: str, cap: int) -> tuple[int, list[str]]:
        """How many other repositories link the blob, and the first `cap` of them by name."""
        links = t.blob_links.c
        where = and_(links.digest == digest, links.repository != repository)
        count = select(func.count()).select_from(t.blob_links).where(where)
        total = int((await self.conn.execute(count)).scalar_one())
        if not total:
            return 0, []
        names = select(links.repository).where(where).order_by(links.repository).limit(cap)
        return total, list((await self.conn.execute(names)).scalars())

    async def linked_blobs(self, repository: str, limit: int) -> list[str]:
        query = (
            select(t.blob_links.c.digest)
            .where(t.blob_links.c.repository == repository)
            .order_by(t.blob_links.c.digest)
            .limit(limit)
        )
        return list((await self.conn.execute(query)).scalars())

    # --- projects -----------------------------------------------------------------------------

    async def project_storage(self, projects: Sequence[str]) -> dict[str, int]:
        links = t.blob_links.c
        # A blob several repositories of one project link counts once for that project.
        pairs = (
            select(_R.project, links.digest)
            .select_from(t.blob_links.join(t.repositories, _R.name == links.repository))
            .where(_R.project.in_(list(projects)))
            .distinct()
            .subquery()
        )
        stmt = (
            select(pairs.c.project, func.sum(t.blobs.c.size))
            .select_from(pairs.join(t.blobs, t.blobs.c.digest == pairs.c.digest))
            .group_by(pairs.c.project)
        )
        found = {row[0]: int(row[1] or 0) for row in await self.conn.execute(stmt)}
        return {name: found.get(name, 0) for name in projects}

    async def blob_in_project(self, project: str, digest: str) -> bool:
        links = t.blob_links.c
        stmt = select(
            exists()
            .select_from(t.blob_links.join(t.repositories, _R.name == links.repository))
            .where(links.digest == digest, _R.project == project)
        )
        return bool((await self.conn.execute(stmt)).scalar())

    # --- statistics ---------------------------------------------------------------------------

    async def totals(self, projects: Sequence[str] | None) -> Totals:
        """Everything, or only the repositories of `projects`."""
        repos = select(_R.name)
        if projects is not None:
            repos = repos.where(_R.project.in_(list(projects)))
        links = t.blob_links.c
        linked = select(links.digest).where(links.repository.in_(repos))
        if projects is None:
            stored = select(func.sum(t.blobs.c.size))
            logical_from = t.blob_links.join(t.blobs, links.digest == t.blobs.c.digest)
            logical = select(func.sum(t.blobs.c.size)).select_from(logical_from)
        else:
            stored = select(func.sum(t.blobs.c.size)).where(t.blobs.c.digest.in_(linked))
            logical_from = t.blob_links.join(t.blobs, links.digest == t.blobs.c.digest)
            logical = (
                select(func.sum(t.blobs.c.size))
                .select_from(logical_from)
                .where(links.repository.in_(repos))
            )

        async def scalar(query: Any) -> int:
            return int((await self.conn.execute(query)).scalar() or 0)

        def count(table: Any, column: Any) -> Any:
            query = select(func.count()).select_from(table)
            return query if projects is None else query.where(column.in_(repos))

        project_count = select(func.count()).select_from(t.projects)
        if projects is not None:
            project_count = project_count.where(t.projects.c.name.in_(list(projects)))
        return Totals(
            storage_bytes=await scalar(stored),
            logical_bytes=await scalar(logical),
            projects=await scalar(project_count),
            repositories=await scalar(count(t.repositories, _R.name)),
            artifacts=await scalar(count(t.manifests, _M.repository)),
            tags=await scalar(count(t.tags, _T.repository)),
        )

    async def daily(
        self, since_day: int, projects: Sequence[str] | None
    ) -> list[tuple[int, int, int]]:
        """(day, pulls, pushes) from `since_day` on."""
        c = t.daily_usage.c
        query = (
            select(c.day, func.sum(c.pulls), func.sum(c.pushes))
            .where(c.day >= since_day)
            .group_by(c.day)
            .order_by(c.day)
        )
        if projects is not None:
            query = query.where(
                c.repository.in_(select(_R.name).where(_R.project.in_(list(projects))))
            )
        return [(int(d), int(p or 0), int(s or 0)) for d, p, s in await self.conn.execute(query)]

    async def top(self, limit: int, projects: Sequence[str] | None) -> list[RepositoryRow]:
        query = (
            select(t.repositories)
            .where(_R.pulls > 0)
            .order_by(_R.pulls.desc(), _R.name.desc())
            .limit(limit)
        )
        if projects is not None:
            query = query.where(_R.project.in_(list(projects)))
        return [_repository(row) for row in await self.conn.execute(query)]
