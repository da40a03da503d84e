"""The tar stream inside a layer blob: gzip, zstd or uncompressed, told by the first bytes.

The magic bytes decide, not the media type: Docker's layer media types say `tar.gzip` for every
layer, and some tools label a zstd or uncompressed layer as gzip. Both decompressors hand out
bounded reads, so a decompression bomb costs time, not memory.
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from typing import Any, Protocol, cast

import zstandard

from dockyard.ext.scanning.inventory.findings import Readable

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_READ_SIZE = 1024 * 1024

# What a broken layer raises while it is decompressed and read as a tar archive.
FORMAT_ERRORS: tuple[type[Exception], ...] = (
    tarfile.TarError,
    EOFError,  # gzip: "Compressed file ended before the end-of-stream marker was reached"
    zlib.error,
    gzip.BadGzipFile,
    zstandard.ZstdError,
)


class Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def peek(self, size: int, /) -> bytes: ...


def decompressed(source: Source) -> Readable:
    head = source.peek(len(ZSTD_MAGIC))
    if head.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=cast(Any, source), mode="rb")  # it only calls read()
    if head.startswith(ZSTD_MAGIC):
        # zstd truncated mid-frame just ends early; the tar reader notices the missing end.
        return zstandard.ZstdDecompressor().stream_reader(
            source, read_size=_READ_SIZE, read_across_frames=True, closefd=False
        )
    return source
