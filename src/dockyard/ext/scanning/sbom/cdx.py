"""CycloneDX 1.6 JSON for an image's inventory, built with cyclonedx-python-lib.

The image is `metadata.component` (type container); each package is a library component with its
purl, version, licenses when known, and `dockyard:` properties saying where it was found.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID, uuid4

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import fixup_id, is_expression
from packageurl import PackageURL

import dockyard
from dockyard.ext.scanning.packages import Distro, Inventory, Package
from dockyard.ext.scanning.sbom.image import (
    SbomImage,
    as_utc,
    canonical_purl,
    image_purl,
    rfc3339_utc,
)

PROPERTY_PREFIX = "dockyard:"


def cyclonedx_json(
    inventory: Inventory,
    image: SbomImage,
    *,
    generated_at: datetime | None = None,
    serial_number: UUID | None = None,
) -> bytes:
    """The CycloneDX 1.6 JSON document, UTF-8."""
    bom = Bom(serial_number=serial_number or uuid4())
    bom.metadata.timestamp = as_utc(generated_at or datetime.now(UTC)).replace(microsecond=0)
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="dockyard", version=dockyard.__version__)
    )
    for problem in inventory.problems:
        # Say so when layers could not be read: an SBOM that silently misses packages misleads.
        text = f"layer {problem.layer} could not be read ({problem.reason})"
        bom.metadata.properties.add(Property(name=f"{PROPERTY_PREFIX}incomplete", value=text))
    root = _image_component(image)
    bom.metadata.component = root
    members: list[Component] = []
    if inventory.distro is not None:
        members.append(_os_component(inventory.distro))
    refs: set[str] = set()
    members.extend(_package_component(p, _unique_ref(p, refs)) for p in inventory.packages)
    for member in members:
        bom.components.add(member)
    # The image "depends on" everything in it (Trivy writes its images the same way): without a
    # dependency graph a consumer cannot tell that the components belong to the image.
    bom.register_dependency(root, members)
    return JsonV1Dot6(bom).output_as_string().encode("utf-8")


def _image_component(image: SbomImage) -> Component:
    properties = [Property(name=f"{PROPERTY_PREFIX}image:repository", value=image.repository)]
    if image.tag:
        properties.append(Property(name=f"{PROPERTY_PREFIX}image:tag", value=image.tag))
    if image.created is not None:
        created = rfc3339_utc(image.created)
        properties.append(Property(name="org.opencontainers.image.created", value=created))
    return Component(
        type=ComponentType.CONTAINER,
        name=image.repository,
        version=image.digest,
        purl=PackageURL.from_string(image_purl(image)),
        bom_ref="image",
        properties=properties,
    )


def _os_component(distro: Distro) -> Component:
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=distro.id,
        version=distro.version_id or None,
        description=distro.pretty_name or None,
        bom_ref="operating-system",
    )


def _package_component(package: Package, bom_ref: str) -> Component:
    purl = canonical_purl(package.purl)
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=package.version or None,
        purl=PackageURL.from_string(purl) if purl else None,
        bom_ref=bom_ref,
        licenses=_licenses(package.licenses),
        properties=list(_properties(package)),
    )


def _unique_ref(package: Package, taken: set[str]) -> str:
    """The purl as bom-ref, made unique: one package may be found twice (two layers, two paths)."""
    base = canonical_purl(package.purl) or f"{package.ecosystem}/{package.name}@{package.version}"
    ref, n = base, 1
    while ref in taken:
        n += 1
        ref = f"{base}#{n}"
    taken.add(ref)
    return ref


def _licenses(found: Iterable[str]) -> list[License]:
    """SPDX ids as ids, anything else by name; a lone SPDX expression as an expression.

    CycloneDX allows either a list of licenses or exactly one expression, so an expression among
    several is kept as a named license rather than dropped.
    """
    texts = list(dict.fromkeys(text.strip() for text in found if text and text.strip()))
    if len(texts) == 1 and fixup_id(texts[0]) is None and is_expression(texts[0]):
        return [LicenseExpression(texts[0])]
    licenses: list[License] = []
    for text in texts:
        spdx_id = fixup_id(text)
        licenses.append(
            DisjunctiveLicense(id=spdx_id) if spdx_id else DisjunctiveLicense(name=text)
        )
    return licenses


def _properties(package: Package) -> Iterable[Property]:
    values = {
        "package:ecosystem": str(package.ecosystem),
        "package:path": package.path,
        "package:layer": package.layer,
        "package:distro-release": package.distro_release,
        "package:source-name": package.source_name,
        "package:source-version": package.source_version,
    }
    for name, value in values.items():
        if value:
            yield Property(name=PROPERTY_PREFIX + name, value=value)
