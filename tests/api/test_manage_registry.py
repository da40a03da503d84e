"""The registry part of the management API: repositories, artifacts and tags, with paging,
sorting and search, in every deployment shape."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.api.helpers import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    index_manifest,
    push_blob,
    push_children,
    push_image,
    put_manifest,
    sha256,
)
from tests.api.registry_helpers import flush_pulls, problem, project, push_referrer

V1 = "/api/v1"


def _names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()["repositories"]]


def test_repositories_are_paged_sorted_and_searched(client: TestClient) -> None:
    project(client, "team")
    for name in ("api", "web", "worker", "db-tools", "docs"):
        push_image(client, f"team/{name}", "latest", seed=name)
    push_image(client, "teamx/other", "latest")  # another project with a prefix in common
    for _ in range(3):
        client.get("/v2/team/worker/manifests/latest")
    client.get("/v2/team/docs/manifests/latest")
    client.head("/v2/team/api/manifests/latest")  # a HEAD is no pull
    flush_pulls(client)

    seen, last = [], ""
    while True:
        page = client.get(f"{V1}/projects/team/repositories", params={"limit": 2, "last": last})
        seen += _names(page)
        last = page.json()["next_last"]
        if last is None:
            break
    assert seen == ["team/api", "team/db-tools", "team/docs", "team/web", "team/worker"]

    by_pulls = client.get(f"{V1}/projects/team/repositories", params={"sort": "pulls"})
    assert _names(by_pulls)[:2] == ["team/worker", "team/docs"]
    assert by_pulls.json()["repositories"][0]["pulls"] == 3
    first = client.get(f"{V1}/projects/team/repositories", params={"sort": "pulls", "limit": 1})
    rest = client.get(
        f"{V1}/projects/team/repositories",
        params={"sort": "pulls", "last": first.json()["next_last"]},
    )
    assert _names(first) + _names(rest) == _names(by_pulls)

    by_push = _names(client.get(f"{V1}/projects/team/repositories", params={"sort": "last_push"}))
    assert by_push[0] == "team/docs" and by_push[-1] == "team/api"  # newest push first
    assert _names(client.get(f"{V1}/projects/team/repositories", params={"q": "wo"})) == [
        "team/worker"
    ]
    assert _names(client.get(f"{V1}/projects/team/repositories", params={"q": "D"})) == [
        "team/db-tools",
        "team/docs",
    ]
    problem(client.get(f"{V1}/projects/team/repositories", params={"sort": "size"}), 422)
    problem(client.get(f"{V1}/projects/team/repositories", params={"limit": 0}), 422)
    problem(client.get(f"{V1}/projects/team/repositories?sort=pulls&last=x"), 422)
    problem(client.get(f"{V1}/projects/nobody/repositories"), 404)


def test_one_repository_counts_its_tags_artifacts_size_and_usage(client: TestClient) -> None:
    body, digest = push_image(client, "team/app", "v1")
    put_manifest(client, "team/app", "v2", body, OCI_MANIFEST)
    put_manifest(client, "team/app", "stable", body, OCI_MANIFEST)
    client.get(f"/v2/team/app/manifests/{digest}")
    flush_pulls(client)
    found = client.get(f"{V1}/repositories/team/app").json()
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": "x"}).encode()
    layer = b"layer of x" * 10
    assert found["size"] == len(body) + len(config) + len(layer)
    assert (found["tag_count"], found["artifact_count"]) == (3, 1)
    assert (found["pulls"], found["pushes"]) == (1, 3)
    assert found["last_pulled_at"] >= found["last_pushed_at"] > 0
    problem(client.get(f"{V1}/repositories/team/none"), 404)
    problem(client.get(f"{V1}/repositories/Not..Valid"), 404)
    problem(client.post(f"{V1}/repositories/team/app"), 405)
    problem(client.put(f"{V1}/repositories/team/app/tags"), 405)


def test_artifacts_list_images_indexes_and_referrers(client: TestClient) -> None:
    image, image_digest = push_image(client, "team/app", "v1")
    children = push_children(client, "team/app", OCI_MANIFEST)
    index = index_manifest(children)
    assert put_manifest(client, "team/app", "multi", index, OCI_INDEX).status_code == 201
    signature = push_referrer(
        client, "team/app", image, "application/vnd.dev.cosign.artifact.sig.v1+json"
    )
    sbom = push_referrer(client, "team/app", image, "application/spdx+json")

    listed = client.get(f"{V1}/repositories/team/app/artifacts").json()
    assert listed["next_last"] is None
    by_digest = {a["digest"]: a for a in listed["artifacts"]}
    assert list(by_digest) == [sha256(index), image_digest]  # newest first, top level only
    summary = by_digest[image_digest]
    assert (summary["kind"], summary["tags"], summary["referrer_count"]) == ("image", ["v1"], 2)
    multi = by_digest[sha256(index)]
    assert multi["kind"] == "index"
    assert [f"{p['os']}/{p['architecture']}" for p in multi["platforms"]] == [
        "linux/arch0",
        "linux/arch1",
    ]
    assert multi["size"] > sum(len(body) for _, body in children)

    everything = client.get(f"{V1}/repositories/team/app/artifacts", params={"all": "true"})
    digests = [a["digest"] for a in everything.json()["artifacts"]]
    assert {signature, sbom, *(sha256(body) for _, body in children)} <= set(digests)
    assert len(digests) == 6

    page = client.get(f"{V1}/repositories/team/app/artifacts", params={"all": 1, "limit": 4})
    rest = client.get(
        f"{V1}/repositories/team/app/artifacts",
        params={"all": 1, "last": page.json()["next_last"]},
    )
    assert [a["digest"] for a in page.json()["artifacts"] + rest.json()["artifacts"]] == digests
    problem(client.get(f"{V1}/repositories/team/app/artifacts?last=garbage"), 422)


def test_an_artifact_in_full(client: TestClient) -> None:
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-01-02T03:04:05Z",
            "config": {
                "Entrypoint": ["/bin/app"],
                "Cmd": ["--serve"],
                "Env": ["PATH=/usr/bin"],
                "Labels": {"org.opencontainers.image.source": "https://example.test/app"},
                "ExposedPorts": {"8080/tcp": {}},
            },
            "history": [{"created_by": "COPY app /bin/app"}, {"empty_layer": True}],
        }
    ).encode()
    shared, own = b"base layer " * 50, b"app layer " * 20
    for repo in ("team/app", "team/base"):
        push_blob(client, repo, shared)
    push_blob(client, "team/app", own)
    push_blob(client, "team/app", config)
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [
            {"mediaType": DOCKER_LAYER, "digest": sha256(b), "size": len(b)} for b in (shared, own)
        ],
    }
    body = json.dumps(doc).encode()
    assert put_manifest(client, "team/app", "1.0", body, DOCKER_MANIFEST).status_code == 201
    attestation = push_referrer(client, "team/app", body, "application/vnd.in-toto+json")

    detail = client.get(f"{V1}/repositories/team/app/artifacts/1.0").json()
    assert detail == client.get(f"{V1}/repositories/team/app/artifacts/{sha256(body)}").json()
    assert detail["manifest"] == doc
    assert detail["config_digest"] == sha256(config)
    cfg = detail["config"]
    assert (cfg["entrypoint"], cfg["cmd"], cfg["env"]) == (
        ["/bin/app"],
        ["--serve"],
        ["PATH=/usr/bin"],
    )
    assert cfg["labels"] == {"org.opencontainers.image.source": "https://example.test/app"}
    assert cfg["exposed_ports"] == ["8080/tcp"] and cfg["created"] == "2026-01-02T03:04:05Z"
    assert [h["created_by"] for h in cfg["history"]] == ["COPY app /bin/app", None]
    layers = detail["layers"]
    assert [(x["size"], x["shared_count"], x["shared_with"]) for x in layers] == [
        (len(shared), 1, ["team/base"]),
        (len(own), 0, []),
    ]
    assert [(r["digest"], r["kind"]) for r in detail["referrers"]] == [(attestation, "attestation")]
    commands = {c["command"] for c in detail["pull_commands"]}
    assert f"docker pull registry.test/team/app@{sha256(body)}" in commands
    assert "docker pull registry.test/team/app:1.0" in commands
    assert any(c.startswith("skopeo copy --all docker://registry.test/team/app@") for c in commands)

    signature = client.get(f"{V1}/repositories/team/app/artifacts/{attestation}").json()
    assert signature["summary"]["kind"] == "artifact"
    assert signature["summary"]["subject"] == sha256(body)
    assert signature["config"] is None
    assert any(c["command"].startswith("oras pull ") for c in signature["pull_commands"])
    problem(client.get(f"{V1}/repositories/team/app/artifacts/nope"), 404)
    problem(client.get(f"{V1}/repositories/team/app/artifacts/sha256:{'0' * 64}"), 404)


def test_tags_are_paged_and_searched(client: TestClient) -> None:
    body, digest = push_image(client, "team/app", "v1")
    for tag in ("v2", "v10", "latest", "release-1", "release-2"):
        put_manifest(client, "team/app", tag, body, OCI_MANIFEST)
    names, last = [], ""
    while True:
        page = client.get(f"{V1}/repositories/team/app/tags", params={"limit": 4, "last": last})
        names += [t["name"] for t in page.json()["tags"]]
        last = page.json()["next_last"]
        if not last:
            break
    assert names == ["latest", "release-1", "release-2", "v1", "v10", "v2"]
    found = client.get(f"{V1}/repositories/team/app/tags", params={"q": "release"}).json()
    assert [t["name"] for t in found["tags"]] == ["release-1", "release-2"]
    tag = found["tags"][0]
    assert (tag["digest"], tag["media_type"]) == (digest, OCI_MANIFEST)
    assert tag["size"] > len(body)
    listed = client.get(f"{V1}/repositories/team/app/artifacts").json()["artifacts"][0]
    assert listed["tag_count"] == 6 and len(listed["tags"]) == 6
