"""What the remote commands say before they reach any registry: usage mistakes (exit 2) and
a missing login (exit 3), each in one line on stderr."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dockyard.cli.main import app

Run = Callable[..., tuple[int, str]]  # (exit code, stderr)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "credentials.json"))
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str, input: str = "") -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), input=input)
        return result.exit_code, result.stderr

    return invoke


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["robot", "create", "ci", "--permission", "team/*"], "write REPOSITORIES:ACTIONS"),
        (["tag", "delete", "team/app", "--yes"], "write REPOSITORY:TAG"),
        (["project", "members", "add", "team", "--role", "guest"], "exactly one of --user"),
        (["project", "delete", "team"], "Pass --yes to confirm without a terminal"),
        (["login", "http://127.0.0.1:1", "--password-stdin"], "give --username"),
        (["login", "http://127.0.0.1:1", "-u", "a"], "pass --password-stdin"),
        (["audit", "list", "--since", "yesterday"], "is not a time"),
    ],
)
def test_usage_mistakes(run: Run, args: list[str], message: str) -> None:
    code, stderr = run(*args)
    assert code == 2
    assert message in " ".join(stderr.split())


def test_without_a_login_every_remote_command_says_how_to_log_in(run: Run) -> None:
    for args in (["project", "list"], ["user", "show", "x"], ["audit", "export"]):
        code, stderr = run(*args)
        assert code == 3
        assert stderr == "error: not logged in to any registry, run `dockyard login URL`\n"
    code, stderr = run("repo", "list", "team", "--registry", "r.example.com")
    assert code == 3
    url = "https://r.example.com"
    assert f"not logged in to {url}, run `dockyard login {url}`" in stderr


def test_logout_without_a_login_is_fine(run: Run) -> None:
    code, stderr = run("logout")
    assert code == 0 and "not logged in" in stderr
