"""What happened in the registry, as typed events. The topic is the class name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BlobUploaded:
    repository: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class BlobMounted:
    repository: str
    digest: str
    source: str


@dataclass(frozen=True, slots=True)
class BlobUnlinked:
    repository: str
    digest: str


@dataclass(frozen=True, slots=True)
class ManifestPushed:
    repository: str
    digest: str
    media_type: str
    size: int
    tag: str | None
    subject: str | None


@dataclass(frozen=True, slots=True)
class ManifestDeleted:
    repository: str
    digest: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TagDeleted:
    repository: str
    tag: str
    digest: str | None


@dataclass(frozen=True, slots=True)
class ManifestPulled:
    """A manifest was served by a GET. Not durable: `EventBus.notify`, never the outbox (a pull
    must stay a read)."""

    repository: str
    digest: str
    at: float


Event = (
    BlobUploaded
    | BlobMounted
    | BlobUnlinked
    | ManifestPushed
    | ManifestDeleted
    | TagDeleted
    | ManifestPulled
)
