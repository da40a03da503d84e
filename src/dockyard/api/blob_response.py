"""Blob download responses: zero-copy for whole local files, streamed slices for Range."""

from __future__ import annotations

import logging
import os
import re

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from dockyard.errors import Code, RegistryError
from dockyard.registry.blobs import BlobInfo
from dockyard.storage.base import (
    PathNotFound,
    StorageDriver,
    SupportsLocalPath,
    SupportsRedirect,
)

log = logging.getLogger(__name__)

_CHUNK = 1 << 20  # 64 KiB (Starlette's default) caps downloads near 350 MB/s here
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _BlobFileResponse(FileResponse):
    chunk_size = _CHUNK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # `parse_range` already decided to send the whole blob (no Range, or one to ignore);
        # Starlette would otherwise answer foreign or multiple ranges itself, unlike the stream.
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"range", b"if-range")]
        await super().__call__({**scope, "headers": headers}, receive, send)


def blob_headers(info: BlobInfo) -> dict[str, str]:
    return {
        "Docker-Content-Digest": info.digest,
        "ETag": f'"{info.digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    }


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a single-range `Range` header asks for, or None for all."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match:
        return None  # multiple or foreign ranges: RFC 9110 lets us answer with the whole body
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RegistryError(
            Code.RANGE_INVALID,
            f"range {header!r} is outside the blob's {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


async def blob_response(
    request: Request, storage: StorageDriver, info: BlobInfo, redirect_seconds: int | None = None
) -> Response:
    headers = blob_headers(info)
    byte_range = parse_range(request.headers.get("range"), info.size)
    if request.method == "HEAD":
        headers["Content-Length"] = str(info.size)
        return Response(status_code=200, headers=headers, media_type="application/octet-stream")
    if redirect_seconds and isinstance(storage, SupportsRedirect):
        # The client fetches (and ranges) from the object store directly with a signed URL.
        url = await storage.redirect_url(info.path, redirect_seconds)
        if url is not None:
            return Response(status_code=307, headers={**headers, "Location": url})
    try:
        return await _body(storage, info, headers, byte_range)
    except PathNotFound:
        log.error("blob %s is recorded but its content is missing from storage", info.digest)
        raise RegistryError(
            Code.BLOB_UNKNOWN,
            f"blob {info.digest} is recorded but its content is missing; push it again",
        ) from None


async def _body(
    storage: StorageDriver,
    info: BlobInfo,
    headers: dict[str, str],
    byte_range: tuple[int, int] | None,
) -> Response:
    if byte_range is None:
        if isinstance(storage, SupportsLocalPath):
            path = storage.local_path(info.path)
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                raise PathNotFound(info.path) from None
            return _BlobFileResponse(
                path, headers=headers, media_type="application/octet-stream", stat_result=stat
            )
        headers["Content-Length"] = str(info.size)
        return StreamingResponse(
            await storage.read(info.path), headers=headers, media_type="application/octet-stream"
        )
    start, end = byte_range
    headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    headers["Content-Length"] = str(end - start + 1)
    body = await storage.read(info.path, start, end - start + 1)
    return StreamingResponse(
        body, status_code=206, headers=headers, media_type="application/octet-stream"
    )
