"""Every StorageDriver passes the same suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.storage.filesystem import FilesystemDriver
from dockyard.storage.memory import MemoryDriver
from dockyard.testing.storage_suite import StorageDriverSuite


class TestMemoryDriver(StorageDriverSuite):
    @pytest.fixture
    def driver(self) -> MemoryDriver:
        return MemoryDriver()


class TestFilesystemDriver(StorageDriverSuite):
    @pytest.fixture
    def driver(self, tmp_path: Path) -> FilesystemDriver:
        return FilesystemDriver(str(tmp_path / "root"))

    async def test_objects_are_files_under_the_root(self, driver: FilesystemDriver) -> None:
        await driver.put("a/b", b"x")
        assert Path(driver.local_path("a/b")).read_bytes() == b"x"
        assert Path(driver.local_path("a/b")).is_relative_to(driver.root)
