"""Records of the offline vulnerability database that cross the MetadataStore port.

The metadata layer stores advisories as opaque, compact OSV JSON plus the few columns that
are queried or listed; what the JSON means is the scanning extension's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AdvisoryRecord:
    id: str
    feed: str  # the ecosystem whose import wrote it ("PyPI"); a re-import replaces its rows
    modified: str  # RFC 3339, as the advisory says
    body: dict[str, Any]  # compact OSV JSON
    # (ecosystem, package name) pairs the advisory is found under; none when withdrawn
    packages: tuple[tuple[str, str], ...] = ()
    published: str | None = None
    withdrawn: str | None = None
    summary: str = ""
    severity: str = "UNKNOWN"
    score: float | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedContent:
    """What one import brings for one ecosystem: the count and a hash of the content."""

    advisories: int
    withdrawn: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class VulnDbVersion:
    """One import, and the database version it left: a hash over the content hash of every
    ecosystem's latest import, so the same content always gives the same version."""

    id: int
    imported_at: float
    source: str
    feeds: dict[str, FeedContent]  # what this import brought
    db_version: str
    # every ecosystem in the database after this import → its content hash
    state: dict[str, str] = field(default_factory=dict)
