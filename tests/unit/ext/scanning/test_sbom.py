"""SBOM writers: CycloneDX 1.6 checked against its JSON schema (cyclonedx-python-lib's strict
validator), SPDX 2.3 checked field by field (and by spdx-tools when it is installed), and the
referrer artifact checked by the registry's own manifest parser."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

import dockyard
from dockyard.ext.scanning.packages import Distro, Ecosystem, Inventory, LayerProblem, Package
from dockyard.ext.scanning.sbom import (
    CYCLONEDX_JSON,
    EMPTY_CONFIG,
    EMPTY_CONFIG_BYTES,
    SPDX_JSON,
    SbomImage,
    blob_descriptor,
    cyclonedx_json,
    image_purl,
    sbom_artifact_manifest,
    spdx_json,
)
from dockyard.ext.scanning.sbom.spdx import declared_license
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import InvalidDigest
from dockyard.oci.manifest import Descriptor, parse_manifest

DIGEST = "sha256:" + "a" * 64
LAYER = "sha256:" + "b" * 64
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
IMAGE = SbomImage("team/app", DIGEST, "v1", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "reg:5000")
OPENSSL = Package(
    name="openssl",
    version="3.0.11-1~deb12u2",
    ecosystem=Ecosystem.DEBIAN,
    purl="pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
    path="var/lib/dpkg/status",
    layer=LAYER,
    distro_release="12",
    source_name="openssl",
    source_version="3.0.11-1~deb12u2",
    licenses=("Apache-2.0", "GPL-2+"),
)
REQUESTS = Package(
    "requests",
    "2.31.0",
    Ecosystem.PYPI,
    "pkg:pypi/requests@2.31.0",
    "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
    licenses=("MIT", "bsd-3-clause"),
)
INVENTORY = Inventory(
    packages=(
        OPENSSL,
        REQUESTS,
        # The same package found again in a later layer: both are listed, with distinct ids.
        Package(
            "zlib1g",
            "1:1.2.13",
            Ecosystem.DEBIAN,
            "pkg:deb/debian/zlib1g@1:1.2.13",
            "var/lib/dpkg/status",
            LAYER,
            licenses=("Zlib",),
        ),
        Package(
            "zlib1g",
            "1:1.2.13",
            Ecosystem.DEBIAN,
            "pkg:deb/debian/zlib1g@1:1.2.13",
            "var/lib/dpkg/status",
            "sha256:" + "c" * 64,
            licenses=("MIT OR Apache-2.0",),
        ),
        Package("weird name/with spaces", "", Ecosystem.GO, "not a purl", "usr/bin/x"),
    ),
    distro=Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
    problems=(LayerProblem("sha256:" + "d" * 64, "tar ends early"),),
)


def no_warnings(make: Any, *args: Any, **kwargs: Any) -> bytes:
    """cyclonedx-python-lib warns about BOMs it thinks incomplete; ours must not draw any."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return make(*args, **kwargs)


# --- CycloneDX ------------------------------------------------------------------------------------


def cdx(inventory: Inventory = INVENTORY, image: SbomImage = IMAGE, **kw: Any) -> dict[str, Any]:
    body = no_warnings(cyclonedx_json, inventory, image, generated_at=WHEN, **kw)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(body.decode("utf-8"))
    assert error is None, str(error)
    return json.loads(body)


def test_cyclonedx_document() -> None:
    doc = cdx()
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", doc["serialNumber"])
    assert datetime.fromisoformat(doc["metadata"]["timestamp"]) == WHEN
    [tool] = doc["metadata"]["tools"]["components"]
    assert (tool["name"], tool["version"]) == ("dockyard", dockyard.__version__)
    incomplete = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert "tar ends early" in incomplete["dockyard:incomplete"]


def test_cyclonedx_image_is_the_subject() -> None:
    image = cdx()["metadata"]["component"]
    assert image["type"] == "container" and image["name"] == "team/app"
    assert image["version"] == DIGEST
    purl = PackageURL.from_string(image["purl"])
    assert (purl.type, purl.name, purl.version) == ("oci", "app", DIGEST)
    assert purl.qualifiers == {"repository_url": "reg:5000/team/app", "tag": "v1"}
    properties = {p["name"]: p["value"] for p in image["properties"]}
    assert properties["org.opencontainers.image.created"] == "2024-01-02T03:04:05Z"


