"""The credentials file: private from its first byte, never through a symbolic link, several
registries with a current one."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from dockyard.cli.credentials import (
    CredentialsError,
    CredentialStore,
    Login,
    default_path,
    normalize_url,
)


def login(url: str, at: float = 1.0, username: str = "alice") -> Login:
    return Login(url, username, "token", "dyp_secret", "abc", True, False, at)


def test_the_path_follows_dockyard_config_then_xdg_then_home() -> None:
    assert default_path({"DOCKYARD_CONFIG": "/x/c.json", "XDG_CONFIG_HOME": "/y"}) == Path(
        "/x/c.json"
    )
    assert default_path({"XDG_CONFIG_HOME": "/y"}) == Path("/y/dockyard/credentials.json")
    assert default_path({}) == Path.home() / ".config" / "dockyard" / "credentials.json"


def test_urls_are_normalized() -> None:
    assert normalize_url("registry.example.com/") == "https://registry.example.com"
    assert normalize_url(" http://127.0.0.1:5000 ") == "http://127.0.0.1:5000"
    with pytest.raises(CredentialsError, match="only http"):
        normalize_url("ftp://example.com")


def test_the_file_is_private_from_the_start_even_with_a_lax_umask(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "dockyard" / "credentials.json"
    old = os.umask(0)
    try:
        CredentialStore(path).put(login("https://a.example"))
    finally:
        os.umask(old)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]  # no temporary left


def test_several_registries_the_last_login_is_current(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "c.json")
    store.put(login("https://a.example", at=1))
    store.put(login("http://b.example:5000", at=2, username="bob"))

    assert store.current() == "http://b.example:5000"
    assert store.get() == login("http://b.example:5000", at=2, username="bob")
    assert store.get("https://a.example") == login("https://a.example", at=1)
    assert store.get("b.example:5000") is not None  # no scheme: https://, else http://
    assert store.get("https://c.example") is None

    assert store.remove("http://b.example:5000")
    assert store.current() == "https://a.example"
    assert not store.remove("http://b.example:5000")
    assert store.remove("https://a.example")
    assert store.current() is None and store.logins() == []


def test_a_symbolic_link_is_neither_read_nor_written(tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    target.write_text(json.dumps({"version": 1, "current": None, "registries": {}}))
    target.chmod(0o600)
    link = tmp_path / "credentials.json"
    link.symlink_to(target)
    store = CredentialStore(link)

    with pytest.raises(CredentialsError, match="symbolic link"):
        store.get()
    with pytest.raises(CredentialsError, match="symbolic link"):
        store.put(login("https://a.example"))
    assert json.loads(target.read_text())["registries"] == {}


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    CredentialStore(path).put(login("https://a.example"))
    path.chmod(0o644)

    with pytest.raises(CredentialsError, match="chmod 600"):
        CredentialStore(path).get()


def test_a_broken_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{not json")
    path.chmod(0o600)
    with pytest.raises(CredentialsError, match="not valid JSON"):
        CredentialStore(path).get()
    path.write_text(json.dumps({"registries": {"https://a.example": {"user": "x"}}}))
    with pytest.raises(CredentialsError, match="not one this dockyard wrote"):
        CredentialStore(path).get("https://a.example")


def test_the_secret_stays_out_of_repr() -> None:
    assert "dyp_secret" not in repr(login("https://a.example"))


def test_an_unwritable_place_is_a_credentials_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CredentialsError, match=r"cannot (read|write)"):
        CredentialStore(blocker / "dockyard" / "credentials.json").put(login("https://a.example"))
