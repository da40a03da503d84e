"""The Scanner port (DESIGN.md §4) and Dockyard's built-in scanner.

A scanner looks at one image (one platform of an index) and says which packages it holds and
which advisories affect them. The built-in one reads the layers itself (`inventory/`) and
matches the offline OSV database (`matcher.py`, `vulndb.py`); an adapter scanner asks an
external service through Harbor's pluggable scanner API. Both return the same `ScanReport`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.ext.scanning.inventory import LayerSource, inventory_image
from dockyard.ext.scanning.inventory.bridge import OpenStream
from dockyard.ext.scanning.matcher import Finding, match
from dockyard.ext.scanning.packages import Inventory
from dockyard.ext.scanning.severity import Severity
from dockyard.ext.scanning.vulndb import store_lookup
from dockyard.meta.base import MetadataStore

IMAGE_MANIFESTS = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)

Progress = Callable[[int, int], None]  # (layers read, layers in the image)


@dataclass(frozen=True, slots=True)
class ScannerInfo:
    name: str
    vendor: str
    version: str


class ScanError(Exception):
    """Why an image cannot be scanned. `retry`: whether running it again may help (a storage
    outage) or not (a layer that is not in the registry)."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True, slots=True)
class ScanTarget:
    """One image manifest and its layers, base first."""

    repository: str
    digest: str
    media_type: str
    layers: Sequence[LayerSource]
    platform: str = ""  # e.g. "linux/arm64" when it is a child of an index


@dataclass(frozen=True, slots=True)
class ScanReport:
    scanner: ScannerInfo
    db_version: str  # the vulnerability database version the findings come from
    digest: str
    generated_at: float
    inventory: Inventory
    findings: tuple[Finding, ...] = field(default=())

    def summary(self) -> dict[str, int]:
        """How many findings per severity, every severity present (0 when none)."""
        counts = {severity.name: 0 for severity in sorted(Severity, reverse=True)}
        for finding in self.findings:
            counts[finding.severity.name] += 1
        return counts


class Scanner(Protocol):
    info: ScannerInfo

    def supports(self, media_type: str) -> bool: ...

    async def scan(self, target: ScanTarget, progress: Progress | None = None) -> ScanReport: ...

    async def db_version(self) -> str:
        """The version of the vulnerability database a scan would use now."""


class BuiltinScanner:
    """Inventory from the layers, advisories from the metadata database: fully offline."""

    def __init__(self, store: MetadataStore, version: str) -> None:
        self._store = store
        self.info = ScannerInfo("dockyard", "Dockyard", version)

    def supports(self, media_type: str) -> bool:
        return media_type in IMAGE_MANIFESTS

    async def db_version(self) -> str:
        async with self._store.transaction(readonly=True) as tx:
            current = await tx.advisories.current()
        return current.db_version if current else "empty"

    async def db_updated_at(self) -> float | None:
        """When the current database was imported (seconds since the epoch); None: empty."""
        async with self._store.transaction(readonly=True) as tx:
            current = await tx.advisories.current()
        return current.imported_at if current else None

    async def scan(self, target: ScanTarget, progress: Progress | None = None) -> ScanReport:
        db_version = await self.db_version()
        layers = _counted(target.layers, progress)
        inventory = await inventory_image(layers)
        findings = await match(inventory.packages, store_lookup(self._store))
        return ScanReport(
            self.info, db_version, target.digest, time.time(), inventory, tuple(findings)
        )


def _counted(layers: Sequence[LayerSource], progress: Progress | None) -> list[LayerSource]:
    """The layers, each reporting to `progress` once its bytes have been read."""
    if progress is None:
        return list(layers)
    total = len(layers)
    progress(0, total)

    def wrap(index: int, layer: LayerSource) -> LayerSource:
        async def stream() -> AsyncIterator[bytes]:
            opened = layer.open()
            chunks = await opened if inspect.isawaitable(opened) else opened
            async for chunk in chunks:
                yield chunk
            progress(index + 1, total)

        opener: OpenStream = stream
        return LayerSource(layer.digest, layer.media_type, opener)

    return [wrap(i, layer) for i, layer in enumerate(layers)]
