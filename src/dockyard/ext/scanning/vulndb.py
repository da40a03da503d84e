"""Importing OSV advisories into the metadata database, and looking them up for the matcher.

A source is what osv.dev publishes for offline use (`<Ecosystem>-all.zip`, one `<ID>.json`
per advisory), a directory of such files, or an http(s) URL of the zip. Reading and parsing
run in a worker thread (tens of megabytes of JSON must not stall the event loop); the rows
then replace the ecosystems' advisories in one transaction, so every replica sees the old
database or the new one, never half of each.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from dockyard.ext.scanning.matcher import Lookup
from dockyard.ext.scanning.osv import (
    Advisory,
    OsvFormatError,
    compact,
    normalize_name,
    parse_advisory,
)
from dockyard.ext.scanning.severity import rate
from dockyard.meta.advisory_records import AdvisoryRecord, FeedContent
from dockyard.meta.base import MetadataStore

# Part of every content hash: a change to what `compact` keeps changes the database version.
FORMAT = "dockyard-osv-1"
MAX_PROBLEMS = 20  # unreadable files named in a summary; the rest are only counted


class VulnDbError(Exception):
    """The source cannot be read as OSV advisories (missing, not a zip, download failed)."""


@dataclass(frozen=True, slots=True)
class ImportSummary:
    source: str
    feeds: dict[str, FeedContent]  # per ecosystem: advisories, withdrawn, content hash
    db_version: str
    skipped: int = 0  # files that are not OSV advisories
    problems: tuple[str, ...] = ()  # the first few of them, with the reason

    @property
    def advisories(self) -> int:
        return sum(f.advisories for f in self.feeds.values())


@dataclass(frozen=True, slots=True)
class _Parsed:
    records: list[AdvisoryRecord]
    feeds: dict[str, FeedContent]
    skipped: int
    problems: tuple[str, ...]


async def import_osv(
    store: MetadataStore, source: str | Path, *, client: httpx.AsyncClient | None = None
) -> ImportSummary:
    """Import advisories from a zip, a directory or an http(s) URL of a zip; replaces the
    advisories of every ecosystem the source holds. Idempotent: the same content gives the
    same database version."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory(prefix="dockyard-osv-") as scratch:
            path = Path(scratch) / "advisories.zip"
            await _download(text, path, client)
            parsed = await asyncio.to_thread(_read, path)
    else:
        parsed = await asyncio.to_thread(_read, Path(source))
    async with store.transaction() as tx:
        version = await tx.advisories.replace(parsed.feeds, parsed.records, text, time.time())
    return ImportSummary(text, parsed.feeds, version.db_version, parsed.skipped, parsed.problems)


async def _download(url: str, target: Path, client: httpx.AsyncClient | None) -> None:
    """Stream the download to a file: an ecosystem's zip can be hundreds of megabytes."""
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(60.0), follow_redirects=True)
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise VulnDbError(f"{url}: HTTP {response.status_code}")
            async with await anyio.open_file(target, "wb") as out:
                async for chunk in response.aiter_bytes(1 << 20):
                    await out.write(chunk)
    except httpx.HTTPError as err:
        raise VulnDbError(f"{url}: {err}") from err
    finally:
        if own:
            await http.aclose()


def _read(path: Path) -> _Parsed:
    latest: dict[str, Advisory] = {}
    skipped, problems = 0, []
    for name, data in _documents(path):
        try:
            advisory = parse_advisory(json.loads(data))
        except (ValueError, OsvFormatError) as err:  # JSONDecodeError is a ValueError
            skipped += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(f"{name}: {err}")
            continue
        if not advisory.affected:
            skipped += 1  # nothing to match it against
            continue
        known = latest.get(advisory.id)
        if known is None or advisory.modified > known.modified:
            latest[advisory.id] = advisory
    records = [_record(latest[key]) for key in sorted(latest)]
    return _Parsed(records, _feeds(records), skipped, tuple(problems))


def _documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, JSON bytes) of each advisory file, one at a time, in name order."""
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            yield str(file.relative_to(path)), file.read_bytes()
        return
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise VulnDbError(f"{path}: not a zip file or directory of OSV advisories ({err})") from err
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.filename.endswith(".json") and not info.is_dir():
                yield info.filename, archive.read(info)


def _record(advisory: Advisory) -> AdvisoryRecord:
    severity, score = rate(advisory)
    packages: tuple[tuple[str, str], ...] = ()
    if not advisory.withdrawn:  # withdrawn advisories are kept, but never matched
        packages = tuple(
            dict.fromkeys(
                (a.base_ecosystem, normalize_name(a.ecosystem, a.name)) for a in advisory.affected
            )
        )
    return AdvisoryRecord(
        id=advisory.id,
        feed=advisory.affected[0].base_ecosystem,
        modified=advisory.modified,
        body=compact(advisory),
        packages=packages,
        published=advisory.published or None,
        withdrawn=advisory.withdrawn or None,
        summary=advisory.title,
        severity=severity.name,
        score=score,
        aliases=advisory.identifiers,
    )


def _feeds(records: Sequence[AdvisoryRecord]) -> dict[str, FeedContent]:
    """Counts and a content hash per ecosystem (records come sorted by id)."""
    hashes: dict[str, Any] = {}  # feed → running sha256
    counts: dict[str, list[int]] = {}
    for record in records:
        digest = hashes.setdefault(record.feed, hashlib.sha256(FORMAT.encode()))
        digest.update(json.dumps(record.body, sort_keys=True, separators=(",", ":")).encode())
        tally = counts.setdefault(record.feed, [0, 0])
        tally[0] += 1
        tally[1] += 1 if record.withdrawn else 0
    return {
        feed: FeedContent(counts[feed][0], counts[feed][1], hashes[feed].hexdigest())
        for feed in sorted(hashes)
    }


def store_lookup(store: MetadataStore) -> Lookup:
    """The matcher's lookup over the store: one read transaction and query per batch."""

    async def lookup(keys: Sequence[tuple[str, str]]) -> Mapping[tuple[str, str], list[Advisory]]:
        async with store.transaction(readonly=True) as tx:
            found = await tx.advisories.lookup(keys)
        parsed: dict[str, Advisory] = {}
        result: dict[tuple[str, str], list[Advisory]] = {}
        for key, records in found.items():
            for record in records:
                if record.id not in parsed:
                    parsed[record.id] = parse_advisory(record.body)
                result.setdefault(key, []).append(parsed[record.id])
        return result

    return lookup
