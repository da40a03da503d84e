"""Turning a verified upload into a blob: where its bytes live and the one transaction that
makes it visible.

On a filesystem the upload is renamed to its digest's path (free and atomic). On an object store
a rename is a full copy, so the bytes stay where they were uploaded and metadata records that
path: nothing is copied after upload.
"""

from __future__ import annotations

from contextlib import suppress

from dockyard.events.bus import EventBus
from dockyard.events.types import BlobUploaded
from dockyard.meta.base import MetadataStore
from dockyard.oci.digest import Digest
from dockyard.storage import layout
from dockyard.storage.base import PathNotFound, StorageDriver, SupportsRename


class BlobPlacement:
    def __init__(self, storage: StorageDriver, store: MetadataStore, bus: EventBus) -> None:
        self.storage = storage
        self.store = store
        self.bus = bus

    async def publish(self, repository: str, upload_id: str, digest: Digest, size: int) -> bool:
        """Record the verified upload as blob `digest` in `repository`.

        False when the upload was swept meanwhile (its row is gone): nothing is published.
        Raises PathNotFound when its bytes are gone.
        """
        upload_path = layout.upload_path(upload_id)
        location = await self._place(upload_path, digest, size)
        async with self.store.transaction() as tx:
            if not await tx.uploads.delete(upload_id):
                return False
            on_record = await tx.blobs.add(str(digest), size, location)
            if on_record != location and not await self._exists(on_record):
                # The recorded copy is gone (removed by hand, lost): this one replaces it.
                await tx.blobs.set_path(str(digest), location)
                on_record = location
            await tx.repos.ensure(repository)
            await tx.blobs.link(repository, str(digest))
            await self.bus.publish(tx, BlobUploaded(repository, str(digest), size))
        if on_record != upload_path:
            # Renamed away (only an empty directory is left) or another copy is on record.
            with suppress(PathNotFound):
                await self.storage.delete(layout.upload_dir(upload_id))
        return True

    async def _place(self, upload_path: str, digest: Digest, size: int) -> str:
        if (await self.storage.stat(upload_path)).size != size:
            raise PathNotFound(upload_path)  # replaced under us: the upload was swept
        if isinstance(self.storage, SupportsRename):
            location = layout.blob_path(digest)
            await self.storage.rename(upload_path, location)
            return location
        return upload_path

    async def _exists(self, path: str) -> bool:
        try:
            await self.storage.stat(path)
        except PathNotFound:
            return False
        return True
