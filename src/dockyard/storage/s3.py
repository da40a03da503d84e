"""A StorageDriver over S3-compatible object storage (AWS S3, SeaweedFS, MinIO, Ceph RGW).

One aiobotocore client per process, made on first use inside the running event loop. Presigned
URLs are SigV4 (aiobotocore signs SigV2 unless told otherwise). Connection failures become
`StorageUnavailable`, which the API turns into 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from dockyard.storage.base import (
    FileInfo,
    InvalidOffset,
    PathNotFound,
    StorageUnavailable,
    check_path,
)
from dockyard.storage.s3_writer import MIN_PART, SPOOL, S3Writer

_CHUNK = 1 << 20
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}
# The store's own trouble (S3 answers a 5xx, or asks to slow down): worth a retry later.
_RETRYABLE = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}


def _server_side(err: ClientError, code: str) -> bool:
    """A store that just restarted answers `InternalError` (HTTP 500) for a while: that is an
    outage to report as 503, not a bug to report as 500."""
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in _RETRYABLE or code.startswith("5") or int(status or 0) >= 500


class S3Driver:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        path_style: bool = True,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
        part_size: int = 16 * 1024 * 1024,
    ) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"S3 part_size must be at least {MIN_PART} bytes")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.sse: dict[str, str] = {}
        if sse:
            self.sse["ServerSideEncryption"] = sse
        if sse_kms_key_id:
            self.sse["SSEKMSKeyId"] = sse_kms_key_id
        self._client_args: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
            "config": AioConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path" if path_style else "auto"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=64,
            ),
        }
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._client_lock = asyncio.Lock()

    # -- plumbing ----------------------------------------------------------------------------

    def _key(self, path: str) -> str:
        return self.prefix + path

    async def client(self) -> Any:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    stack = contextlib.AsyncExitStack()
                    session = get_session()
                    self._client = await stack.enter_async_context(
                        session.create_client("s3", **self._client_args)
                    )
                    self._stack = stack
        return self._client

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = self._client = None

    async def _call(self, operation: str, *, Key: str | None = None, **kwargs: Any) -> Any:
        client = await self.client()
        if Key is not None:
            kwargs["Key"] = self._key(Key)
        try:
            return await getattr(client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                raise PathNotFound(Key or "") from None
            if _server_side(err, code):
                raise StorageUnavailable(f"object store: {err}") from err
            raise
        except BotoCoreError as err:
            raise StorageUnavailable(f"object store unreachable: {err}") from err

    async def _delete_key(self, path: str) -> None:
        await self._call("delete_object", Key=path)

    async def _open_upload(self, path: str) -> str | None:
        response = await self._call("list_multipart_uploads", Prefix=self._key(path))
        uploads = [u for u in response.get("Uploads", []) if u["Key"] == self._key(path)]
        uploads.sort(key=lambda u: u["Initiated"])
        return uploads[-1]["UploadId"] if uploads else None

    async def _list_parts(self, path: str, upload_id: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        marker = 0
        while True:
            response = await self._call(
                "list_parts", Key=path, UploadId=upload_id, PartNumberMarker=marker
            )
            parts += [
                {"PartNumber": p["PartNumber"], "ETag": p["ETag"], "Size": p["Size"]}
                for p in response.get("Parts", [])
            ]
            if not response.get("IsTruncated"):
                return sorted(parts, key=lambda p: p["PartNumber"])
            marker = response["NextPartNumberMarker"]

    async def _abort_uploads(self, path: str) -> None:
        while (upload_id := await self._open_upload(path)) is not None:
            with contextlib.suppress(PathNotFound):
                await self._call("abort_multipart_upload", Key=path, UploadId=upload_id)

    async def _abort_uploads_under(self, prefix: str) -> bool:
        """Abort every multipart upload under `prefix` (their parts are stored, and billed,
        until then); whether there were any."""
        found = False
        while True:
            listed = await self._call("list_multipart_uploads", Prefix=self._key(prefix))
            if not listed.get("Uploads"):
                return found
            found = True
            for upload in listed["Uploads"]:
                key, upload_id = upload["Key"][len(self.prefix) :], upload["UploadId"]
                with contextlib.suppress(PathNotFound):
                    await self._call("abort_multipart_upload", Key=key, UploadId=upload_id)

    async def _raw_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Prefix": self._key(prefix)}
        while True:
            response = await self._call("list_objects_v2", **kwargs)
            keys += [item["Key"][len(self.prefix) :] for item in response.get("Contents", [])]
            if not response.get("IsTruncated"):
                return keys
            kwargs["ContinuationToken"] = response["NextContinuationToken"]

    # -- the port ----------------------------------------------------------------------------

    async def get(self, path: str, check: bool = True) -> bytes:
        if check:
            check_path(path)
        response = await self._call("get_object", Key=path)
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data

    async def put(self, path: str, data: bytes) -> None:
        await self._call("put_object", Key=check_path(path), Body=data, **self.sse)

    async def read(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        if offset == 0 and length is None:
            # The whole object: one GET and no HEAD before it (every S3 call costs milliseconds
            # of CPU in botocore; a missing key fails the GET as it would fail the HEAD).
            response = await self._call("get_object", Key=check_path(path))
            return _stream(response["Body"])
        size = (await self.stat(path)).size
        if offset < 0 or offset > size:
            raise InvalidOffset(path, offset)
        end = size if length is None else min(size, offset + length)
        if end <= offset:
            return _empty()
        response = await self._call("get_object", Key=path, Range=f"bytes={offset}-{end - 1}")
        return _stream(response["Body"])

    async def writer(self, path: str, append: bool = False) -> S3Writer:
        writer = S3Writer(self, check_path(path))
        if append:
            await writer._resume()
        else:
            await self._abort_uploads(path)
            await self._delete_key(path + SPOOL)
        return writer

    async def stat(self, path: str) -> FileInfo:
        response = await self._call("head_object", Key=check_path(path))
        return FileInfo(path, int(response["ContentLength"]))

    async def list(self, prefix: str) -> list[str]:
        check_path(prefix)
        return sorted(k for k in await self._raw_keys(prefix + "/") if "~" not in k)

    async def move(self, source: str, destination: str) -> None:
        size = (await self.stat(check_path(source))).size
        check_path(destination)
        if size <= 5 * 1024**3:
            copy = {"Bucket": self.bucket, "Key": self._key(source)}
            await self._call("copy_object", Key=destination, CopySource=copy, **self.sse)
        else:
            writer = S3Writer(self, destination)
            await writer._copy_in(source, size)
            await writer.commit()
        await self._delete_key(source)

    async def delete(self, path: str) -> None:
        check_path(path)
        try:
            await self.stat(path)
            await self._delete_key(path)
            return
        except PathNotFound:
            pass
        # Writes still in progress under the tree go with it (an upload's multipart upload).
        aborted = await self._abort_uploads_under(path + "/")
        keys = await self._raw_keys(path + "/")
        if not keys:
            if aborted:
                return
            raise PathNotFound(path)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            await self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})

    async def redirect_url(self, path: str, expires_in: int) -> str | None:
        client = await self.client()
        url: str = await client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(check_path(path))},
            ExpiresIn=expires_in,
        )
        return url


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""


async def _stream(body: Any) -> AsyncIterator[bytes]:
    async with body:
        async for chunk in body.iter_chunks(_CHUNK):
            yield chunk
