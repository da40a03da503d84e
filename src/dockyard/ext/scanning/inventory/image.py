"""The package inventory of an image: its layers read in order into one merged view, then every
detector's findings turned into packages once the distribution is known."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from dockyard.ext.scanning.inventory import osrelease
from dockyard.ext.scanning.inventory.bridge import OpenStream, run_on_stream
from dockyard.ext.scanning.inventory.findings import Finding, OsRelease
from dockyard.ext.scanning.inventory.overlay import Overlay
from dockyard.ext.scanning.inventory.walk import walk_layer
from dockyard.ext.scanning.packages import Distro, Inventory, LayerProblem, Package


@dataclass(frozen=True, slots=True)
class LayerSource:
    """One layer of the image: its descriptor, and how to stream its (compressed) bytes. `open`
    returns an async iterator of bytes, or an awaitable of one: the storage driver's
    `read(path)` of the blob fits as it is (`open=lambda: driver.read(blob_path(digest))`)."""

    digest: str
    media_type: str
    open: OpenStream


async def inventory_image(layers: Sequence[LayerSource]) -> Inventory:
    """Layers in manifest order (base first). A layer that cannot be read whole is reported in
    `Inventory.problems`; a failure to fetch its bytes (storage, network) is raised."""
    overlay = Overlay()
    problems: list[LayerProblem] = []
    for layer in layers:
        if "encrypted" in layer.media_type:  # ocicrypt: only the key holder can read it
            problems.append(LayerProblem(layer.digest, "encrypted layer, not inventoried"))
            continue
        work = partial(walk_layer, layer=layer.digest, overlay=overlay)
        problems.extend(await run_on_stream(layer.open, work))
    return build_inventory(overlay.findings(), problems)


def build_inventory(findings: Mapping[str, Finding], problems: Sequence[LayerProblem]) -> Inventory:
    distro = _distro(findings)
    packages = sorted(
        (package for finding in findings.values() for package in finding.packages(distro)),
        key=_order,
    )
    return Inventory(packages=tuple(packages), distro=distro, problems=tuple(problems))


def _distro(findings: Mapping[str, Finding]) -> Distro | None:
    for path in osrelease.PATHS:
        finding = findings.get(path)
        if isinstance(finding, OsRelease):
            return finding.distro
    return None


def _order(package: Package) -> tuple[str, ...]:
    return (package.ecosystem, package.name, package.version, package.path, package.purl)
