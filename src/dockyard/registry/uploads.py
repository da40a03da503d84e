"""Blob uploads: monolithic, chunked and streamed, plus cross-repository mounts.

Bytes go straight from the request to the storage driver's writer while a digest runs over them.
After every chunk the upload's size and digest state are saved in metadata, so the next chunk
may arrive on any process. An upload becomes a blob only once its digest is verified; any failure
discards it, so a half-written or mismatched object is never visible.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TypeVar

from dockyard.errors import Code, RegistryError
from dockyard.events.bus import EventBus
from dockyard.events.types import BlobMounted
from dockyard.meta.base import MetadataStore
from dockyard.oci.digest import Digest, InvalidDigest
from dockyard.oci.names import InvalidName, validate_name
from dockyard.registry.admission import Admissions
from dockyard.registry.hashing import RunningHash, hash_stored, new_hash, resume_sha256
from dockyard.registry.placement import BlobPlacement
from dockyard.storage import layout
from dockyard.storage.base import FileWriter, PathNotFound, StorageDriver

T = TypeVar("T")
_CONTENT_RANGE = re.compile(r"^(?:bytes )?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


@dataclass(frozen=True, slots=True)
class UploadState:
    id: str
    repository: str
    size: int
    hash_state: bytes | None = None


def parse_digest(text: str | None) -> Digest:
    if not text:
        raise RegistryError(Code.DIGEST_INVALID, "the digest query parameter is required")
    try:
        return Digest.parse(text)
    except InvalidDigest as exc:
        raise RegistryError(Code.DIGEST_INVALID, str(exc)) from None


class UploadService:
    def __init__(
        self,
        storage: StorageDriver,
        store: MetadataStore,
        bus: EventBus,
        admissions: Admissions | None = None,
    ) -> None:
        self.storage = storage
        self.store = store
        self.bus = bus
        self.admissions = admissions or Admissions()
        self.placement = BlobPlacement(storage, store, bus)
        self._locks: dict[str, asyncio.Lock] = {}

    async def start(self, repository: str) -> UploadState:
        upload_id = uuid.uuid4().hex
        async with self.store.transaction() as tx:
            await tx.uploads.create(upload_id, repository)
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
            state, writer, hasher = await self._receive(
                repository, upload_id, body, content_range, content_length
            )
            await self._guard(state, writer.close())
            async with self.store.transaction() as tx:
                if not await tx.uploads.set_size(upload_id, writer.size, hasher.serialize()):
                    raise _unknown_upload(upload_id)  # swept while its bytes were arriving
            return UploadState(upload_id, repository, writer.size)

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
            state, writer, hasher = await self._receive(
                repository, upload_id, body, content_range, content_length
            )
            await self._complete(state, writer, digest, hasher)
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
        writer = await self._guard(state, self.storage.writer(layout.upload_path(state.id)))
        hasher = new_hash(digest.algorithm)
        await self._stream(state, writer, body, hasher, content_length)
        await self._complete(state, writer, digest, hasher)
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
        async with self.store.transaction(readonly=True) as tx:
            found = await tx.blobs.linked(source, str(digest))
        if found is None:
            return None
        await self.admissions.admit_blob(repository, str(digest), found.size)
        async with self.store.transaction() as tx:
            if await tx.blobs.linked(source, str(digest)) is None:
                return None  # unlinked meanwhile
            await tx.repos.ensure(repository)
            await tx.blobs.link(repository, str(digest))
            await self.bus.publish(tx, BlobMounted(repository, str(digest), source))
        return digest

    async def expire(self, max_age_seconds: float) -> int:
        """Discard uploads nobody has touched for max_age_seconds; returns how many."""
        async with self.store.transaction(readonly=True) as tx:
            stale = await tx.uploads.older_than(time.time() - max_age_seconds)
        for upload in stale:
            await self._discard(upload.id, owned=False)
        return len(stale) + await self._discard_orphaned_files()

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
        return UploadState(record.id, record.repository, record.size, record.hash_state)

    async def _receive(
        self,
        repository: str,
        upload_id: str,
        body: AsyncIterator[bytes],
        content_range: str | None,
        content_length: int | None,
    ) -> tuple[UploadState, FileWriter, RunningHash]:
        """Stream a chunk onto the end of an existing upload, its digest state running."""
        state = await self._get(repository, upload_id)
        _check_range(state, content_range, content_length)
        writer = await self._reopen(state)
        hasher = resume_sha256(state.hash_state)
        await self._stream(state, writer, body, hasher, content_length)
        return state, writer, hasher

    async def _reopen(self, state: UploadState) -> FileWriter:
        """The upload's writer, positioned after the bytes acknowledged so far."""
        writer = await self._guard(
            state, self.storage.writer(layout.upload_path(state.id), append=True)
        )
        if writer.size != state.size:
            # Bytes past the acknowledged size come from a request that never finished.
            await self._discard(state.id)
            raise RegistryError(
                Code.BLOB_UPLOAD_INVALID,
                "the upload was interrupted and cannot be continued; start a new upload",
            )
        return writer

    async def _stream(
        self,
        state: UploadState,
        writer: FileWriter,
        body: AsyncIterator[bytes],
        hasher: RunningHash,
        content_length: int | None,
    ) -> None:
        received = 0
        try:
            async for chunk in body:
                if chunk:
                    hasher.update(bytes(chunk))
                    await writer.write(chunk)
                    received += len(chunk)
            if content_length is not None and received != content_length:
                raise RegistryError(
                    Code.SIZE_INVALID,
                    f"received {received} bytes but Content-Length said {content_length}",
                )
        except BaseException:
            with suppress(Exception):
                await writer.close()
            await self._discard(state.id)
            raise

    async def _complete(
        self, state: UploadState, writer: FileWriter, digest: Digest, hasher: RunningHash
    ) -> None:
        path = layout.upload_path(state.id)
        await self._guard(state, writer.commit())
        if digest.algorithm == "sha256":
            actual = hasher.finalize()
        else:
            actual = await self._guard(state, hash_stored(self.storage, path, digest.algorithm))
        if actual != digest.hex:
            await self._discard(state.id)
            raise RegistryError(
                Code.DIGEST_INVALID,
                f"the uploaded content has digest {digest.algorithm}:{actual}, "
                f"not {digest}; the upload was discarded",
            )
        try:
            await self.admissions.admit_blob(state.repository, str(digest), writer.size)
        except RegistryError:
            await self._discard(state.id)
            raise
        placed = self.placement.publish(state.repository, state.id, digest, writer.size)
        if not await self._guard(state, placed):
            await self._discard(state.id)
            raise _swept(state.id)

    async def _guard(self, state: UploadState, step: Awaitable[T]) -> T:
        """Await a storage step; the upload's bytes vanishing under it means it was swept."""
        try:
            return await step
        except PathNotFound:
            await self._discard(state.id)
            raise _swept(state.id) from None

    async def _discard(self, upload_id: str, owned: bool = True) -> None:
        """Forget an upload and its bytes. Whoever deletes the row owns the files: a sweep
        that lost the race to a finishing request must not delete what just became a blob."""
        async with self.store.transaction() as tx:
            deleted = await tx.uploads.delete(upload_id)
        if deleted or owned:
            await self._delete_upload_files(upload_id)

    async def _discard_orphaned_files(self) -> int:
        """Delete upload files with no metadata row (left by a crash inside `_discard`).

        Rows are written before an upload's first byte, and finished blobs that stay where they
        were uploaded are recorded as blobs, so a file claimed by neither is garbage.
        """
        ids = {p.split("/")[1] for p in await self.storage.list("uploads") if p.count("/") >= 2}
        orphans = []
        async with self.store.transaction(readonly=True) as tx:
            for upload_id in sorted(ids):
                if not layout.is_upload_id(upload_id) or await tx.uploads.get_any(upload_id):
                    continue
                if not await tx.blobs.at_path(layout.upload_path(upload_id)):
                    orphans.append(upload_id)
        for upload_id in orphans:
            await self._delete_upload_files(upload_id)
        return len(orphans)

    async def _delete_upload_files(self, upload_id: str) -> None:
        with suppress(PathNotFound):
            await self.storage.delete(layout.upload_dir(upload_id))


