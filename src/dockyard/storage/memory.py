"""An in-memory StorageDriver, for tests and throwaway registries."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dockyard.storage.base import FileInfo, InvalidOffset, PathNotFound, check_path

_CHUNK = 1 << 20


class MemoryWriter:
    def __init__(self, driver: MemoryDriver, path: str, data: bytearray) -> None:
        self._driver = driver
        self._path = path
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    async def write(self, data: bytes) -> None:
        self._data.extend(data)

    async def commit(self) -> None:
        self._driver.objects[self._path] = self._data

    async def close(self) -> None:
        self._driver.objects[self._path] = self._data

    async def cancel(self) -> None:
        self._driver.objects.pop(self._path, None)


class MemoryDriver:
    def __init__(self) -> None:
        self.objects: dict[str, bytearray] = {}

    def _object(self, path: str) -> bytearray:
        check_path(path)
        try:
            return self.objects[path]
        except KeyError:
            raise PathNotFound(path) from None

    async def get(self, path: str) -> bytes:
        return bytes(self._object(path))

    async def put(self, path: str, data: bytes) -> None:
        self.objects[check_path(path)] = bytearray(data)

    async def read(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        data = self._object(path)
        if offset < 0 or offset > len(data):
            raise InvalidOffset(path, offset)
        end = len(data) if length is None else min(len(data), offset + length)
        return _chunks(bytes(data[offset:end]))

    async def writer(self, path: str, append: bool = False) -> MemoryWriter:
        check_path(path)
        existing = self.objects.get(path) if append else None
        return MemoryWriter(self, path, bytearray(existing) if existing else bytearray())

    async def stat(self, path: str) -> FileInfo:
        return FileInfo(path, len(self._object(path)))

    async def list(self, prefix: str) -> list[str]:
        check_path(prefix)
        return sorted(p for p in self.objects if p.startswith(prefix + "/"))

    async def move(self, source: str, destination: str) -> None:
        data = self._object(source)
        self.objects[check_path(destination)] = data
        del self.objects[source]

    async def rename(self, source: str, destination: str) -> None:
        await self.move(source, destination)

    async def delete(self, path: str) -> None:
        check_path(path)
        doomed = [p for p in self.objects if p == path or p.startswith(path + "/")]
        if not doomed:
            raise PathNotFound(path)
        for p in doomed:
            del self.objects[p]


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), _CHUNK):
        yield data[start : start + _CHUNK]
