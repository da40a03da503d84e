"""What is in the registry, as a principal may see it: the query layer under the management API
and the dashboard.

Built once by `create_app` and kept on `app.state.inventory` (deleting lives next door, on
`app.state.removal`: `dockyard.registry.removal.Removal`). Every list is paged with
`last`/`limit` (pass a page's `next_last` back as `last`) and answered by indexed queries, so a
page costs the same with 100,000 tags in one repository or 10,000 repositories in a project.

Access: only what the principal may pull is shown (system admins see everything); something
they may not see raises `dockyard.errors.Problem` 404, exactly as if it did not exist.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.auth.access import AccessControl
from dockyard.auth.principal import Principal
from dockyard.errors import invalid, not_found
from dockyard.meta.base import MetadataStore
from dockyard.meta.records import ManifestRecord, RepositoryRow
from dockyard.registry import artifact_views as views
from dockyard.registry.inventory_models import (
    MAX_LIMIT,
    SHARED_SHOWN,
    Activity,
    ArtifactDetail,
    ArtifactSummary,
    ChildArtifact,
    DayUsage,
    HistoryEntry,
    ImageConfig,
    Layer,
    Page,
    Platform,
    PullCommand,
    Referrer,
    ReferrerKind,
    RepositoryPulls,
    RepositorySort,
    RepositorySummary,
    Statistics,
    TagSummary,
)
from dockyard.registry.manifests import Reference, find
from dockyard.registry.statistics import StatisticsReader
from dockyard.registry.visibility import Visibility
from dockyard.storage.base import StorageDriver, StorageError

__all__ = [
    "MAX_LIMIT",
    "Activity",
    "ArtifactDetail",
    "ArtifactSummary",
    "ChildArtifact",
    "DayUsage",
    "HistoryEntry",
    "ImageConfig",
    "Inventory",
    "Layer",
    "Page",
    "Platform",
    "PullCommand",
    "Referrer",
    "ReferrerKind",
    "RepositoryPulls",
    "RepositorySort",
    "RepositorySummary",
    "Statistics",
    "TagSummary",
    "pull_host",
]

SORTS = ("name", "last_push", "pulls")


def pull_host(public_url: str | None, request_base_url: str) -> str:
    """`host[:port][/path]` for pull commands: the configured public URL, else the request's."""
    base = public_url or request_base_url
    return base.split("://", 1)[-1].rstrip("/")


