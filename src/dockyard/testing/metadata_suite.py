"""The MetadataStore conformance suite.

Subclass `MetadataStoreSuite` and provide a `store` fixture yielding an opened, empty store.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from dockyard.meta.auth_records import AuditQuery, AuditRecord, LoginFailures, SigningKeyRecord
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


def audit_entries() -> list[AuditRecord]:
    """Six entries; `at` (100 … 105) names each in assertions."""
    return [
        AuditRecord(100.0, "alice", "user", "login.ok", "ok", address="10.0.0.1"),
        AuditRecord(
            101.0,
            "alice",
            "user",
            "push",
            "ok",
            target="team_a/app@sha256:1",
            detail={"tag": "v1", "nested": {"n": [1, 2.5, None, True]}, "ü": "ß ✓"},
        ),
        AuditRecord(102.0, "bob", "user", "login.failed", "denied", address="::1"),
        AuditRecord(103.0, "robot$ci", "robot", "push", "ok", target="teamXa/app@sha256:2"),
        AuditRecord(104.0, "bob", "user", "delete", "ok", target="team%/x"),
        AuditRecord(105.0, "system", "system", "login", "ok", detail={}),
    ]


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
            # b's finish was lost to an outage: b may run it again, nobody else till the lease ends.
            assert not await tx.jobs.claim("sweep", "a", now=260.0, lease_until=320.0, interval=10)
            assert await tx.jobs.claim("sweep", "b", now=260.0, lease_until=320.0, interval=10)

    async def test_audit_entries_come_back_newest_first_by_every_filter(
        self, store: MetadataStore
    ) -> None:
        entries = audit_entries()
        async with store.transaction() as tx:
            for entry in entries:
                await tx.audit.add(entry)

        async def found(**query: object) -> list[AuditRecord]:
            async with store.transaction(readonly=True) as tx:
                return await tx.audit.query(AuditQuery(**query))  # type: ignore[arg-type]

        async def ats(**query: object) -> list[int]:
            return [int(r.at) for r in await found(**query)]

        every = await found()
        assert [replace(r, id=None) for r in every] == entries[::-1]  # detail round-trips
        assert all(isinstance(r.id, int) for r in every)
        assert [r.id for r in every] == sorted((r.id for r in every), reverse=True)
        assert await ats(actor="alice") == [101, 100]
        assert await ats(action="push") == [103, 101]
        assert await ats(action="login.") == [102, 100]  # a prefix ends in "."
        assert await ats(action="login") == [105]  # otherwise exact
        assert await ats(action="log") == []
        assert await ats(target_prefix="team") == [104, 103, 101]
        assert await ats(target_prefix="team_a/") == [101]  # "_" is no wildcard
        assert await ats(target_prefix="team%") == [104]  # nor is "%"
        assert await ats(target_prefix="team%/x@") == []
        assert await ats(outcome="denied") == [102]
        assert await ats(since=101.0, until=104.0) == [103, 102, 101]  # [since, until)
        assert await ats(actor="alice", action="login.", outcome="ok") == [100]
        assert await ats(actor="bob", since=103.0) == [104]
        first = await found(limit=2)
        assert [int(r.at) for r in first] == [105, 104]
        assert await ats(before_id=first[-1].id, limit=2) == [103, 102]
        assert await ats(before_id=first[-1].id, actor="alice") == [101, 100]
        assert await ats(before_id=every[-1].id) == []

    async def test_audit_keeps_entries_with_overlong_values(self, store: MetadataStore) -> None:
        """Part of an entry comes from clients (the user name of a failed login): however long,
        the entry is written, and keeps the start of each value."""
        long = AuditRecord(1.0, "a" * 900, "user" * 50, "login" * 50, "failed" * 50, "t" * 900)
        async with store.transaction() as tx:
            await tx.audit.add(replace(long, address="1" * 900))
        async with store.transaction(readonly=True) as tx:
            (found,) = await tx.audit.query(AuditQuery())
        for given, kept, at_least in (
            (long.actor, found.actor, 255),
            (long.target, found.target, 400),  # a repository name and a sha512 digest
            (long.action, found.action, 64),
            ("1" * 900, found.address, 45),  # an IPv6 address
        ):
            assert kept is not None and given.startswith(kept) and len(kept) >= at_least

    async def test_login_failures_upsert_and_clear(self, store: MetadataStore) -> None:
        first = LoginFailures("user:alice", 1, 100.0, None)
        locked = LoginFailures("user:alice", 5, 100.0, 400.5)
        address = LoginFailures("address:10.0.0.1", 2, 50.0, None)
        async with store.transaction() as tx:
            assert await tx.throttle.get("user:alice") is None
            await tx.throttle.put(first)
            await tx.throttle.put(address)
        async with store.transaction() as tx:
            assert await tx.throttle.get("user:alice") == first
            await tx.throttle.put(locked)
        async with store.transaction() as tx:
            assert await tx.throttle.get("user:alice") == locked
            await tx.throttle.clear("user:alice")
            await tx.throttle.clear("user:nobody")
        async with store.transaction(readonly=True) as tx:
            assert await tx.throttle.get("user:alice") is None
            assert await tx.throttle.get("address:10.0.0.1") == address

    async def test_login_failures_count_in_one_window_and_lock(self, store: MetadataStore) -> None:
        async def fail(key: str, now: float, limit: int = 3) -> LoginFailures:
            async with store.transaction() as tx:
                return await tx.throttle.record_failure(key, now, 60.0, limit, 300.0)

        assert await fail("user:a", 100.0) == LoginFailures("user:a", 1, 100.0, None)
        assert await fail("user:a", 110.0) == LoginFailures("user:a", 2, 100.0, None)
        assert await fail("user:a", 120.0) == LoginFailures("user:a", 3, 100.0, 420.0)
        # A failure after the window starts a new one; a lock lasts its own time.
        assert await fail("user:a", 161.0) == LoginFailures("user:a", 1, 161.0, 420.0)
        assert await fail("user:b", 5.0, limit=1) == LoginFailures("user:b", 1, 5.0, 305.0)
        # Failures at once on many replicas all count.
        await asyncio.gather(*(fail("address:x", 200.0, limit=100) for _ in range(10)))
        async with store.transaction() as tx:
            assert await tx.throttle.get("address:x") == LoginFailures("address:x", 10, 200.0, None)
            await tx.throttle.clear("user:a")
        assert await fail("user:a", 170.0) == LoginFailures("user:a", 1, 170.0, None)
        # User names come from clients: long ones that share a start count on their own.
        one, two = ("user:" + "x" * 900 + end for end in "12")
        await fail(one, 300.0)
        assert await fail(one, 301.0) == LoginFailures(one, 2, 300.0, None)
        assert await fail(two, 302.0) == LoginFailures(two, 1, 302.0, None)
        async with store.transaction() as tx:
            await tx.throttle.clear(one)
            assert await tx.throttle.get(one) is None
            assert await tx.throttle.get(two) == LoginFailures(two, 1, 302.0, None)

    async def test_signing_keys_rotate_retire_and_prune(self, store: MetadataStore) -> None:
        k1, k2, k3 = (
            SigningKeyRecord(f"k{n}", "es256", f"pem{n}", created_at=100.0 * n) for n in (1, 2, 3)
        )
        session = SigningKeyRecord("s1", "session", "secret", created_at=150.0)
        async with store.transaction() as tx:
            for key in (k2, k1, session, k3):
                assert await tx.keys.add(key)
            assert not await tx.keys.add(replace(k1, material="other", kind="session"))
        async with store.transaction() as tx:
            assert await tx.keys.keys("es256") == [k3, k2, k1]  # newest first
            assert await tx.keys.keys("session") == [session]
            assert await tx.keys.keys("none") == []
            assert await tx.keys.retire("es256", before=250.0, at=260.0) == 2
            assert await tx.keys.retire("es256", before=250.0, at=270.0) == 0  # already retired
        async with store.transaction() as tx:
            retired = [replace(k2, retired_at=260.0), replace(k1, retired_at=260.0)]
            assert await tx.keys.keys("es256") == [k3, *retired]
            assert await tx.keys.keys("session") == [session]  # other kinds untouched
            assert await tx.keys.prune("es256", retired_before=260.0) == 0
            assert await tx.keys.prune("es256", retired_before=261.0) == 2
            assert await tx.keys.prune("es256", retired_before=1e12) == 0  # k3 is not retired
            assert await tx.keys.keys("es256") == [k3]
            assert await tx.keys.keys("session") == [session]
