"""Blob uploads: monolithic, chunked and streamed, plus cross-repository mounts.

Bytes go straight from the request to the storage driver's writer while a digest runs over them;
an upload only becomes a blob after its digest is verified, then it is moved into place and
recorded in one metadata transaction. Any failure discards the upload, so a half-written or
mismatched object is never visible.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from dockyard.errors import Code, RegistryError
from dockyard.events.bus import EventBus
from dockyard.events.types import BlobMounted, BlobUploaded
from dockyard.meta.base import MetadataStore
from dockyard.oci.digest import Digest, InvalidDigest, new_hasher
from dockyard.oci.names import InvalidName, validate_name
from dockyard.registry.hashing import UploadHashes, hash_stored
from dockyard.storage import layout
from dockyard.storage.base import PathNotFound, StorageDriver

_CONTENT_RANGE = re.compile(r"^(?:bytes )?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


@dataclass(frozen=True, slots=True)
class UploadState:
    id: str
    repository: str
    size: int


def parse_digest(text: str | None) -> Digest:
    if not text:
        raise RegistryError(Code.DIGEST_INVALID, "the digest query parameter is required")
    try:
        return Digest.parse(text)
    except InvalidDigest as exc:
        raise RegistryError(Code.DIGEST_INVALID, str(exc)) from None


class UploadService:
    def __init__(self, storage: StorageDriver, store: MetadataStore, bus: EventBus) -> None:
        self.storage = storage
        self.store = store
        self.bus = bus
        self.hashes = UploadHashes()
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self, repository: str) -> UploadState:
        upload_id = uuid.uuid4().hex
        async with self.store.transaction() as tx:
            await tx.uploads.create(upload_id, repository)
        self.hashes.keep(upload_id, 0, hashlib.sha256())
        return UploadState(upload_id, repository, 0)

    async def status(self, repository: str, upload_id: str) -> UploadState:
        return await self._get(repository, upload_id)

    async def append(
        self,
        repository: str,
        upload_id: str,
        body: AsyncIterator[bytes],
        content_range: str | None,
        content_length: int | None,
    ) -> UploadState:
        async with self._locked(upload_id):
            state = await self._get(repository, upload_id)
            hasher = await self._resume(state, content_range, content_length)
            size = await self._stream(state, body, hasher, content_length)
            async with self.store.transaction() as tx:
                if not await tx.uploads.set_size(upload_id, size):
                    raise _unknown_upload(upload_id)  # swept while its bytes were arriving
            self.hashes.keep(upload_id, size, hasher)
            return UploadState(upload_id, repository, size)

    async def finish(
        self,
        repository: str,
        upload_id: str,
        digest_text: str | None,
        body: AsyncIterator[bytes],
        content_range: str | None,
        content_length: int | None,
    ) -> Digest:
        digest = parse_digest(digest_text)
        async with self._locked(upload_id):
            state = await self._get(repository, upload_id)
            hasher = await self._resume(state, content_range, content_length)
            size = await self._stream(state, body, hasher, content_length)
            if digest.algorithm != "sha256":
                hasher = await hash_stored(
                    self.storage, layout.upload_path(upload_id), digest.algorithm
                )
            await self._verify_and_store(state, digest, hasher.hexdigest(), size)
            return digest

    async def upload_monolithic(
        self,
        repository: str,
        digest_text: str | None,
        body: AsyncIterator[bytes],
        content_length: int | None,
    ) -> Digest:
        digest = parse_digest(digest_text)
        state = await self.start(repository)
        self.hashes.forget(state.id)
        hasher = new_hasher(digest.algorithm)
        size = await self._stream(state, body, hasher, content_length)
        await self._verify_and_store(state, digest, hasher.hexdigest(), size)
        return digest

    async def cancel(self, repository: str, upload_id: str) -> None:
        async with self._locked(upload_id):
            state = await self._get(repository, upload_id)
            await self._discard(state.id)

    async def mount(self, repository: str, digest_text: str, source: str) -> Digest | None:
        """Link a blob another repository holds; None when it cannot (then upload instead)."""
        digest = parse_digest(digest_text)
        try:
            validate_name(source)
        except InvalidName as exc:
            raise RegistryError(Code.NAME_INVALID, f"mount source: {exc}") from None
        async with self.store.transaction() as tx:
            if await tx.blobs.linked(source, str(digest)) is None:
                return None
            await tx.repos.ensure(repository)
            await tx.blobs.link(repository, str(digest))
            await self.bus.publish(tx, BlobMounted(repository, str(digest), source))
        return digest

    async def expire(self, max_age_seconds: float) -> int:
        """Discard uploads nobody has touched for max_age_seconds; returns how many."""
        async with self.store.transaction(readonly=True) as tx:
            stale = await tx.uploads.older_than(time.time() - max_age_seconds)
        for upload in stale:
            await self._discard(upload.id)
        return len(stale) + await self._discard_orphaned_files()

    async def _discard_orphaned_files(self) -> int:
        """Delete upload files with no metadata row (left by a crash inside `_discard`).

        Rows are written before an upload's first byte, so a file without a row is garbage.
        """
        ids = {p.split("/")[1] for p in await self.storage.list("uploads") if p.count("/") >= 2}
        orphans = []
        async with self.store.transaction(readonly=True) as tx:
            for upload_id in ids:
                if layout.is_upload_id(upload_id) and await tx.uploads.get_any(upload_id) is None:
                    orphans.append(upload_id)
        for upload_id in orphans:
            await self._delete_upload_files(upload_id)
        return len(orphans)

    # -- internals ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _locked(self, upload_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(upload_id, None)

    async def _get(self, repository: str, upload_id: str) -> UploadState:
        if not layout.is_upload_id(upload_id):
            raise _unknown_upload(upload_id)
        async with self.store.transaction(readonly=True) as tx:
            record = await tx.uploads.get(upload_id, repository)
        if record is None:
            raise _unknown_upload(upload_id)
        return UploadState(record.id, record.repository, record.size)

    async def _resume(
        self, state: UploadState, content_range: str | None, content_length: int | None
    ) -> hashlib._Hash:
        """Check the client continues where the upload stands; return the running sha256."""
        if content_range:
            start, end = _parse_range(content_range)
            if start != state.size:
                raise RegistryError(
                    Code.RANGE_INVALID,
                    f"chunk starts at byte {start} but the upload has {state.size} bytes; "
                    f"send the chunk that starts at byte {state.size}",
                    headers=upload_headers(state),
                )
            if content_length is not None and content_length != end - start + 1:
                raise RegistryError(
                    Code.SIZE_INVALID,
                    f"Content-Range covers {end - start + 1} bytes but Content-Length "
                    f"is {content_length}",
                )
        path = layout.upload_path(state.id)
        try:
            stored = (await self.storage.stat(path)).size
        except PathNotFound:
            stored = 0  # nothing written yet: the file appears with the first byte
        if stored != state.size:
            # Bytes past the acknowledged size were written by a request that never finished.
            await self._discard(state.id)
            raise RegistryError(
                Code.BLOB_UPLOAD_INVALID,
                "the upload was interrupted and cannot be continued; start a new upload",
            )
        hasher = self.hashes.take(state.id, state.size)
        if hasher is None:
            hasher = await hash_stored(self.storage, path, "sha256") if stored else hashlib.sha256()
        return hasher

    async def _stream(
        self,
        state: UploadState,
        body: AsyncIterator[bytes],
        hasher: hashlib._Hash,
        content_length: int | None,
    ) -> int:
        writer = await self.storage.writer(layout.upload_path(state.id), append=True)
        received = 0
        try:
            async for chunk in body:
                if chunk:
                    hasher.update(chunk)
                    await writer.write(chunk)
                    received += len(chunk)
            if content_length is not None and received != content_length:
                raise RegistryError(
                    Code.SIZE_INVALID,
                    f"received {received} bytes but Content-Length said {content_length}",
                )
            await writer.close()
        except BaseException:
            await writer.close()
            await self._discard(state.id)
            raise
        return writer.size

    async def _verify_and_store(
        self, state: UploadState, digest: Digest, actual_hex: str, size: int
    ) -> None:
        if actual_hex != digest.hex:
            await self._discard(state.id)
            raise RegistryError(
                Code.DIGEST_INVALID,
                f"the uploaded content has digest {digest.algorithm}:{actual_hex}, "
                f"not {digest}; the upload was discarded",
            )
        upload_path = layout.upload_path(state.id)
        blob_path = layout.blob_path(digest)
        try:
            in_place = (await self.storage.stat(blob_path)).size == size
        except PathNotFound:
            in_place = False
        if not in_place:
            # Make the bytes durable before they become reachable under their digest.
            await (await self.storage.writer(upload_path, append=True)).commit()
            try:
                if await self._stored_size(upload_path) != size:
                    # Expired or cancelled while its bytes were arriving, so the file is gone
                    # (the append above may have made a new, empty one).
                    raise PathNotFound(upload_path)
                await self.storage.move(upload_path, blob_path)
            except PathNotFound:
                await self._discard(state.id)
                raise RegistryError(
                    Code.BLOB_UPLOAD_UNKNOWN,
                    f"upload {state.id!r} expired or was cancelled while its bytes were "
                    "arriving; start a new upload",
                ) from None
        async with self.store.transaction() as tx:
            await tx.repos.ensure(state.repository)
            await tx.blobs.add(str(digest), size)
            await tx.blobs.link(state.repository, str(digest))
            await tx.uploads.delete(state.id)
            await self.bus.publish(tx, BlobUploaded(state.repository, str(digest), size))
        self.hashes.forget(state.id)
        await self._delete_upload_files(state.id)

    async def _discard(self, upload_id: str) -> None:
        self.hashes.forget(upload_id)
        async with self.store.transaction() as tx:
            await tx.uploads.delete(upload_id)
        await self._delete_upload_files(upload_id)

    async def _stored_size(self, path: str) -> int | None:
        try:
            return (await self.storage.stat(path)).size
        except PathNotFound:
            return None

    async def _delete_upload_files(self, upload_id: str) -> None:
        with suppress(PathNotFound):
            await self.storage.delete(layout.upload_dir(upload_id))


def upload_headers(state: UploadState) -> dict[str, str]:
    return {
        "Location": f"/v2/{state.repository}/blobs/uploads/{state.id}",
        "Range": f"0-{max(state.size - 1, 0)}",
        "Docker-Upload-UUID": state.id,
    }


def _parse_range(text: str) -> tuple[int, int]:
    match = _CONTENT_RANGE.match(text.strip())
    if not match or int(match.group(2)) < int(match.group(1)):
        raise RegistryError(
            Code.RANGE_INVALID,
            f"Content-Range {text!r} is not of the form <start>-<end>",
        )
    return int(match.group(1)), int(match.group(2))


def _unknown_upload(upload_id: str) -> RegistryError:
    return RegistryError(
        Code.BLOB_UPLOAD_UNKNOWN, f"upload {upload_id!r} is unknown, finished or expired"
    )