class Inventory:
    def __init__(
        self,
        store: MetadataStore,
        storage: StorageDriver,
        access: AccessControl,
        *,
        totals_seconds: float = 30.0,
    ) -> None:
        self._store = store
        self._storage = storage
        self._access = access
        self._statistics = StatisticsReader(store, totals_seconds)

    def visibility(self, principal: Principal) -> Visibility:
        """What the principal may see, with project facts cached (use one per request)."""
        return Visibility(self._store, self._access, principal)

    # --- repositories -----------------------------------------------------------------------

    async def repositories(
        self,
        principal: Principal,
        project: str,
        *,
        q: str | None = None,
        sort: RepositorySort = "name",
        last: str | None = None,
        limit: int = 50,
    ) -> Page[RepositorySummary]:
        """The repositories of `project` (names `project/...`, and `project` itself) the
        principal may pull, `sort`ed ("name" ascending; "last_push" and "pulls" descending).
        `q` matches a substring of the name. 404 for an unknown or hidden project."""
        if sort not in SORTS:
            raise invalid(f"sort must be one of {', '.join(SORTS)}")
        visible = self.visibility(principal)
        if not await visible.sees_project(project):
            raise not_found(f"no project {project!r}")
        after = _repository_cursor(last, sort)

        async def fetch(cursor: Any, size: int) -> list[RepositoryRow]:
            async with self._store.transaction(readonly=True) as tx:
                return await tx.inventory.repositories(
                    project, q=q.lower() if q else None, sort=sort, after=cursor, limit=size
                )

        rows = await _visible_page(fetch, after, _check_limit(limit), visible.may_pull, _key(sort))
        summaries = await self._repository_summaries(rows.items)
        return Page(summaries, _repository_next(rows, sort))

    async def repository(self, principal: Principal, name: str) -> RepositorySummary:
        """One repository; 404 when unknown or hidden."""
        await self.visibility(principal).require_pull(name)
        async with self._store.transaction(readonly=True) as tx:
            row = await tx.inventory.repository(name)
        if row is None:
            raise not_found(f"no repository {name!r}")
        return (await self._repository_summaries([row]))[0]

    async def _repository_summaries(self, rows: list[RepositoryRow]) -> list[RepositorySummary]:
        async with self._store.transaction(readonly=True) as tx:
            counts = await tx.inventory.counts([r.name for r in rows])
        return [
            RepositorySummary(
                name=r.name,
                project=r.project,
                size=counts[r.name].blob_bytes + counts[r.name].manifest_bytes,
                tag_count=counts[r.name].tags,
                artifact_count=counts[r.name].manifests,
                pulls=r.pulls,
                pushes=r.pushes,
                last_pushed_at=r.last_pushed_at,
                last_pulled_at=r.last_pulled_at,
                created_at=r.created_at,
            )
            for r in rows
        ]

    async def _existing(self, principal: Principal, repository: str) -> Visibility:
        visible = self.visibility(principal)
        await visible.require_pull(repository)
        async with self._store.transaction(readonly=True) as tx:
            if not await tx.repos.exists(repository):
                raise not_found(f"no repository {repository!r}")
        return visible

    # --- artifacts and tags -----------------------------------------------------------------

    async def artifacts(
        self,
        principal: Principal,
        repository: str,
        *,
        last: str | None = None,
        limit: int = 50,
        top_level: bool = True,
    ) -> Page[ArtifactSummary]:
        """The repository's manifests, newest push first. `top_level` leaves out referrers
        (manifests with a subject) and manifests an index in the repository lists."""
        await self._existing(principal, repository)
        size = _check_limit(limit)
        before = _artifact_cursor(last)
        async with self._store.transaction(readonly=True) as tx:
            records = await tx.inventory.manifests(
                repository, before=before, limit=size + 1, top_level=top_level
            )
            items = await views.summaries(tx, repository, records[:size])
        more = len(records) > size
        return Page(items, f"{items[-1].pushed_at!r}:{items[-1].digest}" if more else None)

    async def artifact(
        self, principal: Principal, repository: str, reference: str, *, host: str
    ) -> ArtifactDetail:
        """One artifact in full, by digest or tag; `host` (see `pull_host`) goes into the pull
        commands. The config blob is read through the storage driver with a size cap; layers
        are never read."""
        visible = await self._existing(principal, repository)
        record = await self._manifest(repository, reference)
        doc = views.document(record)
        async with self._store.transaction(readonly=True) as tx:
            summary = (await views.summaries(tx, repository, [record]))[0]
            children = await views.children_of(tx, repository, doc)
            referrers = await tx.manifests.referrers(repository, record.digest, None)
        config_digest = _config_digest(doc) if summary.kind != "index" else None
        return ArtifactDetail(
            summary=summary,
            manifest=doc,
            annotations=record.annotations,
            config=await self._config(doc) if summary.kind == "image" else None,
            config_digest=config_digest,
            layers=await self._layers(visible, repository, doc),
            children=children,
            referrers=[views.referrer(r) for r in referrers],
            pull_commands=views.pull_commands(
                host, repository, record.digest, summary.tags, summary.kind
            ),
        )

    async def _manifest(self, repository: str, reference: str) -> ManifestRecord:
        ref = Reference.parse(reference)
        async with self._store.transaction(readonly=True) as tx:
            record = await find(tx, repository, ref)
        if record is None:
            raise not_found(f"no artifact {reference!r} in {repository!r}")
        return record

    async def _config(self, doc: dict[str, Any]) -> ImageConfig | None:
        config = doc.get("config")
        if not isinstance(config, dict) or config.get("mediaType") not in views.IMAGE_CONFIGS:
            return None
        async with self._store.transaction(readonly=True) as tx:
            blob = await tx.blobs.get(str(config.get("digest")))
        if blob is None or blob.size > views.CONFIG_MAX_BYTES:
            return None
        try:
            data = await self._storage.get(blob.path)
        except StorageError:
            return None
        return views.parse_config(data)

    async def _layers(
        self, visible: Visibility, repository: str, doc: dict[str, Any]
    ) -> list[Layer]:
        listed = views.descriptors(doc, "layers") or views.descriptors(doc, "blobs")
        digests = [str(d.get("digest")) for d in listed]
        layers = []
        async with self._store.transaction(readonly=True) as tx:
            sizes = await tx.inventory.blob_sizes(digests)
            sharing = [await tx.inventory.sharing(d, repository, 5 * SHARED_SHOWN) for d in digests]
        for descriptor, digest, (count, names) in zip(listed, digests, sharing, strict=True):
            shown = [n for n in names if await visible.may_pull(n)][:SHARED_SHOWN]
            annotations = descriptor.get("annotations")
            layers.append(
                Layer(
                    digest=digest,
                    media_type=str(descriptor.get("mediaType")),
                    size=sizes.get(digest, views.int_or_zero(descriptor.get("size"))),
                    shared_count=count,
                    shared_with=shown,
                    annotations=annotations if isinstance(annotations, dict) else None,
                )
            )
        return layers

    async def tags(
        self,
        principal: Principal,
        repository: str,
        *,
        q: str | None = None,
        last: str | None = None,
        limit: int = 50,
    ) -> Page[TagSummary]:
        """Tags in lexical order; `q` matches a substring of the tag name."""
        await self._existing(principal, repository)
        size = _check_limit(limit)
        async with self._store.transaction(readonly=True) as tx:
            rows = await tx.inventory.tags(repository, q=q, last=last, limit=size + 1)
            blob_bytes = await tx.inventory.blob_bytes(repository, [r.digest for r in rows])
        items = [
            TagSummary(
                name=r.name,
                digest=r.digest,
                updated_at=r.updated_at,
                media_type=r.media_type,
                artifact_type=None if r.artifact_type in views.IMAGE_CONFIGS else r.artifact_type,
                size=r.manifest_size + blob_bytes.get(r.digest, 0),
            )
            for r in rows[:size]
        ]
        return Page(items, items[-1].name if len(rows) > size else None)

    # --- statistics -------------------------------------------------------------------------

    async def statistics(
        self, principal: Principal, *, days: int = 30, top: int = 10, recent: int = 20
    ) -> Statistics:
        """Registry statistics (see `Statistics` for what a non-admin sees). Registry-wide
        totals are cached for `totals_seconds`; per-day pulls lag by the usage flush interval."""
        if not 1 <= days <= 366 or not 1 <= top <= 100 or not 0 <= recent <= 100:
            raise invalid("days must be 1-366, top 1-100, recent 0-100")
        return await self._statistics.read(self.visibility(principal), days, top, recent)


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _key(sort: str) -> Callable[[RepositoryRow], tuple[Any, ...]]:
    if sort == "pulls":
        return lambda r: (r.pulls, r.name)
    if sort == "last_push":
        return lambda r: (r.last_pushed_at or 0.0, r.name)
    return lambda r: (r.name,)


