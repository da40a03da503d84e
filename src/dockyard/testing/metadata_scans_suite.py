"""The MetadataStore suite for the scan queue, reports and findings (`tx.scans`).

Subclass `MetadataScansSuite` and provide a `store` fixture yielding an opened, empty store.
Report blobs are opaque bytes here; what they say is tested with the scanning extension.
"""

from __future__ import annotations

import asyncio

import pytest

from dockyard.meta.base import MetadataStore
from dockyard.meta.records import ManifestRecord
from dockyard.meta.scan_store import FindingRow, ReportRow, SeverityCounts

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
OCI = "application/vnd.oci.image.manifest.v1+json"
LEASE = 100.0


async def _artifacts(store: MetadataStore, *pairs: tuple[str, str]) -> None:
    async with store.transaction() as tx:
        for repository, digest in pairs:
            await tx.repos.ensure(repository)
            record = ManifestRecord(repository, digest, OCI, None, None, 2, b"{}")
            await tx.manifests.add(record, [])


async def _enqueue(store: MetadataStore, repo: str, digest: str, now: float = 1.0) -> bool:
    async with store.transaction() as tx:
        return await tx.scans.enqueue(repo, digest, "push", now)


async def _claim(store: MetadataStore, owner: str, now: float = 10.0, attempts: int = 3):  # type: ignore[no-untyped-def]
    async with store.transaction() as tx:
        return await tx.scans.claim(owner, now, now + LEASE, attempts)


async def _finish(
    store: MetadataStore, repo: str, digest: str, owner: str, **kw: object
) -> str | None:
    async with store.transaction() as tx:
        return await tx.scans.finish(repo, digest, owner, 20.0, **kw)  # type: ignore[arg-type]


def _report(digest: str, counts: SeverityCounts, db: str = "v1", at: float = 5.0) -> ReportRow:
    return ReportRow(digest, "dockyard/1.0", db, at, 7, counts, b"blob:" + digest.encode())


def _finding(advisory: str, package: str = "jinja2", severity: int = 4) -> FindingRow:
    return FindingRow(advisory, package, "2.10", "PyPI", severity, "2.11.3")


async def _save(
    store: MetadataStore, report: ReportRow, findings: list[FindingRow], now: float
) -> None:
    async with store.transaction() as tx:
        await tx.scans.save_report(report, findings, now)


