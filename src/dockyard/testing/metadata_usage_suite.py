"""The MetadataStore suite for usage counters and the inventory's queries.

Subclass `MetadataUsageSuite` and provide a `store` fixture yielding an opened, empty store.
"""

from __future__ import annotations

import asyncio

import pytest

from dockyard.meta.base import MetadataStore
from dockyard.meta.records import ManifestRecord, ManifestReference, PullCount

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
B1 = "sha256:" + "b" * 64
B2 = "sha256:" + "c" * 64


def _manifest(repo: str, digest: str, subject: str | None = None) -> ManifestRecord:
    return ManifestRecord(
        repo, digest, "application/vnd.oci.image.manifest.v1+json", None, subject, 10, b"{}"
    )


async def _repository_with(store: MetadataStore, repo: str, blobs: dict[str, int]) -> None:
    async with store.transaction() as tx:
        await tx.repos.ensure(repo)
        for digest, size in blobs.items():
            await tx.blobs.add(digest, size, f"blobs/{digest}")
            await tx.blobs.link(repo, digest)


@pytest.mark.anyio
class MetadataUsageSuite:
    async def test_pushes_count_and_keep_the_latest_time(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            await tx.repos.ensure("team/app")
            await tx.usage.add_push("team/app", 10, 10 * 86400 + 5)
            await tx.usage.add_push("team/app", 10, 10 * 86400 + 1)  # an older clock
            await tx.usage.add_push("team/app", 11, 11 * 86400)
        async with store.transaction(readonly=True) as tx:
            row = await tx.inventory.repository("team/app")
            assert (row.project, row.pushes, row.last_pushed_at) == ("team", 3, 11 * 86400)
            assert await tx.inventory.daily(10, None) == [(10, 0, 2), (11, 0, 1)]
            assert await tx.inventory.daily(11, ["team"]) == [(11, 0, 1)]
            assert await tx.inventory.daily(10, ["other"]) == []

    async def test_pull_counts_from_concurrent_flushes_add_up(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            await tx.repos.ensure("a/x")
            await tx.repos.ensure("b/y")

        async def flush(replica: int) -> None:
            counts = [
                PullCount("a/x", D1, 7, 2, 700.0 + replica),
                PullCount("a/x", D2, 7, 1, 650.0),
                PullCount("b/y", D1, 8, 5, 800.0 - replica),
            ]
            async with store.transaction() as tx:
                await tx.usage.add_pulls(counts)

        await asyncio.gather(*(flush(replica) for replica in range(4)))
        async with store.transaction(readonly=True) as tx:
            x, y = await tx.inventory.repository("a/x"), await tx.inventory.repository("b/y")
            assert (x.pulls, x.last_pulled_at, y.pulls, y.last_pulled_at) == (12, 703.0, 20, 800.0)
            assert await tx.inventory.pulls("a/x", [D1, D2, D3]) == {D1: (8, 703.0), D2: (4, 650.0)}
            assert await tx.inventory.daily(0, None) == [(7, 12, 0), (8, 20, 0)]
            assert [r.name for r in await tx.inventory.top(5, None)] == ["b/y", "a/x"]
            assert [r.name for r in await tx.inventory.top(5, ["a"])] == ["a/x"]
        async with store.transaction() as tx:
            await tx.usage.forget_manifests("a/x", [D1])
            assert await tx.inventory.pulls("a/x", [D1, D2]) == {D2: (4, 650.0)}

    async def test_repositories_page_by_name_pulls_and_last_push(
        self, store: MetadataStore
    ) -> None:
        async with store.transaction() as tx:
            for i, name in enumerate(["p/c", "p/a", "p/b", "p", "px/a", "q/a"]):
                await tx.repos.ensure(name)
                await tx.usage.add_push(name, 1, 100.0 + i)
            await tx.usage.add_pulls(
                [PullCount("p/b", D1, 1, 5, 1.0), PullCount("p/c", D1, 1, 5, 1)]
            )
        async with store.transaction(readonly=True) as tx:
            inv = tx.inventory

            async def names(sort, after=None, limit=10, q=None):  # type: ignore[no-untyped-def]
                rows = await inv.repositories("p", q=q, sort=sort, after=after, limit=limit)
                return [r.name for r in rows]

            assert await names("name") == ["p", "p/a", "p/b", "p/c"]
            assert await names("name", ("p/a",), 2) == ["p/b", "p/c"]
            assert await names("pulls") == ["p/c", "p/b", "p/a", "p"]
            assert await names("pulls", (5, "p/b")) == ["p/a", "p"]
            assert await names("last_push") == ["p", "p/b", "p/a", "p/c"]
            assert await names("last_push", (102.0, "p/b"), 1) == ["p/a"]
            assert await names("name", q="b") == ["p/b"]
            assert await names("name", q="%") == []

    async def test_sizes_counts_and_deduplication(self, store: MetadataStore) -> None:
        await _repository_with(store, "p/one", {B1: 100, B2: 30})
        await _repository_with(store, "p/two", {B1: 100})
        async with store.transaction() as tx:
            await tx.manifests.add(_manifest("p/one", D1), [ManifestReference(B1, "blob")])
            await tx.manifests.add(
                _manifest("p/one", D2, subject=D1), [ManifestReference(B2, "blob")]
            )
            for tag in ("v1", "v2", "v3"):
                await tx.tags.set("p/one", tag, D1)
        async with store.transaction(readonly=True) as tx:
            inv = tx.inventory
            counts = await inv.counts(["p/one", "p/two", "p/none"])
            one = counts["p/one"]
            assert (one.blob_bytes, one.manifest_bytes, one.tags, one.manifests) == (130, 20, 3, 2)
            assert counts["p/none"].blob_bytes == 0
            assert await inv.blob_bytes("p/one", [D1, D2]) == {D1: 100, D2: 30}
            assert await inv.tags_of("p/one", [D1, D2], 2) == {D1: (["v1", "v2"], 3), D2: ([], 0)}
            assert await inv.referrer_counts("p/one", [D1, D2]) == {D1: 1}
            assert await inv.sharing(B1, "p/one", 5) == (1, ["p/two"])
            assert await inv.sharing(B2, "p/one", 5) == (0, [])
            everything = await inv.totals(None)
            assert (everything.storage_bytes, everything.logical_bytes) == (130, 230)
            assert (everything.repositories, everything.artifacts, everything.tags) == (2, 2, 3)
            some = await inv.totals(["p"])
            assert (some.storage_bytes, some.logical_bytes, some.repositories) == (130, 230, 2)
            assert (await inv.totals(["none"])).storage_bytes == 0
            page = await inv.manifests("p/one", before=None, limit=10, top_level=True)
            assert [m.digest for m in page] == [D1]
            every = await inv.manifests("p/one", before=None, limit=1, top_level=False)
            rest = await inv.manifests(
                "p/one", before=(every[0].created_at, every[0].digest), limit=5, top_level=False
            )
            assert sorted(m.digest for m in every + rest) == [D1, D2]
            tags = await inv.tags("p/one", q="2", last=None, limit=5)
            assert [(t.name, t.digest, t.manifest_size) for t in tags] == [("v2", D1, 10)]
            assert [t.name for t in await inv.tags("p/one", q=None, last="v1", limit=5)] == [
                "v2",
                "v3",
            ]

    async def test_project_storage_counts_each_blob_once_per_project(
        self, store: MetadataStore
    ) -> None:
        await _repository_with(store, "p/one", {B1: 100, B2: 30})
        await _repository_with(store, "p/two", {B1: 100})
        await _repository_with(store, "q/app", {B1: 100})
        await _repository_with(store, "pq/app", {B2: 30})  # a prefix of "p" is not "p"
        async with store.transaction(readonly=True) as tx:
            inv = tx.inventory
            storage = await inv.project_storage(["p", "q", "empty"])
            assert storage == {"p": 130, "q": 100, "empty": 0}
            assert await inv.blob_in_project("p", B2)
            assert await inv.blob_in_project("q", B1)
            assert not await inv.blob_in_project("q", B2)
            assert not await inv.blob_in_project("empty", B1)

    async def test_a_repository_is_forgotten_only_when_empty(self, store: MetadataStore) -> None:
        await _repository_with(store, "p/app", {B1: 1})
        async with store.transaction() as tx:
            await tx.manifests.add(_manifest("p/app", D1), [])
            assert not await tx.repos.delete_if_empty("p/app")
            await tx.manifests.delete("p/app", D1)
            assert not await tx.repos.delete_if_empty("p/app")  # a blob is still linked
            assert await tx.inventory.linked_blobs("p/app", 10) == [B1]
            await tx.blobs.unlink("p/app", B1)
            assert await tx.repos.delete_if_empty("p/app")
            assert not await tx.repos.exists("p/app")
