"""The MetadataStore port: one transaction per request, narrow sub-stores on it."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from dockyard.meta.records import (
    BlobRecord,
    ManifestRecord,
    ManifestReference,
    OutboxEvent,
    UploadRecord,
)


class MetadataUnavailable(Exception):
    """The metadata database cannot be reached or is locked for too long."""


class RepoStore(Protocol):
    async def ensure(self, name: str) -> None: ...
    async def exists(self, name: str) -> bool: ...
    async def list(self, last: str | None, limit: int | None) -> list[str]: ...


class BlobStore(Protocol):
    async def add(self, digest: str, size: int, path: str) -> str:
        """Record the content at `path` unless already recorded; returns the path on record."""

    async def set_path(self, digest: str, path: str) -> None: ...
    async def at_path(self, path: str) -> bool:
        """Whether any blob's bytes are recorded at `path`."""

    async def get(self, digest: str) -> BlobRecord | None: ...
    async def link(self, repository: str, digest: str) -> None: ...
    async def linked(self, repository: str, digest: str) -> BlobRecord | None: ...
    async def unlink(self, repository: str, digest: str) -> bool: ...
    async def missing(self, repository: str, digests: Sequence[str]) -> list[str]: ...


class UploadStore(Protocol):
    async def create(self, upload_id: str, repository: str) -> UploadRecord: ...
    async def get(self, upload_id: str, repository: str) -> UploadRecord | None: ...
    async def get_any(self, upload_id: str) -> UploadRecord | None:
        """The upload whatever its repository (for housekeeping, never for requests)."""

    async def set_size(self, upload_id: str, size: int, hash_state: bytes) -> bool:
        """False when the upload no longer exists."""

    async def delete(self, upload_id: str) -> bool: ...
    async def older_than(self, cutoff: float) -> list[UploadRecord]: ...


class ManifestStore(Protocol):
    async def add(self, record: ManifestRecord, references: Sequence[ManifestReference]) -> bool:
        """Insert unless present; True when this call inserted it."""

    async def get(self, repository: str, digest: str) -> ManifestRecord | None: ...
    async def get_by_tag(self, repository: str, tag: str) -> ManifestRecord | None: ...
    async def delete(self, repository: str, digest: str) -> bool: ...
    async def missing(self, repository: str, digests: Sequence[str]) -> list[str]: ...
    async def referrers(
        self, repository: str, subject: str, artifact_type: str | None
    ) -> list[ManifestRecord]: ...


class TagStore(Protocol):
    async def set(self, repository: str, tag: str, digest: str) -> None: ...
    async def get(self, repository: str, tag: str) -> str | None: ...
    async def list(self, repository: str, last: str | None, limit: int | None) -> list[str]: ...
    async def delete(self, repository: str, tag: str) -> bool: ...
    async def delete_pointing_to(self, repository: str, digest: str) -> list[str]: ...


class OutboxStore(Protocol):
    async def add(self, topic: str, payload: dict[str, Any]) -> None: ...
    async def pending(self, limit: int) -> list[OutboxEvent]: ...


class JobStore(Protocol):
    async def ensure(self, name: str, first_run_at: float) -> None: ...

    async def claim(
        self, name: str, owner: str, now: float, lease_until: float, interval: float
    ) -> bool:
        """Take the job's lease if it is due (by its schedule, or `interval` after its last
        run) and nobody holds a live lease."""

    async def finish(
        self, name: str, owner: str, now: float, next_run_at: float, error: str | None
    ) -> None: ...

    async def get(self, name: str) -> dict[str, Any] | None: ...


class Transaction(Protocol):
    repos: RepoStore
    blobs: BlobStore
    uploads: UploadStore
    manifests: ManifestStore
    tags: TagStore
    outbox: OutboxStore
    jobs: JobStore
    after_commit: list[Any]


class MetadataStore(Protocol):
    def transaction(self, readonly: bool = False) -> AbstractAsyncContextManager[Transaction]: ...

    async def open(self, auto_upgrade: bool | None = None) -> Any:
        """Connect and check the schema version (upgrading it when allowed)."""

    async def upgrade(self) -> Any:
        """Bring the schema to this version's head."""

    async def close(self) -> None: ...
