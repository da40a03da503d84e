"""Typed settings, one section per subsystem.

Precedence, highest first: command-line flags, `DOCKYARD_*` environment variables (nested with
`__`, e.g. `DOCKYARD_STORAGE__DRIVER=memory`), the YAML file given with `--config`, defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class Section(BaseModel):
    # A misspelt key must fail loudly rather than silently keep a default.
    model_config = ConfigDict(extra="forbid")


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = Field(1, ge=1, description="worker processes")
    access_log: bool = True
    shutdown_timeout: int = Field(
        10, ge=1, description="seconds in-flight requests get after SIGTERM before workers stop"
    )


class StorageSettings(Section):
    driver: Literal["filesystem", "memory"] = "filesystem"
    root: Path | None = Field(None, description="blob directory; default <data_dir>/storage")
    fsync: bool = Field(True, description="fsync blobs before they become visible")


class DatabaseSettings(Section):
    url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir")
    schema_name: str | None = Field(None, description="PostgreSQL schema (search_path)")
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = "FULL"


class RegistrySettings(Section):
    max_manifest_bytes: int = Field(4 * 1024 * 1024, gt=0)
    require_manifest_references: bool = Field(
        True, description="refuse manifests whose blobs/manifests are not in the repository"
    )
    delete_enabled: bool = True
    upload_expiry_seconds: int = Field(24 * 3600, gt=0)
    upload_sweep_interval_seconds: int = Field(600, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOCKYARD_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("data")
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    database: DatabaseSettings = DatabaseSettings()
    registry: RegistrySettings = RegistrySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if settings_cls.model_config.get("yaml_file"):
            sources += (YamlConfigSettingsSource(settings_cls),)
        return sources

    @property
    def storage_root(self) -> Path:
        return self.storage.root or self.data_dir / "storage"

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{os.path.abspath(self.data_dir / 'dockyard.db')}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from a YAML file (optional), the environment and explicit overrides."""
    if config_file is None:
        return Settings(**overrides)
    if not config_file.is_file():
        raise FileNotFoundError(f"config file {config_file} does not exist")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(**{**Settings.model_config, "yaml_file": config_file})

    return FileSettings(**overrides)
