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

from dockyard.auth.config import AuthSettings


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


class S3Settings(Section):
    bucket: str = "dockyard"
    endpoint_url: str | None = Field(None, description="e.g. http://seaweedfs:8333; AWS if unset")
    region: str = "us-east-1"
    # Unset keys fall back to the usual AWS chain (AWS_ACCESS_KEY_ID/SECRET, profiles, roles).
    access_key: str | None = None
    secret_key: str | None = Field(None, repr=False)
    prefix: str = Field("", description="key prefix inside the bucket")
    path_style: bool = Field(True, description="path-style addressing (SeaweedFS, MinIO)")
    sse: Literal["AES256", "aws:kms"] | None = Field(None, description="server-side encryption")
    sse_kms_key_id: str | None = None
    part_size_mib: int = Field(16, ge=5, le=5120, description="multipart part size")


class StorageSettings(Section):
    driver: Literal["filesystem", "memory", "s3"] = "filesystem"
    root: Path | None = Field(None, description="blob directory; default <data_dir>/storage")
    fsync: bool = Field(True, description="fsync blobs before they become visible")
    s3: S3Settings = S3Settings()
    redirect: bool = Field(
        False, description="answer blob GETs with a presigned URL where the driver can (S3)"
    )
    redirect_expiry_seconds: int = Field(300, ge=10, le=7 * 24 * 3600)


class DatabaseSettings(Section):
    url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir")
    schema_name: str | None = Field(None, description="PostgreSQL schema (search_path)")
    auto_upgrade: bool | None = Field(
        None, description="migrate the schema at start; default yes on SQLite, no on PostgreSQL"
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = "FULL"


class RegistrySettings(Section):
    max_manifest_bytes: int = Field(4 * 1024 * 1024, gt=0)
    require_manifest_references: bool = Field(
        True, description="refuse manifests whose blobs/manifests are not in the repository"
    )
    delete_enabled: bool = True
    upload_expiry_seconds: int = Field(24 * 3600, gt=0)
    upload_sweep_interval_seconds: int = Field(600, gt=0)
    usage_flush_seconds: float = Field(
        5.0, gt=0, description="how often pull counts counted in memory are added to the database"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOCKYARD_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("data")
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    database: DatabaseSettings = DatabaseSettings()
    registry: RegistrySettings = RegistrySettings()
    auth: AuthSettings = AuthSettings()
    # The first start's admin password (DOCKYARD_ADMIN_PASSWORD); random and printed if unset.
    admin_password: str | None = Field(None, repr=False)
    # Optional subsystems, one section each: `extensions: {ui: {enabled: false}}`. Each section
    # is checked at start by its extension's own model (dockyard.ext.base), which forbids
    # unknown keys; a section naming no installed extension stops the server too.
    extensions: dict[str, dict[str, Any]] = Field(default_factory=dict)

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
