"""The MetadataStore suite for the offline vulnerability database (`tx.advisories`).

Subclass `MetadataAdvisoriesSuite` and provide a `store` fixture yielding an opened, empty
store. The bodies here are opaque JSON to the store; what they mean is tested with the
scanning extension.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dockyard.meta.advisory_records import AdvisoryRecord, FeedContent, VulnDbVersion
from dockyard.meta.base import MetadataStore


def _advisory(
    advisory_id: str, feed: str, *packages: tuple[str, str], withdrawn: str | None = None
) -> AdvisoryRecord:
    return AdvisoryRecord(
        id=advisory_id,
        feed=feed,
        modified="2024-01-02T03:04:05Z",
        body={
            "id": advisory_id,
            "affected": [{"package": {"ecosystem": e, "name": n}} for e, n in packages],
        },
        packages=() if withdrawn else packages,
        published="2024-01-01T00:00:00Z",
        withdrawn=withdrawn,
        summary=f"summary of {advisory_id}",
        severity="HIGH",
        score=7.5,
        aliases=(f"CVE-{advisory_id}",),
    )


async def _replace(
    store: MetadataStore, feed_hashes: dict[str, str], advisories: Sequence[AdvisoryRecord]
) -> VulnDbVersion:
    feeds = {
        feed: FeedContent(sum(1 for a in advisories if a.feed == feed), 0, content_hash)
        for feed, content_hash in feed_hashes.items()
    }
    async with store.transaction() as tx:
        return await tx.advisories.replace(feeds, advisories, "test", 1000.0)


async def _ids(store: MetadataStore, *keys: tuple[str, str]) -> dict[tuple[str, str], list[str]]:
    async with store.transaction(readonly=True) as tx:
        found = await tx.advisories.lookup(list(keys))
    return {key: [r.id for r in records] for key, records in found.items()}


@pytest.mark.anyio
class MetadataAdvisoriesSuite:
    async def test_advisories_are_found_by_ecosystem_and_name(self, store: MetadataStore) -> None:
        await _replace(
            store,
            {"PyPI": "h1"},
            [
                _advisory("A-1", "PyPI", ("PyPI", "jinja2")),
                _advisory("A-2", "PyPI", ("PyPI", "jinja2"), ("PyPI", "markupsafe")),
                _advisory("A-3", "PyPI", ("PyPI", "requests")),
            ],
        )
        found = await _ids(store, ("PyPI", "jinja2"), ("PyPI", "markupsafe"), ("Go", "jinja2"))
        assert found == {("PyPI", "jinja2"): ["A-1", "A-2"], ("PyPI", "markupsafe"): ["A-2"]}
        async with store.transaction(readonly=True) as tx:
            [record] = (await tx.advisories.lookup([("PyPI", "requests")]))[("PyPI", "requests")]
            assert await tx.advisories.lookup([]) == {}
            assert await tx.advisories.get("nope") is None
            stored = await tx.advisories.get("A-2")
        assert (record.id, record.summary, record.severity, record.score) == (
            "A-3",
            "summary of A-3",
            "HIGH",
            7.5,
        )
        assert record.aliases == ("CVE-A-3",) and record.body["id"] == "A-3"
        assert stored is not None and stored.published == "2024-01-01T00:00:00Z"
        assert len(stored.body["affected"]) == 2

    async def test_an_import_replaces_its_feed_and_leaves_others(
        self, store: MetadataStore
    ) -> None:
        await _replace(store, {"PyPI": "p1"}, [_advisory("P-1", "PyPI", ("PyPI", "a"))])
        await _replace(store, {"Go": "g1"}, [_advisory("G-1", "Go", ("Go", "stdlib"))])
        await _replace(store, {"PyPI": "p2"}, [_advisory("P-2", "PyPI", ("PyPI", "b"))])
        assert await _ids(store, ("PyPI", "a"), ("PyPI", "b"), ("Go", "stdlib")) == {
            ("PyPI", "b"): ["P-2"],
            ("Go", "stdlib"): ["G-1"],
        }
        async with store.transaction(readonly=True) as tx:
            assert await tx.advisories.get("P-1") is None
            assert await tx.advisories.counts() == {"Go": 1, "PyPI": 1}

    async def test_an_advisory_another_feed_wrote_is_taken_over(self, store: MetadataStore) -> None:
        both = (("npm", "lib"), ("Maven", "org:lib"))
        await _replace(store, {"npm": "n1"}, [_advisory("GHSA-1", "npm", *both)])
        await _replace(store, {"Maven": "m1"}, [_advisory("GHSA-1", "Maven", both[1])])
        assert await _ids(store, *both) == {both[1]: ["GHSA-1"]}
        async with store.transaction(readonly=True) as tx:
            assert await tx.advisories.counts() == {"Maven": 1}

    async def test_withdrawn_advisories_are_kept_but_never_found(
        self, store: MetadataStore
    ) -> None:
        withdrawn = _advisory("W-1", "Go", ("Go", "x"), withdrawn="2024-02-01T00:00:00Z")
        await _replace(store, {"Go": "g"}, [withdrawn, _advisory("G-2", "Go", ("Go", "x"))])
        assert await _ids(store, ("Go", "x")) == {("Go", "x"): ["G-2"]}
        async with store.transaction(readonly=True) as tx:
            kept = await tx.advisories.get("W-1")
        assert kept is not None and kept.withdrawn == "2024-02-01T00:00:00Z"

    async def test_the_database_version_follows_content_not_history(
        self, store: MetadataStore
    ) -> None:
        assert await self._current(store) is None
        first = await _replace(store, {"PyPI": "p1"}, [_advisory("P-1", "PyPI", ("PyPI", "a"))])
        both = await _replace(store, {"Go": "g1"}, [_advisory("G-1", "Go", ("Go", "b"))])
        again = await _replace(store, {"PyPI": "p1"}, [_advisory("P-1", "PyPI", ("PyPI", "a"))])
        changed = await _replace(store, {"PyPI": "p2"}, [_advisory("P-1", "PyPI", ("PyPI", "a"))])
        assert first.db_version != both.db_version
        assert again.db_version == both.db_version  # the same content: the same version
        assert changed.db_version not in (first.db_version, both.db_version)
        assert changed.state == {"Go": "g1", "PyPI": "p2"}
        current = await self._current(store)
        assert current is not None and current.db_version == changed.db_version
        assert current.feeds == {"PyPI": FeedContent(1, 0, "p2")}
        assert (current.source, current.imported_at) == ("test", 1000.0)
        async with store.transaction(readonly=True) as tx:
            history = await tx.advisories.history(10)
        assert [v.id for v in history] == sorted((v.id for v in history), reverse=True)
        assert [v.db_version for v in history][-2:] == [both.db_version, first.db_version]

    async def test_a_failed_import_leaves_the_previous_database(self, store: MetadataStore) -> None:
        await _replace(store, {"PyPI": "p1"}, [_advisory("P-1", "PyPI", ("PyPI", "a"))])
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                feeds = {"PyPI": FeedContent(1, 0, "p2")}
                await tx.advisories.replace(
                    feeds, [_advisory("P-2", "PyPI", ("PyPI", "b"))], "test", 2000.0
                )
                raise RuntimeError("the import fails before it commits")
        assert await _ids(store, ("PyPI", "a"), ("PyPI", "b")) == {("PyPI", "a"): ["P-1"]}
        current = await self._current(store)
        assert current is not None and current.state == {"PyPI": "p1"}

    async def test_thousands_of_rows_go_in_batches(self, store: MetadataStore) -> None:
        many = [
            _advisory(f"C-{i:04}", "crates.io", ("crates.io", f"crate-{i % 700}"))
            for i in range(1400)
        ]
        await _replace(store, {"crates.io": "c"}, many)
        keys = [("crates.io", f"crate-{i}") for i in range(700)]
        async with store.transaction(readonly=True) as tx:
            found = await tx.advisories.lookup(keys)
            assert await tx.advisories.counts() == {"crates.io": 1400}
        assert len(found) == 700
        assert [r.id for r in found[("crates.io", "crate-3")]] == ["C-0003", "C-0703"]

    async def _current(self, store: MetadataStore) -> VulnDbVersion | None:
        async with store.transaction(readonly=True) as tx:
            return await tx.advisories.current()
