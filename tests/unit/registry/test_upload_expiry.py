"""Abandoned uploads are discarded with their bytes; live ones are kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.errors import Code, RegistryError
from dockyard.events.bus import EventBus
from dockyard.meta.sql import SqlMetadataStore
from dockyard.registry.uploads import UploadService
from dockyard.storage.filesystem import FilesystemDriver

pytestmark = pytest.mark.anyio


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


@pytest.fixture
async def uploads(tmp_path: Path) -> AsyncIterator[UploadService]:
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await store.open()
    yield UploadService(FilesystemDriver(str(tmp_path / "storage")), store, EventBus())
    await store.close()


async def test_expire_discards_stale_uploads_and_their_bytes(
    uploads: UploadService, tmp_path: Path
) -> None:
    state = await uploads.start("team/app")
    await uploads.append("team/app", state.id, body(b"x" * 1000), None, None)
    assert (tmp_path / "storage" / "uploads" / state.id / "data").stat().st_size == 1000

    assert await uploads.expire(max_age_seconds=3600) == 0
    assert (await uploads.status("team/app", state.id)).size == 1000

    assert await uploads.expire(max_age_seconds=0) == 1
    assert not (tmp_path / "storage" / "uploads" / state.id).exists()
    with pytest.raises(RegistryError) as err:
        await uploads.status("team/app", state.id)
    assert err.value.code is Code.BLOB_UPLOAD_UNKNOWN


async def test_an_upload_continues_in_another_process(
    uploads: UploadService, tmp_path: Path
) -> None:
    """Size and digest state live in metadata, so a second service instance (another worker
    or replica, sharing only the database and storage) continues and finishes the upload."""
    import hashlib

    other = UploadService(FilesystemDriver(str(tmp_path / "storage")), uploads.store, EventBus())
    state = await uploads.start("r")
    await uploads.append("r", state.id, body(b"a" * 5000), None, None)
    await other.append("r", state.id, body(b"b" * 5000), "5000-9999", 5000)
    digest = "sha256:" + hashlib.sha256(b"a" * 5000 + b"b" * 5000).hexdigest()
    assert str(await uploads.finish("r", state.id, digest, body(), None, 0)) == digest


async def test_expire_removes_upload_files_that_have_no_record(
    uploads: UploadService, tmp_path: Path
) -> None:
    orphan = tmp_path / "storage" / "uploads" / ("f" * 32)
    orphan.mkdir(parents=True)
    (orphan / "data").write_bytes(b"left by a crash")
    live = await uploads.start("r")
    await uploads.append("r", live.id, body(b"keep"), None, None)

    assert await uploads.expire(max_age_seconds=3600) == 1
    assert not orphan.exists()
    assert (tmp_path / "storage" / "uploads" / live.id / "data").read_bytes() == b"keep"
