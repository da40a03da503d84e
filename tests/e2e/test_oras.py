"""oras (the PyPI `oras` client) against a real `dockyard serve`: artifacts and referrers."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import oras.defaults
import oras.oci
import oras.provider
import pytest

from tests.conftest import ADMIN
from tests.e2e.conftest import DockyardServer
from tests.e2e.images import OCI_INDEX, OCI_MANIFEST, push_image, sha256, simple_image

CONFIG_TYPE = "application/vnd.dockyard.test.config.v1+json"
FILE_TYPE = "application/vnd.dockyard.test.file.v1"
SBOM_TYPE = "application/vnd.dockyard.test.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.dockyard.test.signature.v1"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """oras only pushes files under the working directory."""
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


def _client(registry: DockyardServer, workdir: Path) -> oras.provider.Registry:
    """oras logged in as the admin; the docker config it writes stays in the test's directory."""
    client = oras.provider.Registry(hostname=registry.address, insecure=True)
    config = workdir / ".oras" / "config.json"
    client.login(*ADMIN, hostname=registry.address, config_path=str(config))
    return client


def _raw_manifest(registry: DockyardServer, repository: str, reference: str) -> httpx.Response:
    response = httpx.get(
        f"{registry.url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": OCI_MANIFEST},
        auth=ADMIN,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response


def _push_empty_config_artifact(
    client: oras.provider.Registry,
    target: str,
    artifact_type: str,
    payload: Path,
    subject: dict | None = None,
    annotations: dict[str, str] | None = None,
) -> str:
    """An OCI 1.1 artifact (empty config, explicit artifactType) through oras' own calls."""
    container = client.get_container(target)
    empty = payload.parent / "empty.json"
    empty.write_bytes(b"{}")
    config = {"mediaType": EMPTY_TYPE, "digest": sha256(b"{}"), "size": 2}
    layer = oras.oci.NewLayer(str(payload), media_type=FILE_TYPE)
    layer["annotations"] = {oras.defaults.annotation_title: payload.name}
    for path, descriptor in [(empty, config), (payload, layer)]:
        response = client.upload_blob(str(path), container, descriptor)
        assert response.status_code in (200, 201), response.text
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": [layer],
        "annotations": annotations or {},
    }
    if subject is not None:
        manifest["subject"] = subject
    response = client.upload_manifest(manifest, container)
    assert response.status_code == 201, response.text
    if subject is not None:
        assert response.headers["OCI-Subject"] == subject["digest"]
    return str(response.headers["Docker-Content-Digest"])


def test_artifact_with_custom_media_types_round_trips(
    registry: DockyardServer, workdir: Path
) -> None:
    (workdir / "notes.txt").write_bytes(b"release notes\n" * 200)
    (workdir / "model.bin").write_bytes(random.Random(3).randbytes(300_000))
    (workdir / "config.json").write_text(json.dumps({"purpose": "e2e"}))
    client = _client(registry, workdir)
    target = f"{registry.address}/e2e/artifact:v1"

    pushed = client.push(
        target,
        files=[f"notes.txt:{FILE_TYPE}", f"model.bin:{FILE_TYPE}"],
        manifest_config=f"config.json:{CONFIG_TYPE}",
        manifest_annotations={"org.opencontainers.image.description": "an e2e artifact"},
        quiet=True,
    )
    assert pushed.status_code == 201

    manifest = client.get_manifest(target)
    assert manifest["config"]["mediaType"] == CONFIG_TYPE
    assert [layer["mediaType"] for layer in manifest["layers"]] == [FILE_TYPE, FILE_TYPE]
    assert manifest["annotations"] == {"org.opencontainers.image.description": "an e2e artifact"}
    raw = _raw_manifest(registry, "e2e/artifact", "v1")
    assert raw.headers["docker-content-digest"] == pushed.headers["docker-content-digest"]
    assert sha256(raw.content) == raw.headers["docker-content-digest"]

    out = workdir / "pulled"
    files = client.pull(target, outdir=str(out))
    assert sorted(Path(f).name for f in files) == ["model.bin", "notes.txt"]
    for name in ["notes.txt", "model.bin"]:
        assert (out / name).read_bytes() == (workdir / name).read_bytes()
    config = client.get_blob(target, manifest["config"]["digest"])
    assert config.content == (workdir / "config.json").read_bytes()
    assert client.get_tags(f"{registry.address}/e2e/artifact") == ["v1"]


