"""Reading and unlinking blobs a repository can see."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import Code, RegistryError
from dockyard.events.bus import EventBus
from dockyard.events.types import BlobUnlinked
from dockyard.meta.base import MetadataStore
from dockyard.registry.uploads import parse_digest
from dockyard.storage.base import StorageDriver


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: str
    size: int
    path: str  # storage path, for the driver


class BlobService:
    def __init__(
        self, storage: StorageDriver, store: MetadataStore, bus: EventBus, delete_enabled: bool
    ) -> None:
        self.storage = storage
        self.store = store
        self.bus = bus
        self.delete_enabled = delete_enabled

    async def stat(self, repository: str, digest_text: str) -> BlobInfo:
        digest = parse_digest(digest_text)
        async with self.store.transaction(readonly=True) as tx:
            record = await tx.blobs.linked(repository, str(digest))
        if record is None:
            raise RegistryError(
                Code.BLOB_UNKNOWN, f"blob {digest} is not in repository {repository!r}"
            )
        return BlobInfo(str(digest), record.size, record.path)

    async def unlink(self, repository: str, digest_text: str) -> None:
        """Remove the blob from the repository; the bytes go when nothing else uses them."""
        if not self.delete_enabled:
            raise RegistryError(Code.UNSUPPORTED, "deleting is disabled on this registry")
        digest = parse_digest(digest_text)
        async with self.store.transaction() as tx:
            if not await tx.blobs.unlink(repository, str(digest)):
                raise RegistryError(
                    Code.BLOB_UNKNOWN, f"blob {digest} is not in repository {repository!r}"
                )
            await self.bus.publish(tx, BlobUnlinked(repository, str(digest)))
