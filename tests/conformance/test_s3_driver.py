"""The S3 driver passes the shared storage suite against a real SeaweedFS server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from dockyard.storage.s3 import S3Driver
from dockyard.testing.seaweedfs import S3Server
from dockyard.testing.storage_suite import StorageDriverSuite

pytestmark = pytest.mark.anyio


def s3_driver(server: S3Server, **options: object) -> S3Driver:
    return S3Driver(
        bucket=server.bucket,
        endpoint_url=server.endpoint,
        access_key=server.access_key,
        secret_key=server.secret_key,
        prefix=f"t-{uuid.uuid4().hex[:12]}",  # each test its own empty namespace
        **options,  # type: ignore[arg-type]
    )


class TestS3Driver(StorageDriverSuite):
    @pytest.fixture
    async def driver(self, s3_server: S3Server) -> AsyncIterator[S3Driver]:
        driver = s3_driver(s3_server, part_size=5 * 1024 * 1024)
        yield driver
        await driver.close()


async def test_an_append_continues_on_another_process(s3_server: S3Server) -> None:
    """Writer state lives in S3 (multipart upload + spool), so any replica can continue it."""
    import hashlib
    import os

    first = s3_driver(s3_server, part_size=5 * 1024 * 1024)
    second = S3Driver(
        bucket=s3_server.bucket,
        endpoint_url=s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        prefix=first.prefix,
        part_size=5 * 1024 * 1024,
    )
    chunks = [os.urandom(n) for n in (7 * 1024 * 1024, 100, 6 * 1024 * 1024, 3)]
    writer = await first.writer("uploads/x/data")
    await writer.write(chunks[0])
    await writer.close()
    for index, chunk in enumerate(chunks[1:], start=1):
        driver = (first, second)[index % 2]
        writer = await driver.writer("uploads/x/data", append=True)
        assert writer.size == sum(len(c) for c in chunks[:index])
        await writer.write(chunk)
        if index < len(chunks) - 1:
            await writer.close()
    await writer.commit()
    data = b"".join([c async for c in await second.read("uploads/x/data")])
    assert hashlib.sha256(data).digest() == hashlib.sha256(b"".join(chunks)).digest()
    assert await second.list("uploads") == ["uploads/x/data"]  # no spool left behind
    await first.close()
    await second.close()


async def test_presigned_urls_fetch_the_object(s3_server: S3Server) -> None:
    import urllib.request

    driver = s3_driver(s3_server)
    await driver.put("blobs/a", b"signed bytes")
    url = await driver.redirect_url("blobs/a", 60)
    assert url is not None and "X-Amz-Signature" in url  # SigV4, not SigV2
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"signed bytes"
    await driver.close()
