"""SPDX 2.3 JSON for an image's inventory, written directly (the format is small and fixed).

The document DESCRIBES the image package; the image CONTAINS its operating system and every
package. No files are listed, so every package says `filesAnalyzed: false` (otherwise SPDX 2.3
requires a package verification code over files the document does not have).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from cyclonedx.spdx import fixup_id, is_expression

import dockyard
from dockyard.ext.scanning.packages import Distro, Inventory, Package
from dockyard.ext.scanning.sbom.image import (
    SbomImage,
    canonical_purl,
    found_at,
    image_purl,
    rfc3339_utc,
)
from dockyard.oci.digest import Digest

NOASSERTION = "NOASSERTION"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
IMAGE_ID = "SPDXRef-Image"
OS_ID = "SPDXRef-OperatingSystem"
# Unique, never fetched: SPDX namespaces identify documents, they need not resolve.
NAMESPACE_HOST = "dockyard.invalid"
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9.-]+")


def spdx_json(
    inventory: Inventory,
    image: SbomImage,
    *,
    generated_at: datetime | None = None,
    document_id: UUID | None = None,
) -> bytes:
    """The SPDX 2.3 JSON document, UTF-8."""
    packages = [_image_package(image)]
    relationships = [_relationship(DOCUMENT_ID, "DESCRIBES", IMAGE_ID)]
    if inventory.distro is not None:
        packages.append(_os_package(inventory.distro))
        relationships.append(_relationship(IMAGE_ID, "CONTAINS", OS_ID))
    taken = {IMAGE_ID, OS_ID}
    for package in inventory.packages:
        spdx_id = _unique_id(package, taken)
        packages.append(_package(package, spdx_id))
        relationships.append(_relationship(IMAGE_ID, "CONTAINS", spdx_id))
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": DOCUMENT_ID,
        "name": image.display_name,
        "documentNamespace": _namespace(image, document_id or uuid4()),
        "creationInfo": {
            "created": rfc3339_utc(generated_at or datetime.now(UTC)),
            "creators": [f"Tool: dockyard-{dockyard.__version__}"],
        },
        "packages": packages,
        "relationships": relationships,
    }
    if inventory.problems:
        # Say so when layers could not be read: an SBOM that silently misses packages misleads.
        document["comment"] = "Incomplete: " + "; ".join(
            f"layer {p.layer} could not be read ({p.reason})" for p in inventory.problems
        )
    return json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8")


def _namespace(image: SbomImage, document_id: UUID) -> str:
    parsed = Digest.parse(image.digest)
    host = image.registry or NAMESPACE_HOST
    return f"https://{host}/spdx/{image.repository}/{parsed.algorithm}-{parsed.hex}/{document_id}"


def _image_package(image: SbomImage) -> dict[str, Any]:
    parsed = Digest.parse(image.digest)
    package = {
        "SPDXID": IMAGE_ID,
        "name": image.repository,
        "versionInfo": image.digest,
        "primaryPackagePurpose": "CONTAINER",
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        # The manifest digest is a checksum of the manifest, the file that is the image.
        "checksums": [{"algorithm": parsed.algorithm.upper(), "checksumValue": parsed.hex}],
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "externalRefs": [_purl_ref(image_purl(image))],
    }
    if image.created is not None:
        package["builtDate"] = rfc3339_utc(image.created)
    return package


def _os_package(distro: Distro) -> dict[str, Any]:
    package: dict[str, Any] = {
        "SPDXID": OS_ID,
        "name": distro.id,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
    }
    if distro.version_id:
        package["versionInfo"] = distro.version_id
    if distro.pretty_name:
        package["description"] = distro.pretty_name
    return package


def _package(package: Package, spdx_id: str) -> dict[str, Any]:
    declared = declared_license(package.licenses)
    found: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": package.name,
        "primaryPackagePurpose": "LIBRARY",
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        # Concluded means someone reviewed it; an inventory only reads what the package declares.
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": declared,
        "copyrightText": NOASSERTION,
        "sourceInfo": found_at(package),
    }
    if package.version:
        found["versionInfo"] = package.version
    if declared == NOASSERTION and package.licenses:
        found["licenseComments"] = "licenses found: " + ", ".join(package.licenses)
    purl = canonical_purl(package.purl)
    if purl:
        found["externalRefs"] = [_purl_ref(purl)]
    return found


def declared_license(found: Iterable[str]) -> str:
    """The licenses as one SPDX expression, or NOASSERTION when any is not SPDX.

    Several licenses found for one package (a Debian copyright file lists one per group of files)
    all apply at once, hence AND; a license we cannot name in SPDX makes the whole unknown.
    """
    parts: list[str] = []
    for text in dict.fromkeys(t.strip() for t in found if t and t.strip()):
        spdx_id = fixup_id(text)
        if spdx_id:
            parts.append(spdx_id)
        elif is_expression(text):
            parts.append(text)
        else:
            return NOASSERTION
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(f"({p})" if " " in p else p for p in parts) or NOASSERTION


def _unique_id(package: Package, taken: set[str]) -> str:
    stem = _NOT_IN_ID.sub("-", f"{package.name}-{package.version}").strip("-") or "package"
    spdx_id, n = f"SPDXRef-Package-{stem}", 1
    while spdx_id in taken:
        n += 1
        spdx_id = f"SPDXRef-Package-{stem}-{n}"
    taken.add(spdx_id)
    return spdx_id


def _purl_ref(purl: str) -> dict[str, str]:
    return {
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }


def _relationship(element: str, kind: str, related: str) -> dict[str, str]:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}
