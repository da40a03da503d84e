"""The records the inventory hands out (see `dockyard.registry.inventory`): plain, frozen, and
JSON-ready through `dataclasses.asdict`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

RepositorySort = Literal["name", "last_push", "pulls"]
"""`name` ascending; `last_push` and `pulls` descending (most recent / most pulled first)."""

ReferrerKind = Literal["signature", "sbom", "attestation", "other"]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_last: str | None  # pass back as `last` for the next page; None on the last page


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    name: str
    project: str
    size: int  # bytes: distinct blobs linked to the repository plus its manifests
    tag_count: int
    artifact_count: int  # manifests in the repository (index children and referrers included)
    pulls: int  # manifest GETs, all time (flushed every few seconds)
    pushes: int  # manifest PUTs, all time
    last_pushed_at: float | None
    last_pulled_at: float | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    repository: str
    digest: str
    media_type: str
    artifact_type: str | None  # artifactType, or the config media type of a non-image artifact
    kind: Literal["image", "index", "artifact"]
    size: int  # manifest + config + layers; for an index, itself + the sum of its children
    tags: list[str]  # at most TAGS_SHOWN, in lexical order; see tag_count
    tag_count: int
    platforms: list[Platform]  # of an index's children; an image's own platform when known
    pushed_at: float
    pulls: int
    last_pulled_at: float | None
    referrer_count: int  # signatures, SBOMs, attestations... whose subject is this artifact
    subject: str | None  # set when this artifact is itself a referrer


@dataclass(frozen=True, slots=True)
class TagSummary:
    name: str
    digest: str
    updated_at: float
    media_type: str
    artifact_type: str | None
    size: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    created: str | None = None
    created_by: str | None = None
    comment: str | None = None
    empty_layer: bool = False


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image's config blob people look at."""

    created: str | None = None
    author: str | None = None
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    user: str | None = None
    exposed_ports: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str
    media_type: str
    size: int
    shared_count: int  # how many OTHER repositories link this blob too
    shared_with: list[str]  # some of them, only ones the principal may see (at most SHARED_SHOWN)
    annotations: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ChildArtifact:
    """A manifest an index lists."""

    digest: str
    media_type: str
    size: int  # its manifest + config + layers (from the registry when present)
    platform: Platform | None
    present: bool  # whether the child is stored in this repository
    artifact_type: str | None = None


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    artifact_type: str | None
    kind: ReferrerKind
    size: int
    created_at: float
    annotations: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class PullCommand:
    tool: str  # docker, podman, skopeo, oras
    label: str  # what it does, for people: "by digest", "by tag 'latest'"
    command: str


@dataclass(frozen=True, slots=True)
class ArtifactDetail:
    summary: ArtifactSummary
    manifest: dict[str, Any]  # the manifest JSON as pushed
    annotations: dict[str, str] | None
    config: ImageConfig | None  # an image's config blob (None for indexes and artifacts)
    config_digest: str | None
    layers: list[Layer]  # an image's layers / an artifact's blobs, in manifest order
    children: list[ChildArtifact]  # an index's manifests, in index order
    referrers: list[Referrer]
    pull_commands: list[PullCommand]


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: str  # ISO date (UTC), e.g. "2026-12-01"
    pulls: int
    pushes: int


@dataclass(frozen=True, slots=True)
class RepositoryPulls:
    name: str
    pulls: int
    last_pulled_at: float | None


@dataclass(frozen=True, slots=True)
class Activity:
    id: int | None
    at: float
    actor: str
    action: str  # audit action, e.g. "manifest.push", "login"
    target: str | None
    outcome: str


@dataclass(frozen=True, slots=True)
class Statistics:
    """For system admins the whole registry (`scope` "registry"); for anyone else the
    projects they may pull from (`scope` "visible": no users count, no audit activity beyond
    the projects whose audit log they may read)."""

    scope: Literal["registry", "visible"]
    storage_bytes: int  # bytes stored: every blob once
    logical_bytes: int  # the sum over repositories of their blobs: the cost without dedup
    saved_bytes: int  # logical - stored (never negative)
    projects: int
    repositories: int
    artifacts: int
    tags: int
    users: int | None
    days: list[DayUsage]  # oldest first, one entry per day, zeros included
    top_repositories: list[RepositoryPulls]
    recent: list[Activity]  # newest first


TAGS_SHOWN = 20
SHARED_SHOWN = 10
MAX_LIMIT = 1000
