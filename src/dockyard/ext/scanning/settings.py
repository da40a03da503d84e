"""`extensions: {scanning: …}`: the scanning extension's settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dockyard.ext.base import ExtensionSettings


class AdapterSettings(BaseModel):
    """An external scanner behind Harbor's pluggable scanner adapter API (Trivy, Clair, …): how
    `AdapterScanner` reaches it (docs/scanner-adapter.md)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    url: str  # the adapter's base URL; its API lives under /api/v1
    # Sent as `Authorization` to the adapter, e.g. "Bearer …"; never logged.
    authorization: str | None = Field(default=None, repr=False)
    timeout_seconds: float = Field(default=300.0, gt=0)
    # The URL the adapter pulls images from: this registry as the adapter's network sees it.
    # Unset: the `auth.public_url` setting.
    registry_url: str | None = None
    # How long the pull token lent for one scan lives: an adapter may queue a scan for a while
    # before it pulls (Harbor lends its scanners 30 minutes).
    pull_token_seconds: int = Field(default=1800, ge=60, le=86400)


class ScanningSettings(ExtensionSettings):
    # Scan each image when it is pushed, for projects whose policy does not say otherwise.
    scan_on_push: bool = True
    # OSV sources (files, directories, http(s) URLs of `<Ecosystem>-all.zip`) refreshed on a
    # schedule; empty: the database changes only through `dockyard vulndb import`.
    vulndb_sources: list[str] = Field(default_factory=list)
    vulndb_refresh_hours: float = Field(default=24.0, gt=0)
    # Whether this replica runs queued scans (off: it only queues them and serves reports, as
    # a replica dedicated to the API might). How often it looks for queued scans, and how long
    # a claimed scan may run before another replica takes it over.
    run_scans: bool = True
    poll_seconds: float = Field(default=2.0, gt=0)
    lease_seconds: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    # Serve Dockyard's own scanner through Harbor's adapter API at /scanner-adapter/api/v1.
    serve_adapter_api: bool = True
    # Scan with an external scanner through its adapter instead of the built-in scanner.
    adapter: AdapterSettings | None = None
