"""`dockyard auth rotate-keys` and `dockyard auth reset-password`: operator commands that work
on the database of a stopped registry, checked by starting the registry on it afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from dockyard.app import create_app
from dockyard.cli import auth as auth_cli
from dockyard.cli.main import app as cli
from dockyard.settings import Settings
from tests.conftest import ADMIN, ADMIN_PASSWORD

NEW_PASSWORD = "a-new-admin-password"
PULL = {"service": "dockyard", "scope": "repository:team-a/app:pull"}


def started(data_dir: Path) -> TestClient:
    return TestClient(create_app(Settings(data_dir=data_dir)), base_url="http://registry.test")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A registry that ran once: database, admin and a signing key exist."""
    with started(tmp_path) as client:
        assert client.post("/api/v1/projects", json={"name": "team-a"}, auth=ADMIN).is_success
    return tmp_path


def typed(monkeypatch: pytest.MonkeyPatch, *answers: str) -> None:
    """What the operator types at the two hidden prompts."""
    replies: Iterator[str] = iter(answers)
    monkeypatch.setattr(auth_cli.getpass, "getpass", lambda _prompt="": next(replies))


def reset(data_dir: Path, user: str = "admin") -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["auth", "reset-password", user, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def audit_entries(client: TestClient, action: str) -> list[dict[str, object]]:
    response = client.get("/api/v1/audit", params={"action": action}, auth=ADMIN)
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


# --- rotate-keys -----------------------------------------------------------------------------


def test_rotate_keys_signs_new_tokens_and_keeps_old_ones_valid(data_dir: Path) -> None:
    with started(data_dir) as client:
        old = client.get("/token", params=PULL, auth=ADMIN).json()["token"]
    old_kid = jwt.get_unverified_header(old)["kid"]

    result = CliRunner().invoke(cli, ["auth", "rotate-keys", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    new_kid = result.output.strip().rsplit(" ", 1)[-1]
    assert new_kid != old_kid and new_kid in result.output

    with started(data_dir) as client:
        new = client.get("/token", params=PULL, auth=ADMIN).json()["token"]
        assert jwt.get_unverified_header(new)["kid"] == new_kid
        for token in (old, new):
            response = client.get(
                "/v2/team-a/app/tags/list", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 404, response.text  # accepted; no such repository
        [entry] = audit_entries(client, "keys.rotate")
        assert entry["target"] == new_kid and entry["actor"] == "system"


def test_rotate_keys_without_a_database_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["auth", "rotate-keys", "--data-dir", str(tmp_path / "no")])
    assert result.exit_code != 0


# --- reset-password --------------------------------------------------------------------------


def test_reset_password_replaces_it_and_ends_sessions(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with started(data_dir) as client:
        params = {"service": "dockyard", "offline_token": "true"}
        refresh = client.get("/token", params=params, auth=ADMIN).json()["refresh_token"]
        login = client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        cookie = login.cookies["dockyard_session"]
        # a locked-out admin is what this command is for
        assert client.patch(
            "/api/v1/users/admin", json={"email": "a@x.test"}, auth=ADMIN
        ).is_success

    typed(monkeypatch, NEW_PASSWORD, NEW_PASSWORD)
    code, output = reset(data_dir)
    assert code == 0, output
    assert "password of admin changed" in output and NEW_PASSWORD not in output

    with started(data_dir) as client:
        assert client.get("/v2/", auth=ADMIN).status_code == 401
        assert client.get("/v2/", auth=("admin", NEW_PASSWORD)).status_code == 200
        form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": "dockyard"}
        assert client.post("/token", data=form).status_code == 401
        assert client.get("/api/v1/me", cookies={"dockyard_session": cookie}).status_code == 401
        response = client.get(
            "/api/v1/audit", params={"action": "user.password"}, auth=("admin", NEW_PASSWORD)
        )
        [entry] = response.json()["entries"]
        assert entry["target"] == "admin" and entry["actor"] == "system"
        assert NEW_PASSWORD not in response.text


def test_reset_password_enables_a_disabled_user(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with started(data_dir) as client:
        body = {"username": "root2", "password": "root2-password", "admin": True}
        assert client.post("/api/v1/users", json=body, auth=ADMIN).status_code == 201
        off = client.patch(
            "/api/v1/users/admin", json={"disabled": True}, auth=("root2", "root2-password")
        )
        assert off.status_code == 200
        assert client.get("/v2/", auth=ADMIN).status_code == 401
    typed(monkeypatch, NEW_PASSWORD, NEW_PASSWORD)
    assert reset(data_dir)[0] == 0
    with started(data_dir) as client:
        assert client.get("/v2/", auth=("admin", NEW_PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ((NEW_PASSWORD, NEW_PASSWORD + "x"), "differ"),
        (("short", "short"), "at least 12"),
        (("", ""), "at least 12"),
    ],
)
def test_reset_password_refuses_and_changes_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, answers: tuple[str, str], message: str
) -> None:
    typed(monkeypatch, *answers)
    code, output = reset(data_dir)
    assert code == 1 and message in output
    with started(data_dir) as client:
        assert client.get("/v2/", auth=ADMIN).status_code == 200


def test_reset_password_of_an_unknown_user(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    typed(monkeypatch, NEW_PASSWORD, NEW_PASSWORD)
    code, output = reset(data_dir, "nobody")
    assert code == 1 and "no local user 'nobody'" in output


def test_reset_password_reads_stdin_without_a_terminal(data_dir: Path) -> None:
    """The real getpass: with no controlling terminal (a new session) it falls back to stdin,
    which is how the password reaches the command from a script or a pipe. (CliRunner's
    `input=` only reaches getpass when /dev/tty cannot be opened, so that is not used here.)"""
    command = [sys.executable, "-m", "dockyard", "auth", "reset-password", "admin"]
    finished = subprocess.run(
        [*command, "--data-dir", str(data_dir)],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert NEW_PASSWORD not in finished.stdout + finished.stderr
    with started(data_dir) as client:
        assert client.get("/v2/", auth=("admin", NEW_PASSWORD)).status_code == 200
