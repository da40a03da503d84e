"""Plain records that cross the MetadataStore port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BlobRecord:
    digest: str
    size: int
    path: str  # where the bytes are in storage


@dataclass(frozen=True, slots=True)
class UploadRecord:
    id: str
    repository: str
    size: int
    created_at: float
    updated_at: float
    hash_state: bytes | None = None  # the running sha256 after `size` bytes


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    repository: str
    digest: str
    media_type: str
    artifact_type: str | None
    subject: str | None
    size: int
    payload: bytes
    annotations: dict[str, str] | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class ManifestReference:
    """A blob or manifest a manifest needs, by digest."""

    digest: str
    kind: str  # "blob" or "manifest"


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: int
    topic: str
    payload: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class PullCount:
    """Pulls of one manifest on one day (days since the epoch, UTC), counted in memory."""

    repository: str
    digest: str
    day: int
    pulls: int
    last_pulled_at: float


@dataclass(frozen=True, slots=True)
class RepositoryRow:
    name: str
    project: str
    created_at: float
    pulls: int
    pushes: int
    last_pushed_at: float | None
    last_pulled_at: float | None


@dataclass(frozen=True, slots=True)
class RepositoryCounts:
    blob_bytes: int  # distinct blobs linked
    manifest_bytes: int
    tags: int
    manifests: int


@dataclass(frozen=True, slots=True)
class TagRow:
    name: str
    digest: str
    updated_at: float
    media_type: str
    artifact_type: str | None
    manifest_size: int


@dataclass(frozen=True, slots=True)
class Totals:
    storage_bytes: int
    logical_bytes: int
    projects: int
    repositories: int
    artifacts: int
    tags: int
