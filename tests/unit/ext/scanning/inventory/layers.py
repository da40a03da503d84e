"""Real layer blobs for the inventory tests: tar archives built with `tarfile`, compressed with
gzip or zstd, served as an async byte stream the way the storage driver's `read` serves them."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import zstandard

from dockyard.ext.scanning.inventory import LayerSource

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
TAR = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644


@dataclass(frozen=True)
class Dir:
    path: str


@dataclass(frozen=True)
class Link:
    path: str
    target: str
    hard: bool = False


Entry = File | Dir | Link


def tar(entries: Iterable[Entry]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            if isinstance(entry, File):
                info.size, info.mode = len(entry.data), entry.mode
                archive.addfile(info, io.BytesIO(entry.data))
                continue
            if isinstance(entry, Dir):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                info.type = tarfile.LNKTYPE if entry.hard else tarfile.SYMTYPE
                info.linkname = entry.target
            archive.addfile(info)
    return out.getvalue()


def whiteout(path: str) -> File:
    parent, _, name = path.rpartition("/")
    return File(f"{parent}/.wh.{name}" if parent else f".wh.{name}")


def opaque(directory: str) -> File:
    return File(f"{directory}/.wh..wh..opq")


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=1).compress(data)


def layer(blob: bytes, media_type: str = GZIP, chunk: int = 64 * 1024) -> LayerSource:
    """A layer served from memory in `chunk`-sized pieces."""

    async def read() -> AsyncIterator[bytes]:
        for at in range(0, len(blob), chunk):
            yield blob[at : at + chunk]

    return LayerSource(digest=sha256(blob), media_type=media_type, open=read)


def streamed_file_layer(source: Path, path: str, mode: int = 0o755) -> LayerSource:
    """An uncompressed layer holding one (large) file, produced on the fly from disk: neither
    the test nor the code under test holds the file in memory."""
    info = tarfile.TarInfo(path)
    info.size, info.mode = source.stat().st_size, mode
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    padding = b"\0" * (-info.size % tarfile.BLOCKSIZE)

    async def read() -> AsyncIterator[bytes]:
        yield header
        with source.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk
        yield padding + b"\0" * (2 * tarfile.BLOCKSIZE)

    return LayerSource(digest=f"sha256:{'f' * 64}", media_type=TAR, open=read)


def sha256(blob: bytes) -> str:
    return f"sha256:{hashlib.sha256(blob).hexdigest()}"


DEBIAN_OS_RELEASE = File(
    "usr/lib/os-release",
    b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
)
