"""The first start creates `admin`: with the configured password, or a random one shown once."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.auth.bootstrap import PASSWORD_FILE, ensure_admin
from dockyard.auth.passwords import Passwords
from dockyard.meta.sql import SqlMetadataStore
from dockyard.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(time_cost=1, memory_kib=8192, parallelism=1)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await store.open(True)
    yield store
    await store.close()


async def test_without_a_password_a_random_one_is_written_and_printed_once(
    store: SqlMetadataStore,
    passwords: Passwords,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    data_dir = tmp_path / "data"
    caplog.set_level("DEBUG")
    assert await ensure_admin(store, passwords, None, data_dir) is True
    path = data_dir / PASSWORD_FILE
    password = path.read_text().strip()
    assert len(password) >= 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.count(password) == 1
    assert str(path) in printed.err
    assert password not in caplog.text  # printed to the person, never logged

    async with store.transaction(readonly=True) as tx:
        admin = await tx.identities.user("admin")
        assert await tx.identities.count_users() == 1
    assert admin is not None and admin.is_admin and not admin.disabled
    assert await passwords.verify(admin.password_hash, password)

    # the second start finds a user and does nothing
    assert await ensure_admin(store, passwords, None, data_dir) is False
    assert capsys.readouterr().err == ""
    assert path.read_text().strip() == password
    async with store.transaction(readonly=True) as tx:
        again = await tx.identities.user("admin")
    assert again is not None and again.password_hash == admin.password_hash


async def test_an_existing_password_file_is_overwritten_private(
    store: SqlMetadataStore, passwords: Passwords, tmp_path: Path
) -> None:
    path = tmp_path / PASSWORD_FILE
    path.write_text("stale\n")
    path.chmod(0o644)
    assert await ensure_admin(store, passwords, None, tmp_path)
    assert path.read_text().strip() != "stale"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_the_configured_password_is_used_and_nothing_is_written(
    store: SqlMetadataStore,
    passwords: Passwords,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    assert await ensure_admin(store, passwords, "configured-pw", tmp_path)
    assert not (tmp_path / PASSWORD_FILE).exists()
    assert capsys.readouterr().err == ""
    assert "configured-pw" not in caplog.text
    async with store.transaction(readonly=True) as tx:
        admin = await tx.identities.user("admin")
    assert admin is not None and admin.is_admin
    assert await passwords.verify(admin.password_hash, "configured-pw")


def test_first_start_of_a_registry_then_log_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DOCKYARD_ADMIN_PASSWORD")
    settings = Settings(data_dir=tmp_path)
    assert settings.admin_password is None
    with TestClient(create_app(settings)) as client:
        password = (tmp_path / PASSWORD_FILE).read_text().strip()
        assert password in capsys.readouterr().err
        assert client.get("/v2/", auth=("admin", password)).status_code == 200
        assert client.get("/v2/", auth=("admin", "wrong")).status_code == 401
    # restart: same data, nothing new printed, same password
    with TestClient(create_app(settings)) as client:
        assert capsys.readouterr().err == ""
        assert client.get("/v2/", auth=("admin", password)).status_code == 200


def test_registry_started_with_a_configured_password_logs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_ADMIN_PASSWORD", "from-the-environment")
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        assert client.get("/v2/", auth=("admin", "from-the-environment")).status_code == 200
        assert client.get("/v2/", auth=("admin", "admin")).status_code == 401
    assert not (tmp_path / PASSWORD_FILE).exists()