def upload_headers(state: UploadState) -> dict[str, str]:
    return {
        "Location": f"/v2/{state.repository}/blobs/uploads/{state.id}",
        "Range": f"0-{max(state.size - 1, 0)}",
        "Docker-Upload-UUID": state.id,
    }


def _check_range(state: UploadState, content_range: str | None, length: int | None) -> None:
    """The client must continue exactly where the upload stands."""
    if not content_range:
        return
    match = _CONTENT_RANGE.match(content_range.strip())
    if not match or int(match.group(2)) < int(match.group(1)):
        raise RegistryError(
            Code.RANGE_INVALID, f"Content-Range {content_range!r} is not of the form <start>-<end>"
        )
    start, end = int(match.group(1)), int(match.group(2))
    if start != state.size:
        raise RegistryError(
            Code.RANGE_INVALID,
            f"chunk starts at byte {start} but the upload has {state.size} bytes; "
            f"send the chunk that starts at byte {state.size}",
            headers=upload_headers(state),
        )
    if length is not None and length != end - start + 1:
        raise RegistryError(
            Code.SIZE_INVALID,
            f"Content-Range covers {end - start + 1} bytes but Content-Length is {length}",
        )


def _unknown_upload(upload_id: str) -> RegistryError:
    return RegistryError(
        Code.BLOB_UPLOAD_UNKNOWN, f"upload {upload_id!r} is unknown, finished or expired"
    )


def _swept(upload_id: str) -> RegistryError:
    return RegistryError(
        Code.BLOB_UPLOAD_UNKNOWN,
        f"upload {upload_id!r} expired or was cancelled while its bytes were arriving; "
        "start a new upload",
    )