def test_artifact_type_and_chunked_upload(registry: DockyardServer, workdir: Path) -> None:
    payload = workdir / "big.bin"
    payload.write_bytes(random.Random(5).randbytes(5 * 1024 * 1024 + 123))
    client = _client(registry, workdir)
    target = f"{registry.address}/e2e/chunked:v1"

    container = client.get_container(target)
    layer = oras.oci.NewLayer(str(payload), media_type=FILE_TYPE)
    response = client.chunked_upload(str(payload), container, layer, chunk_size=1024 * 1024)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == layer["digest"]

    digest = _push_empty_config_artifact(client, target, SBOM_TYPE, payload)
    raw = _raw_manifest(registry, "e2e/chunked", "v1")
    assert sha256(raw.content) == digest
    assert json.loads(raw.content)["artifactType"] == SBOM_TYPE
    out = workdir / "pulled"
    client.pull(target, outdir=str(out))
    assert (out / "big.bin").read_bytes() == payload.read_bytes()


def test_referrers_of_a_pushed_image(registry: DockyardServer, workdir: Path) -> None:
    image = simple_image("signed")
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30) as http:
        push_image(http, "e2e/signed", image, "v1")
    subject = {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": len(image.manifest)}
    client = _client(registry, workdir)

    # A referrer pushed with oras' high-level push: artifactType comes from its config type.
    (workdir / "sig.bin").write_bytes(b"not really a signature")
    (workdir / "sig-config.json").write_text("{}")
    pushed = client.push(
        f"{registry.address}/e2e/signed:sig",
        files=[f"sig.bin:{FILE_TYPE}"],
        manifest_config=f"sig-config.json:{SIGNATURE_TYPE}",
        subject=oras.oci.Subject(**subject),
        manifest_annotations={"kind": "signature"},
        quiet=True,
    )
    assert pushed.status_code == 201
    assert pushed.headers["OCI-Subject"] == image.digest
    signature_digest = pushed.headers["Docker-Content-Digest"]

    # A referrer with an explicit artifactType and the empty config (the OCI 1.1 way).
    (workdir / "sbom.json").write_text(json.dumps({"packages": ["busybox"]}))
    sbom_digest = _push_empty_config_artifact(
        client,
        f"{registry.address}/e2e/signed:sbom",
        SBOM_TYPE,
        workdir / "sbom.json",
        subject=subject,
        annotations={"kind": "sbom"},
    )

    url = f"{registry.url}/v2/e2e/signed/referrers/{image.digest}"
    every = httpx.get(url, auth=ADMIN, timeout=30)
    assert every.status_code == 200
    assert every.headers["content-type"] == OCI_INDEX
    assert "oci-filters-applied" not in every.headers
    index = every.json()
    assert index["mediaType"] == OCI_INDEX
    found = {m["digest"]: m for m in index["manifests"]}
    assert set(found) == {signature_digest, sbom_digest}
    assert found[signature_digest]["artifactType"] == SIGNATURE_TYPE
    assert found[signature_digest]["annotations"] == {"kind": "signature"}
    assert found[sbom_digest]["artifactType"] == SBOM_TYPE
    for digest, descriptor in found.items():
        raw = httpx.get(
            f"{registry.url}/v2/e2e/signed/manifests/{digest}",
            headers={"Accept": OCI_MANIFEST},
            auth=ADMIN,
            timeout=30,
        )
        assert descriptor["size"] == len(raw.content)
        assert descriptor["mediaType"] == OCI_MANIFEST

    filtered = httpx.get(url, params={"artifactType": SBOM_TYPE}, auth=ADMIN, timeout=30)
    assert filtered.status_code == 200
    assert filtered.headers["oci-filters-applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [sbom_digest]

    none = httpx.get(url, params={"artifactType": "application/x-nothing"}, auth=ADMIN, timeout=30)
    assert none.json()["manifests"] == []

    # The image itself is untouched and the referrers do not show up as its tags.
    assert _raw_manifest(registry, "e2e/signed", "v1").content == image.manifest
    assert client.get_tags(f"{registry.address}/e2e/signed") == ["sbom", "sig", "v1"]


def test_delete_tag_with_oras(registry: DockyardServer, workdir: Path) -> None:
    (workdir / "a.txt").write_text("a")
    client = _client(registry, workdir)
    repository = f"{registry.address}/e2e/deletable"
    client.push(f"{repository}:one", files=["a.txt"], quiet=True)
    (workdir / "a.txt").write_text("b")
    client.push(f"{repository}:two", files=["a.txt"], quiet=True)

    assert client.delete_tag(repository, "one") is True
    assert client.get_tags(repository) == ["two"]
    assert client.delete_tag(repository, "one") is False
