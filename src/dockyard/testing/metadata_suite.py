"""The MetadataStore conformance suite.

Subclass `MetadataStoreSuite` and provide a `store` fixture yielding an opened, empty store.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from dockyard.meta.base import MetadataStore
from dockyard.meta.records import ManifestRecord, ManifestReference

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
D4 = "sha512:" + "4" * 128


def manifest(repo: str, digest: str, subject: str | None = None, artifact: str | None = None):
    return ManifestRecord(
        repository=repo,
        digest=digest,
        media_type="application/vnd.oci.image.manifest.v1+json",
        artifact_type=artifact,
        subject=subject,
        size=3,
        payload=b"{}\n",
        annotations={"k": "v"} if artifact else None,
    )


class _Boom(Exception):
    pass


@pytest.mark.anyio
class MetadataStoreSuite:
    async def test_repositories_list_in_lexical_order_with_paging(
        self, store: MetadataStore
    ) -> None:
        names = ["b", "a-b", "a.b", "a_b", "a/b", "a", "ab", "b/a", "a0"]
        async with store.transaction() as tx:
            for name in names:
                await tx.repos.ensure(name)
            await tx.repos.ensure("a")  # idempotent
        expected = sorted(names)  # byte order, what the spec calls lexical
        async with store.transaction(readonly=True) as tx:
            assert await tx.repos.list(None, None) == expected
            assert await tx.repos.list(None, 3) == expected[:3]
            assert await tx.repos.list(expected[2], 3) == expected[3:6]
            assert await tx.repos.exists("a/b")
            assert not await tx.repos.exists("zzz")

    async def test_blob_links_decide_visibility(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            await tx.repos.ensure("one")
            await tx.repos.ensure("two")
            assert await tx.blobs.add(D1, 10, "blobs/one") == "blobs/one"
            assert await tx.blobs.add(D1, 10, "blobs/two") == "blobs/one"
            await tx.blobs.link("one", D1)
            await tx.blobs.link("one", D1)
        async with store.transaction() as tx:
            assert (await tx.blobs.get(D1)).size == 10
            assert (await tx.blobs.linked("one", D1)).size == 10
            assert await tx.blobs.linked("two", D1) is None
            assert await tx.blobs.missing("one", [D1, D2, D2]) == [D2]
            assert await tx.blobs.unlink("one", D1)
            assert not await tx.blobs.unlink("one", D1)
            assert await tx.blobs.linked("one", D1) is None
            assert (await tx.blobs.get(D1)).size == 10  # content stays until collected
            assert await tx.blobs.at_path("blobs/one")
            await tx.blobs.set_path(D1, "blobs/three")
            assert (await tx.blobs.get(D1)).path == "blobs/three"
            assert not await tx.blobs.at_path("blobs/one")

    async def test_uploads_belong_to_one_repository(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            await tx.repos.ensure("r")
            created = await tx.uploads.create("a" * 32, "r")
            assert created.size == 0
            assert await tx.uploads.set_size("a" * 32, 42, b"state")
            assert not await tx.uploads.set_size("b" * 32, 42, b"state")
        async with store.transaction() as tx:
            record = await tx.uploads.get("a" * 32, "r")
            assert (record.size, record.hash_state) == (42, b"state")
            assert await tx.uploads.get("a" * 32, "other") is None
            assert (await tx.uploads.get_any("a" * 32)).repository == "r"
            assert [u.id for u in await tx.uploads.older_than(time.time() + 1)] == ["a" * 32]
            assert await tx.uploads.older_than(time.time() - 3600) == []
            assert await tx.uploads.delete("a" * 32)
            assert not await tx.uploads.delete("a" * 32)
            assert await tx.uploads.get("a" * 32, "r") is None

    async def test_manifests_tags_and_cascade(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            await tx.repos.ensure("r")
            refs = [ManifestReference(D2, "blob"), ManifestReference(D2, "blob")]
            assert await tx.manifests.add(manifest("r", D1), refs)
            assert not await tx.manifests.add(manifest("r", D1), refs)
            await tx.tags.set("r", "latest", D1)
            await tx.tags.set("r", "v1", D1)
        async with store.transaction() as tx:
            assert (await tx.manifests.get("r", D1)).payload == b"{}\n"
            assert (await tx.manifests.get_by_tag("r", "latest")).digest == D1
            assert await tx.manifests.get_by_tag("r", "nope") is None
            assert await tx.manifests.get("other", D1) is None
            assert await tx.manifests.missing("r", [D1, D3]) == [D3]
            assert await tx.tags.get("r", "v1") == D1
            assert await tx.tags.delete_pointing_to("r", D1) == ["latest", "v1"]
            assert await tx.manifests.delete("r", D1)
            assert not await tx.manifests.delete("r", D1)
            assert await tx.tags.list("r", None, None) == []

    async def test_tags_move_and_list_lexically(self, store: MetadataStore) -> None:
        tags = ["v1", "V1", "latest", "1.0", "1.0-rc", "_x", "a.b", "a-b"]
        async with store.transaction() as tx:
            await tx.repos.ensure("r")
            await tx.manifests.add(manifest("r", D1), [])
            await tx.manifests.add(manifest("r", D4), [])
            for tag in tags:
                await tx.tags.set("r", tag, D1)
            await tx.tags.set("r", "latest", D4)
        async with store.transaction(readonly=True) as tx:
            assert await tx.tags.list("r", None, None) == sorted(tags)
            assert await tx.tags.list("r", sorted(tags)[1], 2) == sorted(tags)[2:4]
            assert await tx.tags.get("r", "latest") == D4
        async with store.transaction() as tx:
            assert await tx.tags.delete("r", "latest")
            assert not await tx.tags.delete("r", "latest")

    async def test_referrers_filter_by_artifact_type(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            await tx.repos.ensure("r")
            await tx.manifests.add(manifest("r", D1), [])
            await tx.manifests.add(manifest("r", D2, subject=D1, artifact="application/sig"), [])
            await tx.manifests.add(manifest("r", D3, subject=D1, artifact="application/sbom"), [])
        async with store.transaction(readonly=True) as tx:
            both = await tx.manifests.referrers("r", D1, None)
            assert sorted(m.digest for m in both) == [D2, D3]
            sigs = await tx.manifests.referrers("r", D1, "application/sig")
            assert [(m.digest, m.annotations) for m in sigs] == [(D2, {"k": "v"})]
            assert await tx.manifests.referrers("other", D1, None) == []

    async def test_failed_transaction_leaves_nothing(self, store: MetadataStore) -> None:
        called = []
        with pytest.raises(_Boom):
            async with store.transaction() as tx:
                await tx.repos.ensure("r")
                await tx.blobs.add(D1, 1, "p")
                await tx.outbox.add("Thing", {"a": 1})
                tx.after_commit.append(lambda: called.append(True))
                raise _Boom
        async with store.transaction(readonly=True) as tx:
            assert not await tx.repos.exists("r")
            assert await tx.blobs.get(D1) is None
            assert await tx.outbox.pending(10) == []
        assert called == []

    async def test_outbox_keeps_events_in_order(self, store: MetadataStore) -> None:
        called = []
        async with store.transaction() as tx:
            await tx.outbox.add("A", {"n": 1})
            await tx.outbox.add("B", {"n": 2})
            tx.after_commit.append(lambda: called.append(True))
        assert called == [True]
        async with store.transaction(readonly=True) as tx:
            events = await tx.outbox.pending(10)
        assert [(e.topic, e.payload) for e in events] == [("A", {"n": 1}), ("B", {"n": 2})]

    async def test_concurrent_writers_of_the_same_content_all_succeed(
        self, store: MetadataStore
    ) -> None:
        async def push(i: int) -> None:
            async with store.transaction() as tx:
                await tx.repos.ensure("r")
                await tx.blobs.add(D2, 5, "p")
                await tx.blobs.link("r", D2)
                await tx.manifests.add(manifest("r", D1), [ManifestReference(D2, "blob")])
                await tx.tags.set("r", "latest", D1)
                await tx.tags.set("r", f"t{i}", D1)

        await asyncio.gather(*(push(i) for i in range(20)))
        async with store.transaction(readonly=True) as tx:
            assert await tx.repos.list(None, None) == ["r"]
            assert len(await tx.tags.list("r", None, None)) == 21
            assert (await tx.manifests.get_by_tag("r", "latest")).digest == D1

    async def test_job_leases_let_one_owner_run_each_due_job(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            await tx.jobs.ensure("sweep", first_run_at=100.0)
            await tx.jobs.ensure("sweep", first_run_at=999.0)  # idempotent: keeps the first
            assert not await tx.jobs.claim(
                "sweep", "a", now=50.0, lease_until=60.0, interval=1000.0
            )  # not due
            assert await tx.jobs.claim("sweep", "a", now=100.0, lease_until=160.0, interval=1000.0)
            assert not await tx.jobs.claim(
                "sweep", "b", now=120.0, lease_until=180.0, interval=1000.0
            )
            await tx.jobs.finish("sweep", "b", now=121.0, next_run_at=200.0, error=None)
            assert (await tx.jobs.get("sweep"))["lease_owner"] == "a"  # b never held it
        async with store.transaction() as tx:
            # a died: once its lease lapses, b may take over the run.
            assert await tx.jobs.claim("sweep", "b", now=161.0, lease_until=221.0, interval=1000.0)
            await tx.jobs.finish("sweep", "b", now=170.0, next_run_at=230.0, error="boom")
            job = await tx.jobs.get("sweep")
            assert (job["lease_owner"], job["next_run_at"], job["last_error"]) == (
                None,
                230.0,
                "boom",
            )
            assert not await tx.jobs.claim(
                "sweep", "a", now=229.0, lease_until=289.0, interval=1000.0
            )
            assert await tx.jobs.claim("sweep", "a", now=230.0, lease_until=290.0, interval=1000.0)
            await tx.jobs.finish("sweep", "a", now=231.0, next_run_at=5000.0, error=None)
            # Restarted with a shorter interval: due after it, not at the old schedule.
            assert not await tx.jobs.claim("sweep", "b", now=240.0, lease_until=300.0, interval=10)
            assert await tx.jobs.claim("sweep", "b", now=241.0, lease_until=301.0, interval=10)