@pytest.mark.anyio
class MetadataScansSuite:
    async def test_the_queue_hands_out_the_oldest_row_once(self, store: MetadataStore) -> None:
        await _artifacts(store, ("a/x", D1), ("a/x", D2), ("b/y", D1))
        assert await _enqueue(store, "a/x", D2, now=2.0)
        assert await _enqueue(store, "a/x", D1, now=1.0)
        assert not await _enqueue(store, "a/x", D1, now=3.0)  # already queued
        first = await _claim(store, "w1")
        assert (first.repository, first.digest, first.state) == ("a/x", D1, "running")
        assert (first.lease_owner, first.lease_until, first.attempts) == ("w1", 10 + LEASE, 1)
        assert (first.started_at, first.reason) == (10.0, "push")
        second = await _claim(store, "w2")
        assert second.digest == D2
        assert await _claim(store, "w3") is None
        async with store.transaction(readonly=True) as tx:
            assert await tx.scans.queue_counts() == {
                "queued": 0,
                "running": 2,
                "done": 0,
                "failed": 0,
            }
            assert set(await tx.scans.status("a/x", [D1, D2, D3])) == {D1, D2}
            assert await tx.scans.status("b/y", [D1]) == {}
            assert await tx.scans.status("a/x", []) == {}

    async def test_concurrent_workers_never_take_the_same_row(self, store: MetadataStore) -> None:
        pairs = [("c/z", d) for d in (D1, D2, D3)]
        await _artifacts(store, *pairs)
        for repo, digest in pairs:
            await _enqueue(store, repo, digest)
        claimed = await asyncio.gather(*(_claim(store, f"w{i}") for i in range(6)))
        taken = [c.digest for c in claimed if c is not None]
        assert sorted(taken) == [D1, D2, D3]

    async def test_progress_and_finish_need_the_lease(self, store: MetadataStore) -> None:
        await _artifacts(store, ("a/x", D1))
        await _enqueue(store, "a/x", D1)
        await _claim(store, "w1")
        async with store.transaction() as tx:
            assert await tx.scans.progress("a/x", D1, "w1", 1, 3, 500.0)
            assert not await tx.scans.progress("a/x", D1, "intruder", 2, 3, 500.0)
            status = (await tx.scans.status("a/x", [D1]))[D1]
        assert (status.progress_done, status.progress_total, status.lease_until) == (1, 3, 500.0)
        assert await _finish(store, "a/x", D1, "intruder") is None
        assert await _finish(store, "a/x", D1, "w1") == "done"
        async with store.transaction(readonly=True) as tx:
            done = (await tx.scans.status("a/x", [D1]))[D1]
        assert (done.state, done.finished_at, done.progress_done, done.error) == (
            "done",
            20.0,
            3,
            None,
        )
        assert done.lease_owner is None and done.lease_until is None

    async def test_errors_are_retried_then_fail(self, store: MetadataStore) -> None:
        await _artifacts(store, ("a/x", D1))
        await _enqueue(store, "a/x", D1)
        await _claim(store, "w1")
        state = await _finish(store, "a/x", D1, "w1", error="layer missing", max_attempts=2)
        assert state == "queued"
        async with store.transaction(readonly=True) as tx:
            waiting = (await tx.scans.status("a/x", [D1]))[D1]
        assert (waiting.queued_at, waiting.error, waiting.attempts) == (20.0, "layer missing", 1)
        again = await _claim(store, "w2", now=30.0)
        assert again is not None and again.attempts == 2
        assert await _finish(store, "a/x", D1, "w2", error="still", max_attempts=2) == "failed"
        async with store.transaction(readonly=True) as tx:
            failed = (await tx.scans.status("a/x", [D1]))[D1]
        assert (failed.state, failed.error, failed.finished_at) == ("failed", "still", 20.0)
        # A failed (or done) row is queued again on request, a running one is left alone.
        assert await _enqueue(store, "a/x", D1, now=40.0)
        async with store.transaction(readonly=True) as tx:
            queued = (await tx.scans.status("a/x", [D1]))[D1]
        assert (queued.state, queued.attempts, queued.error, queued.queued_at) == (
            "queued",
            0,
            None,
            40.0,
        )
        await _claim(store, "w3", now=50.0)
        assert not await _enqueue(store, "a/x", D1, now=60.0)

    async def test_an_expired_lease_is_taken_over_until_attempts_run_out(
        self, store: MetadataStore
    ) -> None:
        await _artifacts(store, ("a/x", D1))
        await _enqueue(store, "a/x", D1)
        await _claim(store, "dead", now=10.0)
        assert await _claim(store, "w2", now=10.0 + LEASE / 2) is None  # lease still live
        taken = await _claim(store, "w2", now=11.0 + LEASE, attempts=2)
        assert taken is not None and (taken.lease_owner, taken.attempts) == ("w2", 2)
        assert await _finish(store, "a/x", D1, "dead") is None  # the old worker lost it
        assert await _claim(store, "w3", now=500.0, attempts=2) is None
        async with store.transaction(readonly=True) as tx:
            failed = (await tx.scans.status("a/x", [D1]))[D1]
        assert failed.state == "failed" and "lease" in (failed.error or "")

    async def test_deleting_the_manifest_drops_its_queue_row(self, store: MetadataStore) -> None:
        await _artifacts(store, ("a/x", D1))
        await _enqueue(store, "a/x", D1)
        async with store.transaction() as tx:
            await tx.manifests.delete("a/x", D1)
        async with store.transaction(readonly=True) as tx:
            assert await tx.scans.status("a/x", [D1]) == {}

    async def test_reports_go_with_the_last_repository_holding_the_digest(
        self, store: MetadataStore
    ) -> None:
        await _artifacts(store, ("a/x", D1), ("b/y", D1))
        await _save(store, _report(D1, SeverityCounts(high=1)), [_finding("PYSEC-1")], now=1.0)
        async with store.transaction() as tx:
            await tx.manifests.delete("a/x", D1)
            assert await tx.scans.drop_unheld(D1) == 0  # b/y still holds it
        async with store.transaction(readonly=True) as tx:
            assert await tx.scans.report(D1) is not None
        async with store.transaction() as tx:
            await tx.manifests.delete("b/y", D1)
            assert await tx.scans.drop_unheld(D1) == 1
        async with store.transaction(readonly=True) as tx:
            assert await tx.scans.report(D1) is None
            assert await tx.scans.findings(D1) == []

    async def test_reports_keep_when_a_finding_was_first_seen(self, store: MetadataStore) -> None:
        counts = SeverityCounts(high=2)
        first = [_finding("PYSEC-1"), _finding("PYSEC-2")]
        await _save(store, _report(D1, counts), first, now=100.0)
        second = [_finding("PYSEC-2"), _finding("PYSEC-3", severity=5)]
        await _save(store, _report(D1, SeverityCounts(1, 1), db="v2", at=6.0), second, now=200.0)
        async with store.transaction(readonly=True) as tx:
            report = await tx.scans.report(D1)
            found = await tx.scans.findings(D1)
            summaries = await tx.scans.summaries([D1, D2])
        assert report is not None and report.report == b"blob:" + D1.encode()
        assert (report.db_version, report.scanned_at) == ("v2", 6.0)
        assert report.counts == SeverityCounts(critical=1, high=1)
        assert [(f.advisory_id, f.first_seen_at) for f in found] == [
            ("PYSEC-3", 200.0),
            ("PYSEC-2", 100.0),
        ]
        assert found[0] == FindingRow("PYSEC-3", "jinja2", "2.10", "PyPI", 5, "2.11.3", 200.0)
        assert list(summaries) == [D1] and summaries[D1].report is None
        assert summaries[D1].packages == 7 and summaries[D1].counts.total == 2

    async def test_the_newest_report_wins_over_scanners(self, store: MetadataStore) -> None:
        old = ReportRow(D1, "trivy/0.50", "t1", 5.0, 3, SeverityCounts(critical=1), b"trivy")
        await _save(store, old, [], now=1.0)
        await _save(store, _report(D1, SeverityCounts(), at=9.0), [], now=2.0)
        # A newer version of a scanner replaces its older version's report.
        newer = ReportRow(D1, "trivy/0.51", "t2", 8.0, 3, SeverityCounts(low=1), b"trivy2")
        await _save(store, newer, [], now=3.0)
        async with store.transaction(readonly=True) as tx:
            report = await tx.scans.report(D1)
            summary = (await tx.scans.summaries([D1]))[D1]
            breakdown = await tx.scans.breakdown(None)
        assert report is not None and report.scanner == "dockyard/1.0"
        assert summary.scanner == "dockyard/1.0"
        assert breakdown.artifacts == 0  # no queue row: not in any repository

    async def test_long_names_and_duplicate_findings_fit(self, store: MetadataStore) -> None:
        long_name = "p" * 400
        findings = [
            _finding("GHSA-x", long_name, severity=2),
            _finding("GHSA-x", long_name + "q", severity=3),  # the same once cut to size
        ]
        await _save(store, _report(D1, SeverityCounts(medium=1)), findings, now=1.0)
        async with store.transaction(readonly=True) as tx:
            [row] = await tx.scans.findings(D1)
        assert (len(row.package), row.severity) == (300, 3)

    async def test_stale_reports_page_by_repository_and_digest(self, store: MetadataStore) -> None:
        await _artifacts(store, ("a/x", D1), ("a/x", D2), ("b/y", D1), ("b/y", D3))
        for repo, digest in (("a/x", D1), ("a/x", D2), ("b/y", D1), ("b/y", D3)):
            await _enqueue(store, repo, digest)
        await _save(store, _report(D1, SeverityCounts(), db="v1"), [], now=1.0)
        await _save(store, _report(D2, SeverityCounts(), db="v2"), [], now=1.0)
        # D3 has no report: never scanned, so not "stale" (it is queued anyway).
        async with store.transaction(readonly=True) as tx:
            assert await tx.scans.stale("v2", 10) == [("a/x", D1), ("b/y", D1)]
            assert await tx.scans.stale("v2", 1) == [("a/x", D1)]
            assert await tx.scans.stale("v2", 5, after=("a/x", D1)) == [("b/y", D1)]
            assert await tx.scans.stale("v1", 10) == [("a/x", D2)]

    async def test_breakdown_and_most_exposed_per_project(self, store: MetadataStore) -> None:
        await _artifacts(store, ("a/x", D1), ("a/x", D2), ("b/y", D1), ("b/y", D3))
        for repo, digest in (("a/x", D1), ("a/x", D2), ("b/y", D1), ("b/y", D3)):
            await _enqueue(store, repo, digest)
        await _save(store, _report(D1, SeverityCounts(critical=1, low=2)), [], now=1.0)
        await _save(store, _report(D2, SeverityCounts(high=3, unknown=1)), [], now=1.0)
        await _save(store, _report(D3, SeverityCounts()), [], now=1.0)
        async with store.transaction(readonly=True) as tx:
            everything = await tx.scans.breakdown(None)
            only_a = await tx.scans.breakdown(["a"])
            nothing = await tx.scans.breakdown(["zzz"])
            exposed = await tx.scans.most_exposed(10, None)
            exposed_b = await tx.scans.most_exposed(10, ["b"])
            top = await tx.scans.most_exposed(1, None)
        assert everything.artifacts == 4 and everything.clean == 1
        assert everything.findings == SeverityCounts(critical=2, high=3, low=4, unknown=1)
        assert everything.worst == SeverityCounts(critical=2, high=1)
        assert only_a.artifacts == 2 and only_a.findings == SeverityCounts(1, 3, 0, 2, 1)
        assert only_a.worst == SeverityCounts(critical=1, high=1) and only_a.clean == 0
        assert nothing.artifacts == 0 and nothing.findings.total == 0
        assert [(e.repository, e.digest) for e in exposed] == [
            ("a/x", D1),
            ("b/y", D1),
            ("a/x", D2),
        ]
        assert exposed[0].counts == SeverityCounts(critical=1, low=2)
        assert exposed[0].db_version == "v1" and exposed[0].scanned_at == 5.0
        assert [(e.repository, e.digest) for e in exposed_b] == [("b/y", D1)]
        assert len(top) == 1

    async def test_which_artifacts_an_advisory_affects(self, store: MetadataStore) -> None:
        await _artifacts(store, ("a/x", D1), ("b/y", D1), ("b/y", D2))
        for repo, digest in (("a/x", D1), ("b/y", D1), ("b/y", D2)):
            await _enqueue(store, repo, digest)
        await _save(store, _report(D1, SeverityCounts(high=2)), [_finding("A-1")], now=100.0)
        findings = [_finding("A-1", "requests"), _finding("A-2", "requests")]
        await _save(store, _report(D2, SeverityCounts(high=2)), findings, now=200.0)
        async with store.transaction(readonly=True) as tx:
            one = await tx.scans.affected_by(["A-1"], 10)
            scoped = await tx.scans.affected_by(["A-1", "A-2"], 10, ["b"])
            capped = await tx.scans.affected_by(["A-1"], 1)
            none = await tx.scans.affected_by([], 10)
            new = await tx.scans.newly_affected(150.0, 10)
            new_in_a = await tx.scans.newly_affected(0.0, 10, ["a"])
        assert [(a.repository, a.digest, a.finding.package) for a in one] == [
            ("a/x", D1, "jinja2"),
            ("b/y", D1, "jinja2"),
            ("b/y", D2, "requests"),
        ]
        assert [(a.digest, a.finding.advisory_id) for a in scoped] == [
            (D1, "A-1"),
            (D2, "A-1"),
            (D2, "A-2"),
        ]
        assert len(capped) == 1 and none == []
        assert [(a.repository, a.finding.advisory_id, a.finding.first_seen_at) for a in new] == [
            ("b/y", "A-1", 200.0),
            ("b/y", "A-2", 200.0),
        ]
        assert [(a.repository, a.finding.advisory_id) for a in new_in_a] == [("a/x", "A-1")]
