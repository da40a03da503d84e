"""skopeo against a real `dockyard serve`: push, pull, inspect, list tags, delete, multi-arch."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import httpx

from tests.conftest import ADMIN
from tests.e2e.conftest import DockyardServer, MakeRegistry, Skopeo
from tests.e2e.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    Image,
    Layout,
    build_multiarch,
    sha256,
    simple_image,
    umoci_image,
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def _push(skopeo: Skopeo, registry: DockyardServer, tmp_path: Path, image: Image, ref: str) -> str:
    layout = Layout(tmp_path / f"src-{sha256(image.manifest)[7:19]}")
    layout.add_image(image, "src")
    destination = f"docker://{registry.address}/{ref}"
    skopeo.copy(f"oci:{layout.root}:src", destination)
    return destination


def _assert_layout_holds(layout: Layout, tag: str, image: Image) -> None:
    """The pulled layout has exactly the pushed manifest and byte-identical blobs."""
    desc = layout.resolve(tag)
    assert desc["digest"] == image.digest
    assert layout.blob(image.digest) == image.manifest
    for digest, data in image.blobs.items():
        assert layout.blob(digest) == data, f"blob {digest} differs after the round trip"


def _stored(registry: DockyardServer) -> list[str]:
    """The digest of every stored blob copy, sorted (a duplicate copy appears twice)."""
    return [blob.digest for blob in registry.stored_blobs()]


def _inspect(skopeo: Skopeo, reference: str, *extra: str) -> dict:
    return json.loads(skopeo("inspect", "--tls-verify=false", *extra, reference).stdout)


def test_push_and_pull_back_to_layout_and_dir(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    skopeo.login(registry)
    big = random.Random(7).randbytes(3 * 1024 * 1024)  # a layer that does not fit one read
    image = simple_image("roundtrip", extra_layer=big)
    source = _push(skopeo, registry, tmp_path, image, "e2e/roundtrip:v1")

    pulled = tmp_path / "pulled"
    skopeo.copy(source, f"oci:{pulled}:v1")
    _assert_layout_holds(Layout(pulled), "v1", image)

    as_dir = tmp_path / "as-dir"
    skopeo.copy(source, f"dir:{as_dir}")
    assert (as_dir / "manifest.json").read_bytes() == image.manifest
    for digest, data in image.blobs.items():
        assert (as_dir / digest.removeprefix("sha256:")).read_bytes() == data

    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30) as client:
        got = client.get("/v2/e2e/roundtrip/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert got.status_code == 200
        assert got.content == image.manifest
        assert got.headers["docker-content-digest"] == image.digest
        assert got.headers["content-type"] == OCI_MANIFEST


def test_inspect_reports_digest_layers_and_architecture(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    skopeo.login(registry)
    image = simple_image("inspected", arch="arm64")
    reference = _push(skopeo, registry, tmp_path, image, "e2e/inspected:1.0")

    info = _inspect(skopeo, reference)
    assert info["Digest"] == image.digest
    assert info["Layers"] == image.layer_digests
    assert info["Architecture"] == "arm64"
    assert info["Os"] == "linux"
    assert info["Labels"] == {"name": "inspected"}
    assert info["RepoTags"] == ["1.0"]

    raw = skopeo("inspect", "--tls-verify=false", "--raw", reference).stdout
    assert raw.encode() == image.manifest
    config = skopeo("inspect", "--tls-verify=false", "--config", "--raw", reference).stdout
    assert config.encode() == image.config


def test_list_tags(skopeo: Skopeo, registry: DockyardServer, tmp_path: Path) -> None:
    skopeo.login(registry)
    image = simple_image("tagged")
    layout = Layout(tmp_path / "tagged")
    layout.add_image(image, "src")
    for tag in ["v2", "latest", "v1", "1.0.0"]:
        skopeo.copy(f"oci:{layout.root}:src", f"docker://{registry.address}/e2e/tagged:{tag}")

    listed = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{registry.address}/e2e/tagged").stdout
    )
    assert listed["Repository"] == f"{registry.address}/e2e/tagged"
    assert sorted(listed["Tags"]) == ["1.0.0", "latest", "v1", "v2"]


def test_delete_removes_the_manifest(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    skopeo.login(registry)
    image = simple_image("doomed")
    reference = _push(skopeo, registry, tmp_path, image, "e2e/doomed:v1")
    kept = _push(skopeo, registry, tmp_path, simple_image("kept"), "e2e/doomed:other")

    skopeo("delete", "--tls-verify=false", reference)

    gone = skopeo("inspect", "--tls-verify=false", reference, check=False)
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr.lower()
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30) as client:
        by_digest = client.get(f"/v2/e2e/doomed/manifests/{image.digest}")
        assert by_digest.status_code == 404
        assert by_digest.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        assert client.get("/v2/e2e/doomed/tags/list").json()["tags"] == ["other"]
    assert _inspect(skopeo, kept)["Digest"] == simple_image("kept").digest


def test_multiarch_push_all_and_pull_each_platform(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    skopeo.login(registry)
    multi = build_multiarch("multi")
    layout = Layout(tmp_path / "multi")
    layout.add_multiarch(multi, "src")
    reference = f"docker://{registry.address}/e2e/multi:v1"
    skopeo.copy(f"oci:{layout.root}:src", reference, "--all")

    raw = skopeo("inspect", "--tls-verify=false", "--raw", reference).stdout
    assert raw.encode() == multi.index
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30) as client:
        head = client.head("/v2/e2e/multi/manifests/v1", headers={"Accept": OCI_INDEX})
        assert head.headers["docker-content-digest"] == multi.digest
        assert head.headers["content-type"] == OCI_INDEX

    for arch, image in multi.images.items():
        pulled = tmp_path / f"pulled-{arch}"
        skopeo.copy(reference, f"oci:{pulled}:{arch}", "--override-arch", arch)
        _assert_layout_holds(Layout(pulled), arch, image)
        info = _inspect(skopeo, reference, "--override-arch", arch)
        assert info["Architecture"] == arch
        assert info["Digest"] == multi.digest  # inspect names the index it resolved from
        assert info["Layers"] == image.layer_digests

    # Copying everything back gives the very same index.
    everything = tmp_path / "everything"
    skopeo.copy(reference, f"oci:{everything}:all", "--all")
    assert Layout(everything).resolve("all")["digest"] == multi.digest


def test_same_image_in_two_repositories_is_stored_once(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    skopeo.login(registry)
    image = simple_image("shared")
    _push(skopeo, registry, tmp_path, image, "team-a/app:v1")
    assert _stored(registry) == sorted(image.blobs)

    _push(skopeo, registry, tmp_path, image, "team-b/app:v1")
    assert _stored(registry) == sorted(image.blobs)

    # A second image shares the base layer: only its own layer and config are new.
    other = simple_image("other")
    assert other.layer_digests[0] == image.layer_digests[0]
    _push(skopeo, registry, tmp_path, other, "team-b/other:v1")
    stored = _stored(registry)
    assert set(stored) == {*image.blobs, *other.blobs}
    assert len(stored) == len(image.blobs) + 2
    assert registry.upload_leftovers() == []


def test_copy_between_repositories(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    skopeo.login(registry)
    multi = build_multiarch("copied")
    layout = Layout(tmp_path / "copied")
    layout.add_multiarch(multi, "src")
    source = f"docker://{registry.address}/e2e/source:v1"
    skopeo.copy(f"oci:{layout.root}:src", source, "--all")
    stored_before = registry.stored_blobs()

    destination = f"docker://{registry.address}/e2e/destination:copied"
    skopeo.copy(source, destination, "--all")

    assert registry.stored_blobs() == stored_before  # mounted or re-uploaded, never duplicated
    mounted = re.findall(
        r'"POST /v2/e2e/destination/blobs/uploads/\?from=e2e%2Fsource&mount=\S+" 201 ',
        registry.log(),
    )
    assert mounted, "skopeo should have mounted layers from the source repository"
    raw = skopeo("inspect", "--tls-verify=false", "--raw", destination).stdout
    assert raw.encode() == multi.index
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30) as client:
        for image in multi.images.values():
            for digest, data in image.blobs.items():
                got = client.get(f"/v2/e2e/destination/blobs/{digest}")
                assert got.status_code == 200
                assert got.content == data


def test_copy_between_two_registries(
    skopeo: Skopeo, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    first, second = make_registry("first"), make_registry("second")
    skopeo.login(first)
    skopeo.login(second)
    image = simple_image("travelling")
    source = _push(skopeo, first, tmp_path, image, "e2e/app:v1")

    skopeo.copy(source, f"docker://{second.address}/mirror/app:v1")

    pulled = tmp_path / "from-second"
    skopeo.copy(f"docker://{second.address}/mirror/app:v1", f"oci:{pulled}:v1")
    _assert_layout_holds(Layout(pulled), "v1", image)


def test_docker_schema2_conversion_round_trip(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    skopeo.login(registry)
    image = simple_image("docker-format")
    layout = Layout(tmp_path / "docker-format")
    layout.add_image(image, "src")
    reference = f"docker://{registry.address}/e2e/docker-format:v1"
    skopeo.copy(f"oci:{layout.root}:src", reference, "--format", "v2s2")

    raw = skopeo("inspect", "--tls-verify=false", "--raw", reference).stdout
    manifest = json.loads(raw)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert [layer["digest"] for layer in manifest["layers"]] == image.layer_digests
    info = _inspect(skopeo, reference)
    assert info["Digest"] == sha256(raw.encode())
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30) as client:
        got = client.get("/v2/e2e/docker-format/manifests/v1", headers={"Accept": DOCKER_MANIFEST})
        assert got.headers["content-type"] == DOCKER_MANIFEST
        assert got.content == raw.encode()

    pulled = tmp_path / "pulled"
    skopeo.copy(reference, f"dir:{pulled}")
    for digest, data in zip(image.layer_digests, image.layers, strict=True):
        assert (pulled / digest.removeprefix("sha256:")).read_bytes() == data


def test_umoci_built_image_round_trip(
    skopeo: Skopeo, umoci: str, registry: DockyardServer, tmp_path: Path
) -> None:
    skopeo.login(registry)
    root = tmp_path / "umoci"
    files = {"bin/app": b"#!/bin/sh\necho umoci\n", "etc/motd": b"built by umoci\n" * 50}
    umoci_image(root, "v1", files, umoci=umoci)
    built = Layout(root)
    desc = built.resolve("v1")
    manifest = built.blob(desc["digest"])
    assert "mediaType" not in json.loads(manifest)  # umoci leaves it out (DESIGN.md, facts)

    reference = f"docker://{registry.address}/e2e/umoci:v1"
    skopeo.copy(f"oci:{root}:v1", reference)

    assert _inspect(skopeo, reference)["Digest"] == desc["digest"]
    pulled = tmp_path / "pulled"
    skopeo.copy(reference, f"oci:{pulled}:v1")
    back = Layout(pulled)
    assert back.resolve("v1")["digest"] == desc["digest"]
    doc = json.loads(manifest)
    for blob in [doc["config"], *doc["layers"]]:
        assert back.blob(blob["digest"]) == built.blob(blob["digest"])


def test_a_push_past_the_project_quota_fails_with_the_reason(
    skopeo: Skopeo, registry: DockyardServer, tmp_path: Path
) -> None:
    skopeo.login(registry)
    api = httpx.Client(base_url=registry.url, auth=ADMIN)
    assert api.post("/api/v1/projects", json={"name": "capped"}).status_code == 201
    patched = api.patch("/api/v1/projects/capped", json={"quota_bytes": 1024 * 1024})
    assert patched.status_code == 200, patched.text
    big = random.Random(11).randbytes(2 * 1024 * 1024)
    layout = Layout(tmp_path / "capped")
    layout.add_image(simple_image("capped", extra_layer=big), "src")
    refused = skopeo(
        "copy",
        "--dest-tls-verify=false",
        f"oci:{layout.root}:src",
        f"docker://{registry.address}/capped/app:v1",
        check=False,
    )
    assert refused.returncode != 0
    assert "over its storage quota" in refused.stderr, refused.stderr
    assert registry.upload_leftovers() == []
    # The small image fits.
    _push(skopeo, registry, tmp_path, simple_image("small"), "capped/app:small")
    assert api.get("/api/v1/projects/capped").json()["usage_bytes"] < 1024 * 1024
