"""The Scanner conformance suite: what any `Scanner` must find in real images.

Subclass `ScannerSuite` in a test module and provide two fixtures:

- `scanner`: the Scanner under test, its database holding osv.dev's PyPI advisories
  (`PyPI-all.zip` imported with `dockyard.ext.scanning.vulndb.import_osv`);
- `publish`: `async (image: TestImage, repository: str) -> ScanTarget`, which puts the image
  where the scanner reads images from (in memory for the built-in scanner, a real registry for
  an adapter) and returns its target.

The images are built here from real bytes: gzip'd tar layers holding `etc/os-release` and the
`*.dist-info/METADATA` of Jinja2 2.10 and requests 2.19.0, whose advisories are known.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
import pytest

from dockyard.ext.scanning.inventory import LayerSource
from dockyard.ext.scanning.matcher import Finding
from dockyard.ext.scanning.packages import Ecosystem
from dockyard.ext.scanning.scanner import Scanner, ScanReport, ScanTarget
from dockyard.ext.scanning.severity import Severity
from dockyard.oci import mediatypes as mt

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
COSIGN_SIGNATURE = "application/vnd.dev.cosign.simplesigning.v1+json"
SITE_PACKAGES = "usr/local/lib/python3.11/site-packages"
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'

# advisory id → (package, version, a version that fixes it), as osv.dev's PyPI data has them
EXPECTED = {
    "PYSEC-2019-217": ("Jinja2", "2.10", "2.10.1"),
    "PYSEC-2021-66": ("Jinja2", "2.10", "2.11.3"),
    "PYSEC-2018-28": ("requests", "2.19.0", "2.20.0"),
    "PYSEC-2023-74": ("requests", "2.19.0", "2.31.0"),
}


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str
    diff_id: str = ""  # the digest of the uncompressed layer, for the image config

    @property
    def digest(self) -> str:
        return f"sha256:{hashlib.sha256(self.data).hexdigest()}"

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class TestImage:
    """An image manifest, its config and its layers, all as bytes."""

    __test__ = False  # not a test class, despite its name

    layers: tuple[Blob, ...]
    media_type: str = mt.OCI_MANIFEST
    config: Blob = field(init=False)
    manifest: bytes = field(init=False)

    def __post_init__(self) -> None:
        docker = self.media_type == mt.DOCKER_MANIFEST
        config = {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [b.diff_id or b.digest for b in self.layers]},
        }
        blob = Blob(json.dumps(config).encode(), DOCKER_CONFIG if docker else OCI_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": blob.descriptor(),
            "layers": [layer.descriptor() for layer in self.layers],
        }
        object.__setattr__(self, "config", blob)
        object.__setattr__(self, "manifest", json.dumps(manifest, indent=1).encode())

    @property
    def digest(self) -> str:
        return f"sha256:{hashlib.sha256(self.manifest).hexdigest()}"


def tar_layer(files: dict[str, bytes], media_type: str = OCI_LAYER) -> Blob:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    raw = out.getvalue()
    diff_id = f"sha256:{hashlib.sha256(raw).hexdigest()}"
    return Blob(gzip.compress(raw, compresslevel=1, mtime=0), media_type, diff_id)


def dist_info(name: str, version: str) -> tuple[str, bytes]:
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    return f"{SITE_PACKAGES}/{name}-{version}.dist-info/METADATA", metadata.encode()


def python_app_image(media_type: str = mt.OCI_MANIFEST) -> TestImage:
    """A Debian 12 base layer, then a layer with Jinja2 2.10 and requests 2.19.0."""
    docker = media_type == mt.DOCKER_MANIFEST
    kind = DOCKER_LAYER if docker else OCI_LAYER
    base = tar_layer({"etc/os-release": OS_RELEASE}, kind)
    app = tar_layer(dict([dist_info("Jinja2", "2.10"), dist_info("requests", "2.19.0")]), kind)
    return TestImage((base, app), media_type)


def truncated_layer() -> Blob:
    """A gzip'd tar cut off half way, as a failed upload or a buggy tool leaves one."""
    whole = tar_layer({"opt/data.bin": os.urandom(256 * 1024)})
    return Blob(whole.data[: len(whole.data) // 2], OCI_LAYER)


Publish = Callable[[TestImage, str], Awaitable[ScanTarget]]


async def memory_target(image: TestImage, repository: str) -> ScanTarget:
    """The image as the built-in scanner reads it, straight from memory: no registry."""

    def opener(data: bytes) -> Callable[[], AsyncIterator[bytes]]:
        async def read() -> AsyncIterator[bytes]:
            for at in range(0, len(data), 64 * 1024):
                yield data[at : at + 64 * 1024]

        return read

    layers = [LayerSource(b.digest, b.media_type, opener(b.data)) for b in image.layers]
    return ScanTarget(repository, image.digest, image.media_type, layers)


async def push_image(
    http: httpx.AsyncClient, registry_url: str, repository: str, image: TestImage, tag: str
) -> None:
    """Push with the OCI Distribution API: each blob in one POST, then the manifest."""
    base = f"{registry_url.rstrip('/')}/v2/{repository}"
    for blob in (image.config, *image.layers):
        headers = {"Content-Type": "application/octet-stream"}
        url = f"{base}/blobs/uploads/?digest={blob.digest}"
        answer = await http.post(url, content=blob.data, headers=headers)
        if answer.status_code == 202:  # a registry may refuse one-shot uploads: finish it
            location = httpx.URL(base).join(answer.headers["location"])
            answer = await http.put(
                location, params={"digest": blob.digest}, content=blob.data, headers=headers
            )
        assert answer.status_code == 201, answer.text
    answer = await http.put(
        f"{base}/manifests/{tag}",
        content=image.manifest,
        headers={"Content-Type": image.media_type},
    )
    assert answer.status_code == 201, answer.text


def _by_id(report: ScanReport) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for finding in report.findings:
        found.setdefault(finding.advisory_id, []).append(finding)
    return found


@pytest.mark.anyio
class ScannerSuite:
    async def test_known_advisories_are_found(self, scanner: Scanner, publish: Publish) -> None:
        target = await publish(python_app_image(), "suite/known")
        report = await scanner.scan(target)
        assert set(EXPECTED) <= set(_by_id(report))

    async def test_findings_name_the_package_its_version_and_the_fix(
        self, scanner: Scanner, publish: Publish
    ) -> None:
        report = await scanner.scan(await publish(python_app_image(), "suite/fields"))
        found = _by_id(report)
        for advisory, (name, version, fix) in EXPECTED.items():
            (finding,) = found[advisory]
            assert (finding.package.name, finding.package.version) == (name, version)
            assert finding.package.ecosystem is Ecosystem.PYPI
            assert fix in finding.fixed

    async def test_severities_are_consistent(self, scanner: Scanner, publish: Publish) -> None:
        report = await scanner.scan(await publish(python_app_image(), "suite/severity"))
        counts = {severity.name: 0 for severity in Severity}
        for finding in report.findings:
            assert isinstance(finding.severity, Severity)
            counts[finding.severity.name] += 1
            if finding.score is not None:  # a rating from a CVSS vector says what the score says
                assert Severity.from_score(finding.score) is finding.severity
        assert report.summary() == counts
        severities = [f.severity for f in report.findings]
        assert severities == sorted(severities, reverse=True)  # the most severe first

    async def test_the_report_says_what_and_who(self, scanner: Scanner, publish: Publish) -> None:
        target = await publish(python_app_image(), "suite/identity")
        report = await scanner.scan(target)
        assert report.digest == target.digest
        assert report.scanner == scanner.info
        assert report.db_version == await scanner.db_version()
        assert report.generated_at > 0
        packages = {(p.name, p.version) for p in report.inventory.packages}
        assert {("Jinja2", "2.10"), ("requests", "2.19.0")} <= packages

    async def test_docker_schema2_images_are_scanned(
        self, scanner: Scanner, publish: Publish
    ) -> None:
        target = await publish(python_app_image(mt.DOCKER_MANIFEST), "suite/docker")
        assert target.media_type == mt.DOCKER_MANIFEST
        assert set(EXPECTED) <= set(_by_id(await scanner.scan(target)))

    async def test_progress_runs_from_no_layer_to_all(
        self, scanner: Scanner, publish: Publish
    ) -> None:
        target = await publish(python_app_image(), "suite/progress")
        seen: list[tuple[int, int]] = []
        await scanner.scan(target, lambda done, total: seen.append((done, total)))
        total = len(target.layers)
        assert seen[0] == (0, total)
        assert seen[-1] == (total, total)
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)

    async def test_image_manifests_are_supported_other_types_are_not(
        self, scanner: Scanner
    ) -> None:
        assert scanner.supports(mt.OCI_MANIFEST)
        assert scanner.supports(mt.DOCKER_MANIFEST)
        for other in (COSIGN_SIGNATURE, mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST, mt.OCI_EMPTY):
            assert not scanner.supports(other)

    async def test_a_truncated_layer_is_reported_and_the_rest_scanned(
        self, scanner: Scanner, publish: Publish
    ) -> None:
        good = python_app_image()
        broken = truncated_layer()
        target = await publish(TestImage((*good.layers, broken)), "suite/truncated")
        report = await scanner.scan(target)
        assert [p.layer for p in report.inventory.problems] == [broken.digest]
        assert set(EXPECTED) <= set(_by_id(report))

    async def test_a_layer_of_an_unknown_type_is_reported(
        self, scanner: Scanner, publish: Publish
    ) -> None:
        good = python_app_image()
        odd = Blob(b"this is not a layer archive", "application/vnd.example.unknown")
        target = await publish(TestImage((*good.layers, odd)), "suite/unknown-layer")
        report = await scanner.scan(target)
        assert [p.layer for p in report.inventory.problems] == [odd.digest]
        assert report.inventory.problems[0].reason

    async def test_an_image_without_packages_has_no_findings(
        self, scanner: Scanner, publish: Publish
    ) -> None:
        image = TestImage((tar_layer({"etc/motd": b"hello\n"}),))
        report = await scanner.scan(await publish(image, "suite/empty"))
        assert report.findings == ()
        assert report.summary() == {severity.name: 0 for severity in sorted(Severity)[::-1]}


def finding_keys(findings: Sequence[Finding]) -> list[tuple[object, ...]]:
    """What two scanners reading the same image must agree on, finding by finding."""
    return sorted(
        (
            f.advisory_id,
            f.package.name,
            f.package.version,
            str(f.package.ecosystem),
            f.severity,
            f.score,
            f.fixed,
        )
        for f in findings
    )
