"""The StorageDriver conformance suite.

Subclass `StorageDriverSuite` in a test module and provide a `driver` fixture that yields a fresh,
empty driver; every test here then runs against it.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from dockyard.storage.base import InvalidOffset, InvalidPath, PathNotFound, StorageDriver

BAD_PATHS = ["", "/abs", "a/../b", "..", "a//b", "a/./b", "a/", "a b/c", "a\\b"]


async def _collect(driver: StorageDriver, path: str, offset: int = 0, length: int | None = None):
    return b"".join([chunk async for chunk in await driver.read(path, offset, length)])


@pytest.mark.anyio
class StorageDriverSuite:
    async def test_put_then_get_returns_the_bytes(self, driver: StorageDriver) -> None:
        await driver.put("a/b/c", b"hello")
        assert await driver.get("a/b/c") == b"hello"

    async def test_put_overwrites(self, driver: StorageDriver) -> None:
        await driver.put("x", b"one")
        await driver.put("x", b"two!")
        assert await driver.get("x") == b"two!"
        assert (await driver.stat("x")).size == 4

    async def test_missing_objects_raise_path_not_found(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFound):
            await driver.get("nope")
        with pytest.raises(PathNotFound):
            await driver.stat("nope")
        with pytest.raises(PathNotFound):
            await driver.read("nope")
        with pytest.raises(PathNotFound):
            await driver.move("nope", "other")
        with pytest.raises(PathNotFound):
            await driver.delete("nope")

    @pytest.mark.parametrize("path", BAD_PATHS)
    async def test_paths_that_could_escape_are_rejected(
        self, driver: StorageDriver, path: str
    ) -> None:
        with pytest.raises(InvalidPath):
            await driver.put(path, b"x")
        with pytest.raises(InvalidPath):
            await driver.get(path)
        with pytest.raises(InvalidPath):
            await driver.writer(path)

    async def test_writer_streams_and_commits(self, driver: StorageDriver) -> None:
        writer = await driver.writer("uploads/u1/data")
        expected = hashlib.sha256()
        for i in range(40):
            chunk = os.urandom(128 * 1024) + bytes([i])
            expected.update(chunk)
            await writer.write(chunk)
        assert writer.size == 40 * (128 * 1024 + 1)
        await writer.commit()
        assert (await driver.stat("uploads/u1/data")).size == writer.size
        actual = hashlib.sha256(await _collect(driver, "uploads/u1/data")).hexdigest()
        assert actual == expected.hexdigest()

    async def test_writer_appends_to_what_is_there(self, driver: StorageDriver) -> None:
        first = await driver.writer("f")
        await first.write(b"abc")
        await first.close()
        second = await driver.writer("f", append=True)
        assert second.size == 3
        await second.write(b"def")
        await second.commit()
        assert await driver.get("f") == b"abcdef"

    async def test_writer_without_append_truncates(self, driver: StorageDriver) -> None:
        await driver.put("f", b"old content")
        writer = await driver.writer("f")
        await writer.write(b"new")
        await writer.commit()
        assert await driver.get("f") == b"new"

    async def test_cancel_discards_the_file(self, driver: StorageDriver) -> None:
        writer = await driver.writer("f")
        await writer.write(b"partial")
        await writer.cancel()
        with pytest.raises(PathNotFound):
            await driver.stat("f")

    async def test_read_from_offset_and_length(self, driver: StorageDriver) -> None:
        data = bytes(range(256)) * 10000
        await driver.put("blob", data)
        assert await _collect(driver, "blob", 1000) == data[1000:]
        assert await _collect(driver, "blob", 1000, 5000) == data[1000:6000]
        assert await _collect(driver, "blob", len(data)) == b""
        assert await _collect(driver, "blob", len(data) - 3, 100) == data[-3:]

    async def test_read_past_the_end_is_invalid_offset(self, driver: StorageDriver) -> None:
        await driver.put("blob", b"12345")
        with pytest.raises(InvalidOffset):
            await driver.read("blob", 6)
        with pytest.raises(InvalidOffset):
            await driver.read("blob", -1)

    async def test_list_is_recursive_and_sorted(self, driver: StorageDriver) -> None:
        for path in ["p/b/2", "p/a", "p/b/1", "q/x", "pp/y"]:
            await driver.put(path, b".")
        assert await driver.list("p") == ["p/a", "p/b/1", "p/b/2"]
        assert await driver.list("p/b") == ["p/b/1", "p/b/2"]
        assert await driver.list("empty") == []

    async def test_move_replaces_destination(self, driver: StorageDriver) -> None:
        await driver.put("src/data", b"new")
        await driver.put("dst/data", b"old")
        await driver.move("src/data", "dst/data")
        assert await driver.get("dst/data") == b"new"
        with pytest.raises(PathNotFound):
            await driver.stat("src/data")

    async def test_move_creates_parents(self, driver: StorageDriver) -> None:
        await driver.put("a", b"1")
        await driver.move("a", "deep/er/b")
        assert await driver.get("deep/er/b") == b"1"

    async def test_delete_file_and_tree(self, driver: StorageDriver) -> None:
        await driver.put("t/1", b"1")
        await driver.put("t/sub/2", b"2")
        await driver.put("keep", b"k")
        await driver.delete("t/1")
        with pytest.raises(PathNotFound):
            await driver.get("t/1")
        await driver.delete("t")
        assert await driver.list("t") == []
        assert await driver.get("keep") == b"k"

    async def test_delete_tree_discards_unfinished_writes(self, driver: StorageDriver) -> None:
        writer = await driver.writer("t/data")
        await writer.write(b"w" * (6 * 1024 * 1024))  # past an S3 multipart part
        await writer.close()
        await driver.delete("t")
        again = await driver.writer("t/data", append=True)
        assert again.size == 0
        await again.cancel()

    async def test_empty_object(self, driver: StorageDriver) -> None:
        writer = await driver.writer("empty")
        await writer.commit()
        assert (await driver.stat("empty")).size == 0
        assert await _collect(driver, "empty") == b""
