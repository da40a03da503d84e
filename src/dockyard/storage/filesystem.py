"""A StorageDriver over a local directory; objects are plain files so blobs can be sendfile'd.

File I/O runs inline in the event loop: on this hardware moving it to threads was measured slower
(DESIGN.md, facts), and local disk writes do not block for long.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from typing import BinaryIO

from dockyard.storage.base import FileInfo, InvalidOffset, PathNotFound, check_path

_CHUNK = 1 << 20


class FilesystemWriter:
    def __init__(self, file: BinaryIO, path: str, fsync: bool) -> None:
        self._file = file
        self._path = path
        self._fsync = fsync
        self._size = file.tell()

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        self._file.write(data)
        self._size += len(data)

    async def commit(self) -> None:
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self._file.close()

    async def close(self) -> None:
        self._file.close()

    async def cancel(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)


class FilesystemDriver:
    def __init__(self, root: str, fsync: bool = True) -> None:
        self.root = os.path.abspath(root)
        self.fsync = fsync
        os.makedirs(self.root, exist_ok=True)

    def local_path(self, path: str) -> str:
        return os.path.join(self.root, check_path(path))

    def _existing(self, path: str) -> str:
        full = self.local_path(path)
        if not os.path.isfile(full):
            raise PathNotFound(path)
        return full

    async def get(self, path: str) -> bytes:
        with open(self._existing(path), "rb") as f:
            return f.read()

    async def put(self, path: str, data: bytes) -> None:
        full = self.local_path(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        temp = f"{full}.{uuid.uuid4().hex}.tmp"
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(temp, full)

    async def read(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        full = self._existing(path)
        size = os.path.getsize(full)
        if offset < 0 or offset > size:
            raise InvalidOffset(path, offset)
        remaining = size - offset if length is None else min(length, size - offset)
        return _read_file(full, offset, remaining)

    async def writer(self, path: str, append: bool = False) -> FilesystemWriter:
        full = self.local_path(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        file = open(full, "ab" if append else "wb")  # noqa: SIM115 (closed by the writer)
        return FilesystemWriter(file, full, self.fsync)

    async def stat(self, path: str) -> FileInfo:
        return FileInfo(path, os.path.getsize(self._existing(path)))

    async def list(self, prefix: str) -> list[str]:
        base = self.local_path(prefix)
        found = []
        for directory, _, files in os.walk(base):
            for name in files:
                found.append(os.path.relpath(os.path.join(directory, name), self.root))
        return sorted(p.replace(os.sep, "/") for p in found)

    async def move(self, source: str, destination: str) -> None:
        src = self._existing(source)
        dst = self.local_path(destination)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)
        if self.fsync:
            _fsync_dir(os.path.dirname(dst))

    async def rename(self, source: str, destination: str) -> None:
        await self.move(source, destination)

    async def delete(self, path: str) -> None:
        full = self.local_path(path)
        if os.path.isdir(full):
            shutil.rmtree(full)
        elif os.path.isfile(full):
            os.unlink(full)
        else:
            raise PathNotFound(path)


async def _read_file(full: str, offset: int, remaining: int) -> AsyncIterator[bytes]:
    with open(full, "rb") as f:
        f.seek(offset)
        while remaining > 0:
            chunk = f.read(min(_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