def test_cyclonedx_components() -> None:
    doc = cdx()
    components = doc["components"]
    assert len(components) == len(INVENTORY.packages) + 1  # and the operating system
    [os_component] = [c for c in components if c["type"] == "operating-system"]
    assert (os_component["name"], os_component["version"]) == ("debian", "12")
    refs = [c["bom-ref"] for c in components]
    assert len(set(refs)) == len(refs)
    [openssl] = [c for c in components if c["name"] == "openssl"]
    assert openssl["purl"] == OPENSSL.purl and openssl["version"] == OPENSSL.version
    assert openssl["licenses"] == [
        {"license": {"id": "Apache-2.0"}},
        {"license": {"name": "GPL-2+"}},
    ]
    properties = {p["name"]: p["value"] for p in openssl["properties"]}
    assert properties["dockyard:package:path"] == "var/lib/dpkg/status"
    assert properties["dockyard:package:layer"] == LAYER
    assert properties["dockyard:package:source-name"] == "openssl"
    [requests] = [c for c in components if c["name"] == "requests"]
    assert {lic["license"]["id"] for lic in requests["licenses"]} == {"MIT", "BSD-3-Clause"}
    expression = [c for c in components if c.get("licenses", [{}])[0].get("expression")]
    assert [c["licenses"] for c in expression] == [[{"expression": "MIT OR Apache-2.0"}]]
    [weird] = [c for c in components if c["name"].startswith("weird")]
    assert "purl" not in weird and "version" not in weird
    [root] = [d for d in doc["dependencies"] if d["ref"] == "image"]
    assert sorted(root["dependsOn"]) == sorted(refs)


def test_cyclonedx_of_an_empty_inventory_is_repeatable() -> None:
    image = SbomImage("app", DIGEST)
    serial = UUID("00000000-0000-4000-8000-000000000001")
    first = no_warnings(
        cyclonedx_json, Inventory(()), image, generated_at=WHEN, serial_number=serial
    )
    assert first == cyclonedx_json(Inventory(()), image, generated_at=WHEN, serial_number=serial)
    doc = cdx(Inventory(()), image)
    assert "components" not in doc or doc["components"] == []
    assert "repository_url" not in doc["metadata"]["component"]["purl"]


# --- SPDX -----------------------------------------------------------------------------------------

SPDX_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
SPDX_ID = re.compile(r"SPDXRef-[A-Za-z0-9.-]+")


def spdx(inventory: Inventory = INVENTORY, image: SbomImage = IMAGE) -> dict[str, Any]:
    return json.loads(spdx_json(inventory, image, generated_at=WHEN))


def test_spdx_document_fields() -> None:
    """The SPDX 2.3 JSON schema's required fields, by hand: no copy of the schema ships in any
    package installed here."""
    doc = spdx()
    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"
    assert doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert doc["name"] == f"team/app:v1@{DIGEST}"
    assert doc["documentNamespace"].startswith(f"https://reg:5000/spdx/team/app/sha256-{'a' * 64}/")
    assert "#" not in doc["documentNamespace"]
    assert doc["creationInfo"] == {
        "created": "2024-05-06T07:08:09Z",
        "creators": [f"Tool: dockyard-{dockyard.__version__}"],
    }
    assert "tar ends early" in doc["comment"]
    for package in doc["packages"]:
        assert SPDX_ID.fullmatch(package["SPDXID"])
        assert package["name"] and package["downloadLocation"] == "NOASSERTION"
        assert package["filesAnalyzed"] is False
        assert package["licenseConcluded"] == "NOASSERTION"
        for ref in package.get("externalRefs", []):
            assert ref["referenceCategory"] == "PACKAGE-MANAGER"
            assert ref["referenceType"] == "purl"
            PackageURL.from_string(ref["referenceLocator"])
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(set(ids)) == len(ids)


def test_spdx_relationships() -> None:
    doc = spdx()
    ids = {p["SPDXID"] for p in doc["packages"]} | {"SPDXRef-DOCUMENT"}
    kinds = [(r["spdxElementId"], r["relationshipType"]) for r in doc["relationships"]]
    assert kinds[0] == ("SPDXRef-DOCUMENT", "DESCRIBES")
    assert doc["relationships"][0]["relatedSpdxElement"] == "SPDXRef-Image"
    contained = [r["relatedSpdxElement"] for r in doc["relationships"][1:]]
    assert set(kinds[1:]) == {("SPDXRef-Image", "CONTAINS")}
    assert sorted(contained) == sorted(ids - {"SPDXRef-DOCUMENT", "SPDXRef-Image"})


def test_spdx_packages() -> None:
    packages = {p["SPDXID"]: p for p in spdx()["packages"]}
    image = packages["SPDXRef-Image"]
    assert image["primaryPackagePurpose"] == "CONTAINER" and image["versionInfo"] == DIGEST
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": "a" * 64}]
    assert image["builtDate"] == "2024-01-02T03:04:05Z"
    assert image["externalRefs"][0]["referenceLocator"] == image_purl(IMAGE)
    assert packages["SPDXRef-OperatingSystem"]["versionInfo"] == "12"
    openssl = packages["SPDXRef-Package-openssl-3.0.11-1-deb12u2"]
    assert openssl["licenseDeclared"] == "NOASSERTION"  # GPL-2+ is Debian's name, not SPDX's
    assert openssl["licenseComments"] == "licenses found: Apache-2.0, GPL-2+"
    assert LAYER in openssl["sourceInfo"] and "/var/lib/dpkg/status" in openssl["sourceInfo"]
    assert packages["SPDXRef-Package-requests-2.31.0"]["licenseDeclared"] == "MIT AND BSD-3-Clause"
    assert "SPDXRef-Package-zlib1g-1-1.2.13-2" in packages
    weird = packages["SPDXRef-Package-weird-name-with-spaces"]
    assert "externalRefs" not in weird and "versionInfo" not in weird


