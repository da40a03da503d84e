"""Data for the dashboard's browser tests and screenshots, pushed through the registry API like
any client would: real images (tests/e2e/images.py), a second repository sharing a layer, a
multi-platform index, referrers (a signature and an SBOM), users, a group, members, pulls."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field

import httpx

from tests.e2e.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    Image,
    build_image,
    build_multiarch,
    canonical_json,
    descriptor,
    push_blob,
    push_image,
    push_manifest,
    sha256,
    simple_image,
)

EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM_TYPE = "application/spdx+json"


@dataclass
class Seeded:
    """What a test may look for."""

    app: Image  # team/app:v1
    worker: Image  # team/worker:v1, shares app's base layer
    shared_layer: str  # the digest both images use
    own_layer: str  # app's layer no other repository has
    referrers: list[str] = field(default_factory=list)


def push_referrer(
    client: httpx.Client, repository: str, subject: bytes, artifact_type: str, payload: bytes
) -> str:
    """An OCI artifact whose subject is `subject` (a manifest): a signature, an SBOM…"""
    empty = b"{}"
    push_blob(client, repository, empty).raise_for_status()
    push_blob(client, repository, payload).raise_for_status()
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor(EMPTY_CONFIG, empty),
            "layers": [descriptor("application/octet-stream", payload)],
            "subject": descriptor(OCI_MANIFEST, subject),
        }
    )
    digest = sha256(manifest)
    push_manifest(client, repository, digest, manifest, OCI_MANIFEST).raise_for_status()
    return digest


def seed_registry(client: httpx.Client) -> Seeded:
    """The minimum the browser tests need; `client` sends the admin's credentials."""
    app, worker = simple_image("app"), simple_image("worker")
    push_image(client, "team/app", app, "v1")
    push_image(client, "team/worker", worker, "v1")
    shared = set(app.layer_digests) & set(worker.layer_digests)
    assert len(shared) == 1, "simple_image shares exactly its base layer between names"
    (shared_layer,) = shared
    own = next(d for d in app.layer_digests if d != shared_layer)
    signature = json.dumps({"critical": {"image": {"docker-manifest-digest": app.digest}}})
    sig = push_referrer(client, "team/app", app.manifest, SIGNATURE_TYPE, signature.encode())
    sbom = push_referrer(
        client, "team/app", app.manifest, SBOM_TYPE, b'{"spdxVersion": "SPDX-2.3"}'
    )
    pull(client, "team/app", "v1", times=3)
    pull(client, "team/worker", "v1")
    wait_for_pulls(client, {"team/app": 3, "team/worker": 1})
    return Seeded(app, worker, shared_layer, own, [sig, sbom])


def wait_for_pulls(client: httpx.Client, expected: dict[str, int], timeout: float = 30) -> None:
    """Pulls are counted in memory and flushed every `registry.usage_flush_seconds`: wait
    until the statistics show them."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        stats = client.get("/api/v1/statistics", params={"top": 100}).raise_for_status().json()
        counts = {r["name"]: r["pulls"] for r in stats["top_repositories"]}
        if all(counts.get(name, 0) >= n for name, n in expected.items()):
            return
        time.sleep(0.1)
    raise AssertionError(f"pulls not counted within {timeout}s: {counts}, expected {expected}")


def pull(client: httpx.Client, repository: str, reference: str, times: int = 1) -> None:
    accept = ", ".join([OCI_MANIFEST, OCI_INDEX])
    for _ in range(times):
        client.get(
            f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
        ).raise_for_status()


def create_user(client: httpx.Client, name: str, password: str, admin: bool = False) -> None:
    body = {"username": name, "password": password, "admin": admin}
    client.post("/api/v1/users", json=body).raise_for_status()


def seed_demo(client: httpx.Client) -> None:
    """A registry that looks lived in, for the screenshots: several projects, a multi-platform
    image, tags, referrers, members, robots and some failed logins."""
    seed_registry(client)
    for project, public in (("platform", True), ("ml", False)):
        client.post("/api/v1/projects", json={"name": project, "public": public})
    # Random bytes do not compress: layers of a realistic size, one base shared by all.
    base_files = {"usr/lib/base.so": random.Random("base").randbytes(3 * 1024 * 1024)}
    images = {
        "platform/nginx": ["1.27", "1.27-alpine", "stable", "latest"],
        "platform/postgres": ["16", "16.4", "latest"],
        "team/api": ["v2.3.0", "v2.3.1", "main", "latest"],
        "team/web": ["v1.8.2", "latest"],
        "ml/trainer": ["2025.06", "latest"],
    }
    for repository, tags in images.items():
        for number, tag in enumerate(tags):
            noise = random.Random(f"{repository}:{tag}")
            app_files = {f"srv/{repository}/{tag}.bin": noise.randbytes(noise.randint(2, 24) << 16)}
            labels = {
                "org.opencontainers.image.version": tag,
                "org.opencontainers.image.title": repository,
            }
            push_image(client, repository, build_image([base_files, app_files], **labels), tag)
            pull(client, repository, tag, times=(len(tags) - number) * 2)
    multi = build_multiarch("gateway", ("amd64", "arm64", "s390x"))
    for image in multi.images.values():
        push_image(client, "platform/gateway", image, f"{image.platform['architecture']}")
    push_manifest(client, "platform/gateway", "3.1", multi.index, OCI_INDEX).raise_for_status()
    pull(client, "platform/gateway", "3.1", times=5)
    create_user(client, "alice", "alice-long-password")
    create_user(client, "bob", "bob-long-password-1")
    create_user(client, "carol", "carol-long-password", admin=True)
    client.post("/api/v1/groups", json={"name": "developers", "description": "App teams"})
    client.put("/api/v1/groups/developers/members/alice")
    client.put("/api/v1/groups/developers/members/bob")
    client.post("/api/v1/projects/team/members", json={"user": "alice", "role": "maintainer"})
    client.post("/api/v1/projects/team/members", json={"group": "developers", "role": "developer"})
    client.post(
        "/api/v1/robots",
        json={"name": "ci", "permissions": [{"repositories": "*", "actions": ["pull", "push"]}]},
    )
    client.post(
        "/api/v1/projects/team/robots",
        json={
            "name": "deploy",
            "permissions": [{"repositories": "team/*", "actions": ["pull"]}],
            "expires_in_days": 90,
            "description": "pulls for the deploy pipeline",
        },
    )
    with httpx.Client(base_url=str(client.base_url), timeout=30) as anonymous:
        anonymous.post("/auth/login", json={"username": "bob", "password": "not-his-password"})