def _repository_cursor(last: str | None, sort: str) -> tuple[Any, ...] | None:
    if not last:
        return None
    if sort == "name":
        return (last,)
    value, sep, name = last.partition(":")
    number = _number(value, int if sort == "pulls" else float)
    if not sep or number is None or not name:
        raise invalid(f"last {last!r} is not a cursor of this listing (use next_last)")
    return (number, name)


def _repository_next(page: Page[RepositoryRow], sort: str) -> str | None:
    if page.next_last is None or not page.items:
        return None
    row = page.items[-1]
    if sort == "name":
        return row.name
    value = row.pulls if sort == "pulls" else repr(row.last_pushed_at or 0.0)
    return f"{value}:{row.name}"


def _artifact_cursor(last: str | None) -> tuple[float, str] | None:
    if not last:
        return None
    value, sep, digest = last.partition(":")
    stamp = _number(value, float)
    if not sep or not digest or stamp is None:
        raise invalid(f"last {last!r} is not a cursor of this listing (use next_last)")
    return (stamp, digest)


def _number(text: str, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _config_digest(doc: dict[str, Any]) -> str | None:
    config = doc.get("config")
    return str(config.get("digest")) if isinstance(config, dict) else None


async def _visible_page(
    fetch: Callable[[Any, int], Awaitable[list[RepositoryRow]]],
    after: Any,
    limit: int,
    visible: Callable[[str], Awaitable[bool]],
    key: Callable[[RepositoryRow], tuple[Any, ...]],
) -> Page[RepositoryRow]:
    """Read batches until `limit` visible rows (and one more, to know a next page exists)."""
    found: list[RepositoryRow] = []
    batch = max(limit + 1, 100)
    while len(found) <= limit:
        rows = await fetch(after, batch)
        found += [row for row in rows if await visible(row.name)]
        if len(rows) < batch:
            break
        after = key(rows[-1])
    more = len(found) > limit
    return Page(found[:limit], "more" if more else None)