@pytest.mark.parametrize(
    ("found", "declared"),
    [
        ((), "NOASSERTION"),
        (("MIT",), "MIT"),
        (("mit",), "MIT"),
        (("MIT OR Apache-2.0",), "MIT OR Apache-2.0"),
        (("MIT", "MIT OR Apache-2.0"), "MIT AND (MIT OR Apache-2.0)"),
        (("MIT", "MIT"), "MIT"),
        (("MIT", "public-domain"), "NOASSERTION"),
        (("", "  "), "NOASSERTION"),
    ],
)
def test_declared_license(found: tuple[str, ...], declared: str) -> None:
    assert declared_license(found) == declared


def test_spdx_namespaces_are_unique() -> None:
    image = SbomImage("app", DIGEST)
    first, second = spdx(Inventory(()), image), spdx(Inventory(()), image)
    assert first["documentNamespace"] != second["documentNamespace"]
    assert first["documentNamespace"].startswith("https://dockyard.invalid/spdx/app/sha256-")
    assert [r["relationshipType"] for r in first["relationships"]] == ["DESCRIBES"]


def test_times_are_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    doc = json.loads(
        spdx_json(Inventory(()), IMAGE, generated_at=datetime(2024, 1, 1, 20, tzinfo=eastern))
    )
    assert doc["creationInfo"]["created"] == "2024-01-02T01:00:00Z"
    assert SPDX_TIME.fullmatch(
        json.loads(spdx_json(Inventory(()), IMAGE))["creationInfo"]["created"]
    )


def test_a_time_without_a_zone_is_utc() -> None:
    naive = datetime(2024, 1, 1, 20)
    body = cyclonedx_json(Inventory(()), IMAGE, generated_at=naive)
    assert json.loads(body)["metadata"]["timestamp"] == "2024-01-01T20:00:00+00:00"
    assert (
        spdx(Inventory(()), SbomImage("app", DIGEST, created=naive))["packages"][0]["builtDate"]
        == "2024-01-01T20:00:00Z"
    )


def test_spdx_tools_accepts_the_document(tmp_path: Path) -> None:
    """spdx-tools (the SPDX project's own validator) when present; not a project dependency."""
    pytest.importorskip("spdx_tools")
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(spdx_json(INVENTORY, IMAGE))
    assert validate_full_spdx_document(parse_file(str(path))) == []


def test_image_identity() -> None:
    with pytest.raises(InvalidDigest):
        SbomImage("app", "latest")
    assert image_purl(SbomImage("library/debian", DIGEST)) == f"pkg:oci/debian@{DIGEST}"


# --- the referrer artifact ------------------------------------------------------------------------


def test_empty_config_is_the_empty_json_object() -> None:
    assert EMPTY_CONFIG["digest"] == "sha256:" + hashlib.sha256(EMPTY_CONFIG_BYTES).hexdigest()
    assert EMPTY_CONFIG["size"] == len(EMPTY_CONFIG_BYTES)


@pytest.mark.parametrize(
    ("artifact_type", "make"), [(CYCLONEDX_JSON, cyclonedx_json), (SPDX_JSON, spdx_json)]
)
def test_sbom_artifact_manifest_is_accepted_by_the_registry(artifact_type: str, make: Any) -> None:
    sbom = make(INVENTORY, IMAGE)
    layer = blob_descriptor(sbom, artifact_type)
    assert layer["digest"] == "sha256:" + hashlib.sha256(sbom).hexdigest()
    subject = Descriptor(mt.OCI_MANIFEST, DIGEST, 1234)
    manifest = sbom_artifact_manifest(
        subject, layer, artifact_type, {"org.example.scanner": "dockyard"}, created=WHEN
    )
    parsed = parse_manifest(json.dumps(manifest).encode(), mt.OCI_MANIFEST)
    assert parsed.media_type == mt.OCI_MANIFEST
    assert parsed.artifact_type == artifact_type
    assert parsed.subject == subject
    config, sbom_layer = parsed.blobs
    assert (config.media_type, config.digest, config.size) == (
        mt.OCI_EMPTY,
        EMPTY_CONFIG["digest"],
        2,
    )
    assert (sbom_layer.media_type, sbom_layer.digest, sbom_layer.size) == (
        artifact_type,
        layer["digest"],
        len(sbom),
    )
    assert parsed.annotations == {
        "org.opencontainers.image.created": "2024-05-06T07:08:09Z",
        "org.example.scanner": "dockyard",
    }


def test_sbom_artifact_manifest_from_plain_descriptors() -> None:
    subject = {"mediaType": mt.DOCKER_MANIFEST, "digest": DIGEST, "size": 10}
    layer = blob_descriptor(b"{}", SPDX_JSON)
    manifest = sbom_artifact_manifest(subject, layer, SPDX_JSON)
    parsed = parse_manifest(json.dumps(manifest).encode(), None)
    assert parsed.subject == Descriptor(mt.DOCKER_MANIFEST, DIGEST, 10)
    created = (parsed.annotations or {})["org.opencontainers.image.created"]
    assert SPDX_TIME.fullmatch(created)
