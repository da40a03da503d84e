"""docker, podman and containerd's ctr against a real `dockyard serve`: each pushes and pulls
back, and each pulls what the others pushed, logged in as the admin every test registry has
(docker and podman through `login`, ctr with `--user`); without credentials each is refused."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.clients import (
    ClientError,
    Ctr,
    Podman,
    PrivateDockerd,
    ctr_fixture,  # noqa: F401  (fixtures)
    dockerd_fixture,  # noqa: F401
    layout_archive,
    podman_fixture,  # noqa: F401
)
from tests.e2e.conftest import DockyardServer
from tests.e2e.images import OCI_INDEX, OCI_MANIFEST, Layout, build_image, build_multiarch, sha256

# One shape is enough to show the clients work; the OCI contract itself is tested on both.
pytestmark = pytest.mark.parametrize("shape", ["embedded"])

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
BASE = {"bin/hello": b"#!/bin/sh\necho hello\n", "etc/os-release": b"NAME=dockyard-e2e\n"}


def _top(name: str, size: int = 0) -> dict[str, bytes]:
    files = {f"srv/{name}/motd": f"built by {name}\n".encode() * 20}
    if size:
        files[f"srv/{name}/data.bin"] = random.Random(name).randbytes(size)
    return files


@dataclass
class Pushed:
    ref: str
    image_id: str  # "sha256:" + the config's digest
    digest: str  # of the manifest
    files: dict[str, bytes]


def _login(registry: DockyardServer, *clients: PrivateDockerd | Podman) -> None:
    for client in clients:
        client.login(registry.address, *registry.credentials)


def _docker_push(dockerd: PrivateDockerd, registry: DockyardServer, repo: str) -> Pushed:
    ref = f"{registry.address}/{repo}:v1"
    top = _top(repo.replace("/", "-"), size=3 * 1024 * 1024)  # a layer bigger than one read
    image_id = dockerd.build_image(ref, BASE, top)
    return Pushed(ref, image_id, dockerd.push(ref), {**BASE, **top})


def _podman_push(podman: Podman, registry: DockyardServer, repo: str) -> Pushed:
    ref = f"{registry.address}/{repo}:v1"
    top = _top(repo.replace("/", "-"), size=1024 * 1024)
    image_id = podman.build_image(ref, BASE, top)
    return Pushed(ref, image_id, podman.push(ref), {**BASE, **top})


def _manifest(registry: DockyardServer, repo: str, reference: str, accept: str) -> httpx.Response:
    with httpx.Client(base_url=registry.url, auth=registry.credentials, timeout=30) as client:
        got = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept})
    assert got.status_code == 200, got.text
    return got


def _blob(registry: DockyardServer, repo: str, digest: str) -> bytes:
    with httpx.Client(base_url=registry.url, auth=registry.credentials, timeout=30) as client:
        got = client.get(f"/v2/{repo}/blobs/{digest}")
    assert got.status_code == 200, got.text
    return got.content


def test_docker_push_remove_pull_round_trip(
    dockerd: PrivateDockerd, registry: DockyardServer
) -> None:
    _login(registry, dockerd)
    pushed = _docker_push(dockerd, registry, "e2e/docker")

    served = _manifest(registry, "e2e/docker", "v1", DOCKER_MANIFEST)
    assert served.headers["content-type"] == DOCKER_MANIFEST
    assert served.headers["docker-content-digest"] == pushed.digest == sha256(served.content)
    manifest = json.loads(served.content)
    assert manifest["config"]["digest"] == pushed.image_id
    assert len(manifest["layers"]) == 2

    dockerd.remove(pushed.ref)
    assert pushed.ref not in dockerd.images()
    assert dockerd.pull(pushed.ref) == pushed.image_id
    assert dockerd.repo_digests(pushed.ref) == [f"{registry.address}/e2e/docker@{pushed.digest}"]
    assert dockerd.image_files(pushed.ref) == pushed.files

    by_digest = f"{registry.address}/e2e/docker@{pushed.digest}"
    dockerd.remove(pushed.ref)
    assert dockerd.pull(by_digest) == pushed.image_id


def test_podman_build_push_remove_pull_round_trip(podman: Podman, registry: DockyardServer) -> None:
    _login(registry, podman)
    pushed = _podman_push(podman, registry, "e2e/podman")

    served = _manifest(registry, "e2e/podman", "v1", OCI_MANIFEST)
    assert served.headers["content-type"] == OCI_MANIFEST
    assert served.headers["docker-content-digest"] == pushed.digest == sha256(served.content)
    assert json.loads(served.content)["config"]["digest"] == pushed.image_id

    podman.remove(pushed.ref)
    assert podman.pull(pushed.ref) == pushed.image_id
    assert f"{registry.address}/e2e/podman@{pushed.digest}" in podman.repo_digests(pushed.ref)
    assert podman.image_files(pushed.ref) == pushed.files


def test_podman_pulls_what_docker_pushed(
    dockerd: PrivateDockerd, podman: Podman, registry: DockyardServer
) -> None:
    _login(registry, dockerd, podman)
    pushed = _docker_push(dockerd, registry, "cross/from-docker")

    assert podman.pull(pushed.ref) == pushed.image_id
    assert f"{registry.address}/cross/from-docker@{pushed.digest}" in podman.repo_digests(
        pushed.ref
    )
    assert podman.image_files(pushed.ref) == pushed.files


def test_docker_pulls_what_podman_pushed(
    dockerd: PrivateDockerd, podman: Podman, registry: DockyardServer
) -> None:
    _login(registry, dockerd, podman)
    pushed = _podman_push(podman, registry, "cross/from-podman")  # an OCI manifest

    assert dockerd.pull(pushed.ref) == pushed.image_id
    assert dockerd.repo_digests(pushed.ref) == [
        f"{registry.address}/cross/from-podman@{pushed.digest}"
    ]
    assert dockerd.image_files(pushed.ref) == pushed.files


def test_ctr_pulls_what_docker_pushed(
    dockerd: PrivateDockerd, ctr: Ctr, registry: DockyardServer
) -> None:
    _login(registry, dockerd)
    pushed = _docker_push(dockerd, registry, "cross/for-ctr")

    assert ctr.pull(pushed.ref, user=registry.credentials) == pushed.digest
    served = _manifest(registry, "cross/for-ctr", "v1", DOCKER_MANIFEST)
    assert ctr.content(pushed.digest) == served.content
    for layer in json.loads(served.content)["layers"]:
        assert ctr.content(layer["digest"]) == _blob(registry, "cross/for-ctr", layer["digest"])
    assert ctr.image_files(pushed.ref) == pushed.files


def test_ctr_pushes_and_docker_and_podman_pull(
    ctr: Ctr, dockerd: PrivateDockerd, podman: Podman, registry: DockyardServer, tmp_path: Path
) -> None:
    top = _top("ctr", size=2 * 1024 * 1024)
    image = build_image([BASE, top], name="ctr")
    layout = Layout(tmp_path / "layout")
    layout.add_image(image, "v1")
    base_name = f"{registry.address}/e2e/ctr"
    ctr.import_archive(layout_archive(layout.root, tmp_path / "layout.tar"), base_name)

    ctr.push(f"{base_name}:v1", user=registry.credentials)

    served = _manifest(registry, "e2e/ctr", "v1", OCI_MANIFEST)
    assert served.content == image.manifest
    for digest, data in image.blobs.items():
        assert _blob(registry, "e2e/ctr", digest) == data
    _login(registry, dockerd, podman)
    assert dockerd.pull(f"{base_name}:v1") == sha256(image.config)
    assert dockerd.image_files(f"{base_name}:v1") == {**BASE, **top}
    assert podman.pull(f"{base_name}:v1") == sha256(image.config)


def test_ctr_pushes_a_multi_platform_index(
    ctr: Ctr, registry: DockyardServer, tmp_path: Path
) -> None:
    multi = build_multiarch("ctr-multi")
    layout = Layout(tmp_path / "layout")
    layout.add_multiarch(multi, "v1")
    base_name = f"{registry.address}/e2e/ctr-multi"
    archive = layout_archive(layout.root, tmp_path / "layout.tar")
    ctr.import_archive(archive, base_name, all_platforms=True)

    ctr.push(f"{base_name}:v1", user=registry.credentials)

    served = _manifest(registry, "e2e/ctr-multi", "v1", OCI_INDEX)
    assert served.content == multi.index
    for image in multi.images.values():
        assert _manifest(registry, "e2e/ctr-multi", image.digest, OCI_MANIFEST).content == (
            image.manifest
        )
        for digest, data in image.blobs.items():
            assert _blob(registry, "e2e/ctr-multi", digest) == data
    # Pulled back on this machine's platform only, the way a node would.
    ctr.remove(f"{base_name}:v1")
    assert ctr.pull(f"{base_name}:v1", user=registry.credentials) == multi.digest


def test_clients_without_credentials_are_refused(
    dockerd: PrivateDockerd, podman: Podman, ctr: Ctr, registry: DockyardServer
) -> None:
    # A port can come back in a later test: forget whatever login an earlier registry left.
    dockerd.logout(registry.address)
    podman("logout", "--all")
    refused = "(?i)unauthorized|denied|401"
    ref = f"{registry.address}/e2e/anonymous:v1"
    dockerd.build_image(ref, BASE)
    with pytest.raises(ClientError, match=refused):
        dockerd.push(ref)
    podman.build_image(ref, BASE)
    with pytest.raises(ClientError, match=refused):
        podman.push(ref)
    with httpx.Client(base_url=registry.url, auth=registry.credentials, timeout=30) as client:
        assert client.get("/v2/e2e/anonymous/tags/list").status_code == 404  # nothing stored

    _login(registry, podman)
    podman.push(ref)
    with pytest.raises(ClientError, match=refused):
        ctr.pull(ref)
    with pytest.raises(ClientError, match=refused):
        dockerd.pull(ref)
