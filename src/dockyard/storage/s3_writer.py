"""Writers for the S3 driver.

Appending maps onto a multipart upload: bytes are sent as parts of `part_size` (S3 wants at least
5 MiB for every part but the last); what is left over when a writer closes is kept in a small
spool object beside the key (`<key>~spool`, a name `check_path` can never produce) until the
next writer for the key continues. A writer may continue on any process or replica: the
multipart upload and the spool are found again by key, so nothing lives only in memory.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from dockyard.storage.base import PathNotFound

if TYPE_CHECKING:
    from dockyard.storage.s3 import S3Driver

MIN_PART = 5 * 1024 * 1024
SPOOL = "~spool"
_COPY_RANGE = 1024 * 1024 * 1024


class S3Writer:
    def __init__(self, driver: S3Driver, key: str) -> None:
        self._driver = driver
        self._key = key
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._persisted = 0
        self._buffer = bytearray()

    @property
    def size(self) -> int:
        return self._persisted + len(self._buffer)

    async def write(self, data: bytes) -> None:
        self._buffer.extend(data)
        while len(self._buffer) >= self._driver.part_size:
            await self._send_part(self._driver.part_size)

    async def close(self) -> None:
        if self._buffer:
            await self._driver._call("put_object", Key=self._key + SPOOL, Body=bytes(self._buffer))
        else:
            await self._driver._delete_key(self._key + SPOOL)

    async def commit(self) -> None:
        if self._upload_id is None:
            await self._driver._call(
                "put_object", Key=self._key, Body=bytes(self._buffer), **self._driver.sse
            )
        else:
            if self._buffer or not self._parts:
                await self._send_part(len(self._buffer))
            parts = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in self._parts]
            await self._driver._call(
                "complete_multipart_upload",
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            )
        await self._driver._delete_key(self._key + SPOOL)

    async def cancel(self) -> None:
        await self._driver._abort_uploads(self._key)
        await self._driver._delete_key(self._key + SPOOL)
        await self._driver._delete_key(self._key)

    async def _start(self) -> None:
        if self._upload_id is None:
            response = await self._driver._call(
                "create_multipart_upload", Key=self._key, **self._driver.sse
            )
            self._upload_id = response["UploadId"]

    async def _send_part(self, length: int) -> None:
        await self._start()
        number = len(self._parts) + 1
        # One copy of the part (`bytes(buffer[:n])` made two: a slice, then bytes); an
        # upload holds a few parts in memory at most, whatever the size of the blob.
        with memoryview(self._buffer) as view:
            body = bytes(view[:length])
        response = await self._driver._call(
            "upload_part", Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        del body
        self._parts.append({"PartNumber": number, "ETag": response["ETag"], "Size": length})
        self._persisted += length
        del self._buffer[:length]

    async def _resume(self) -> None:
        """Pick up the multipart upload and spool another writer left for this key."""
        upload_id = await self._driver._open_upload(self._key)
        if upload_id is not None:
            self._upload_id = upload_id
            self._parts = await self._driver._list_parts(self._key, upload_id)
            self._persisted = sum(p["Size"] for p in self._parts)
        with contextlib.suppress(PathNotFound):
            self._buffer = bytearray(await self._driver.get(self._key + SPOOL, check=False))
            return
        if upload_id is None:
            await self._adopt_committed_object()

    async def _adopt_committed_object(self) -> None:
        """Appending to a finished object: its bytes become the first part(s), copied in S3."""
        try:
            size = (await self._driver.stat(self._key)).size
        except PathNotFound:
            return
        if size < self._driver.part_size:
            self._buffer = bytearray(await self._driver.get(self._key))
            return
        await self._copy_in(self._key, size)

    async def _copy_in(self, source: str, size: int) -> None:
        """Server-side copy of `source` as this upload's first parts (no bytes through us)."""
        await self._start()
        for start, end in _copy_ranges(size):
            number = len(self._parts) + 1
            response = await self._driver._call(
                "upload_part_copy",
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                CopySource={"Bucket": self._driver.bucket, "Key": self._driver._key(source)},
                CopySourceRange=f"bytes={start}-{end - 1}",
            )
            etag = response["CopyPartResult"]["ETag"]
            self._parts.append({"PartNumber": number, "ETag": etag, "Size": end - start})
        self._persisted = size


def _copy_ranges(size: int) -> list[tuple[int, int]]:
    ranges = [(s, min(s + _COPY_RANGE, size)) for s in range(0, size, _COPY_RANGE)]
    if len(ranges) > 1 and ranges[-1][1] - ranges[-1][0] < MIN_PART:
        (a, _), (_, b) = ranges[-2], ranges[-1]
        ranges[-2:] = [(a, b)]
    return ranges
