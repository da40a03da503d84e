"""The MetadataStore suite for supply-chain policies, allow-lists and the scan facts pulls are
judged by (tx.policies).

Subclass `MetadataPoliciesSuite` and provide a `store` fixture yielding an opened, empty store;
set `constraint_error` to what the backend raises when a row breaks a constraint. Scan reports
are written by the scan service's own sub-store; this suite writes its report rows with plain
SQL (`seed_report`), so that it tests the read side on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import insert

from dockyard.meta import schema as t
from dockyard.meta.auth_records import ProjectRecord
from dockyard.meta.base import MetadataStore, Transaction
from dockyard.meta.policy_store import SYSTEM, AllowlistEntry, PolicyFinding, PolicyRecord
from dockyard.meta.records import ManifestRecord

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
PEM = "-----BEGIN PUBLIC KEY-----\nMFkw…\n-----END PUBLIC KEY-----\n"

Finding = tuple[str, int, str, str]  # advisory, severity, package, version


async def add_project(store: MetadataStore, name: str) -> None:
    async with store.transaction() as tx:
        await tx.access.add_project(ProjectRecord(name, False, time.time(), "admin"))


async def seed_report(tx: Transaction, digest: str, findings: Sequence[Finding]) -> None:
    """A scan report of `digest` with `findings`, written as the scan service stores them."""
    conn: Any = tx.connection  # type: ignore[attr-defined]
    counts = {"critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0}
    await conn.execute(
        insert(t.scan_reports).values(
            digest=digest,
            scanner="dockyard/1",
            db_version="v1",
            scanned_at=time.time(),
            packages=len(findings),
            report=b"",
            **counts,
        )
    )
    for advisory, severity, package, version in findings:
        await conn.execute(
            insert(t.scan_findings).values(
                digest=digest,
                advisory_id=advisory,
                package=package,
                version=version,
                ecosystem="PyPI",
                severity=severity,
                first_seen_at=time.time(),
            )
        )


async def seed_advisory(tx: Transaction, advisory: str, aliases: Sequence[str]) -> None:
    conn: Any = tx.connection  # type: ignore[attr-defined]
    await conn.execute(
        insert(t.advisories).values(
            id=advisory,
            feed="PyPI",
            modified="2024-01-01T00:00:00Z",
            severity="CRITICAL",
            aliases=json.dumps(list(aliases)),
            body="{}",
        )
    )


@pytest.mark.anyio
class MetadataPoliciesSuite:
    constraint_error: type[Exception] = Exception

    async def test_a_policy_is_stored_replaced_and_goes_with_its_project(
        self, store: MetadataStore
    ) -> None:
        await add_project(store, "team")
        async with store.transaction(readonly=True) as tx:
            assert await tx.policies.get("team") is None
        first = PolicyRecord("team", False, True, "HIGH", True, (PEM, PEM + "x"), 10.0)
        async with store.transaction() as tx:
            await tx.policies.put(first)
        async with store.transaction(readonly=True) as tx:
            assert await tx.policies.get("team") == first
            assert await tx.policies.get("other") is None
        second = PolicyRecord("team", True, False, None, False, (), 11.0)
        async with store.transaction() as tx:
            await tx.policies.put(second)
        async with store.transaction(readonly=True) as tx:
            assert await tx.policies.get("team") == second
        async with store.transaction() as tx:
            assert await tx.access.delete_project("team")
        async with store.transaction(readonly=True) as tx:
            assert await tx.policies.get("team") is None

    async def test_a_policy_needs_its_project(self, store: MetadataStore) -> None:
        with pytest.raises(self.constraint_error):
            async with store.transaction() as tx:
                await tx.policies.put(PolicyRecord("nowhere", updated_at=1.0))

    async def test_the_allowlist_holds_the_project_and_system_entries_until_they_expire(
        self, store: MetadataStore
    ) -> None:
        entries = [
            AllowlistEntry("team", "GHSA-aaaa", None, "no fix", "alice", 1.0),
            AllowlistEntry("team", "CVE-2024-1", 100.0, "until the rebuild", "alice", 2.0),
            AllowlistEntry(SYSTEM, "GHSA-zzzz", 300.0, None, "admin", 3.0),
            AllowlistEntry("other", "GHSA-bbbb", None, None, "bob", 4.0),
        ]
        async with store.transaction() as tx:
            for entry in entries:
                await tx.policies.allow(entry)
        async with store.transaction(readonly=True) as tx:
            assert await tx.policies.allowlist("team", 50.0) == [entries[2], entries[1], entries[0]]
            assert await tx.policies.allowlist("team", 100.0) == [entries[2], entries[0]]
            assert await tx.policies.allowlist("team", 300.0) == [entries[0]]
            assert await tx.policies.allowlist("nobody", 0.0) == [entries[2]]
            assert await tx.policies.entries("team") == [entries[1], entries[0]]
            assert await tx.policies.entries(SYSTEM) == [entries[2]]

    async def test_allow_replaces_and_disallow_removes_one_entry(
        self, store: MetadataStore
    ) -> None:
        async with store.transaction() as tx:
            await tx.policies.allow(AllowlistEntry("team", "GHSA-aaaa", 5.0, "old", "a", 1.0))
            await tx.policies.allow(AllowlistEntry(SYSTEM, "GHSA-aaaa", None, None, "b", 1.0))
            await tx.policies.allow(AllowlistEntry("team", "GHSA-aaaa", None, "new", "c", 2.0))
        async with store.transaction(readonly=True) as tx:
            assert await tx.policies.entries("team") == [
                AllowlistEntry("team", "GHSA-aaaa", None, "new", "c", 2.0)
            ]
        async with store.transaction() as tx:
            assert await tx.policies.disallow("team", "GHSA-aaaa")
            assert not await tx.policies.disallow("team", "GHSA-aaaa")
            assert not await tx.policies.disallow("team", "GHSA-none")
        async with store.transaction(readonly=True) as tx:
            assert await tx.policies.entries("team") == []
            assert len(await tx.policies.entries(SYSTEM)) == 1

    async def test_forgetting_a_project_leaves_other_projects_and_the_system_alone(
        self, store: MetadataStore
    ) -> None:
        await add_project(store, "team")
        await add_project(store, "other")
        async with store.transaction() as tx:
            await tx.policies.put(PolicyRecord("team", updated_at=1.0))
            await tx.policies.put(PolicyRecord("other", updated_at=1.0))
            for project in ("team", "other", SYSTEM):
                await tx.policies.allow(AllowlistEntry(project, "GHSA-aaaa", None, None, "a", 1.0))
        async with store.transaction() as tx:
            await tx.policies.forget_project("team")
        async with store.transaction(readonly=True) as tx:
            assert await tx.policies.get("team") is None
            assert await tx.policies.entries("team") == []
            assert await tx.policies.get("other") is not None
            assert len(await tx.policies.entries("other")) == 1
            assert len(await tx.policies.entries(SYSTEM)) == 1

    async def test_scan_facts_say_what_was_scanned_and_what_was_found(
        self, store: MetadataStore
    ) -> None:
        async with store.transaction() as tx:
            await tx.repos.ensure("team/app")
            for digest in (D1, D2, D3):
                record = ManifestRecord("team/app", digest, "x", None, None, 2, b"{}")
                await tx.manifests.add(record, [])
            await seed_advisory(tx, "GHSA-crit", ["CVE-2024-0001", "PYSEC-1"])
            await seed_report(
                tx,
                D1,
                [
                    ("GHSA-low", 2, "six", "1.0"),
                    ("GHSA-crit", 5, "jinja2", "2.10"),
                    ("GHSA-high", 4, "urllib3", "1.0"),
                    ("GHSA-crit", 5, "jinja2-extra", "2.10"),
                ],
            )
            await seed_report(tx, D2, [])
            conn: Any = tx.connection  # type: ignore[attr-defined]
            await conn.execute(
                insert(t.scan_status).values(
                    repository="team/app",
                    digest=D3,
                    state="failed",
                    reason="push",
                    queued_at=1.0,
                    error="layer 2 is not a tar archive",
                )
            )
        async with store.transaction(readonly=True) as tx:
            facts = await tx.policies.scan_facts("team/app", [D1, D2, D3, D1], 4)
        assert list(facts) == [D1, D2, D3]
        aliases = ("CVE-2024-0001", "PYSEC-1")
        assert facts[D1].scanned and facts[D1].findings == (
            PolicyFinding("GHSA-crit", 5, "jinja2", "2.10", aliases),
            PolicyFinding("GHSA-crit", 5, "jinja2-extra", "2.10", aliases),
            PolicyFinding("GHSA-high", 4, "urllib3", "1.0"),
        )
        assert facts[D2].scanned and facts[D2].findings == ()
        assert not facts[D3].scanned and facts[D3].findings == ()
        assert (facts[D3].state, facts[D3].error) == ("failed", "layer 2 is not a tar archive")
        async with store.transaction(readonly=True) as tx:
            everything = await tx.policies.scan_facts("other/app", [D1], 0)
            assert [f.advisory_id for f in everything[D1].findings][-1] == "GHSA-low"
            assert everything[D1].state is None  # the status belongs to its repository
            assert await tx.policies.scan_facts("team/app", [], 0) == {}
