"""Settings come from defaults, a YAML file, DOCKYARD_* variables and flags, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from dockyard.cli.main import app
from dockyard.settings import Settings, load_settings


def test_defaults_are_the_embedded_shape() -> None:
    settings = Settings()
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 5000)
    assert settings.storage.driver == "filesystem"
    assert settings.storage_root == Path("data/storage")
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("/data/dockyard.db")
    assert settings.registry.max_manifest_bytes == 4 * 1024 * 1024


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "dockyard.yaml"
    config.write_text(
        "server:\n  port: 6000\n  workers: 3\nstorage:\n  fsync: false\n"
        "registry:\n  max_manifest_bytes: 1000\n"
    )
    from_file = load_settings(config)
    assert (from_file.server.port, from_file.server.workers) == (6000, 3)
    assert from_file.storage.fsync is False
    assert from_file.registry.max_manifest_bytes == 1000

    monkeypatch.setenv("DOCKYARD_SERVER__PORT", "7000")
    from_env = load_settings(config)
    assert from_env.server.port == 7000
    assert from_env.server.workers == 3  # the rest of the section still comes from the file

    from_flags = load_settings(config, server={"port": 8000})
    assert from_flags.server.port == 8000
    assert from_flags.server.workers == 3


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    config = tmp_path / "dockyard.yaml"
    config.write_text("storage:\n  drvier: memory\n")
    with pytest.raises(ValidationError, match="drvier"):
        load_settings(config)


def test_serve_reports_a_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml does not exist" in result.output


def test_serve_reports_a_bad_setting(tmp_path: Path) -> None:
    config = tmp_path / "dockyard.yaml"
    config.write_text("server:\n  port: not-a-number\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "port" in result.output
