"""`dockyard migrate --to scale.yaml` moves an embedded registry to S3 + PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from starlette.testclient import TestClient
from typer.testing import CliRunner

from dockyard.app import create_app
from dockyard.cli.main import app as cli
from dockyard.settings import Settings
from dockyard.testing.seaweedfs import S3Server
from tests.conftest import PG_URL, s3_settings


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_image(client: TestClient, repo: str, tag: str, layer: bytes) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    for blob in (config, layer):
        client.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(blob)}", content=blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    put = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert put.status_code == 201, put.text
    return sha256(manifest)


def test_migrate_copies_everything_verified_and_resumes(
    tmp_path: Path, s3_server: S3Server, pg_schema: str
) -> None:
    embedded = Settings(data_dir=tmp_path / "embedded")
    shared_layer = b"shared layer " * 50_000
    with TestClient(create_app(embedded)) as client:
        one = push_image(client, "team/api", "v1", shared_layer)
        two = push_image(client, "team/web", "latest", shared_layer)
    target = {
        "storage": s3_settings(s3_server),
        "database": {"url": PG_URL, "schema_name": pg_schema},
    }
    scale = tmp_path / "scale.yaml"
    scale.write_text(yaml.safe_dump(target))
    runner = CliRunner()
    args = ["migrate", "--data-dir", str(embedded.data_dir), "--to", str(scale)]

    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "blobs copied (digest verified)" in first.output

    moved = Settings(data_dir=tmp_path / "unused", **target)
    with TestClient(create_app(moved)) as client:
        for repo, tag, digest in (("team/api", "v1", one), ("team/web", "latest", two)):
            manifest = client.get(f"/v2/{repo}/manifests/{tag}")
            assert manifest.status_code == 200
            assert manifest.headers["docker-content-digest"] == digest
            layer = client.get(f"/v2/{repo}/blobs/{sha256(shared_layer)}")
            assert layer.content == shared_layer
        assert client.get("/v2/_catalog").json() == {"repositories": ["team/api", "team/web"]}

    # The embedded registry kept working; a second run brings over only what is new.
    with TestClient(create_app(embedded)) as client:
        three = push_image(client, "team/api", "v2", b"new layer" * 1000)
    second = runner.invoke(cli, args)
    assert second.exit_code == 0, second.output
    with TestClient(create_app(moved)) as client:
        assert client.get("/v2/team/api/tags/list").json()["tags"] == ["v1", "v2"]
        got = client.get("/v2/team/api/manifests/v2")
        assert got.headers["docker-content-digest"] == three


def test_migrate_reports_a_corrupt_blob_and_fails(
    tmp_path: Path, s3_server: S3Server, pg_schema: str
) -> None:
    embedded = Settings(data_dir=tmp_path / "embedded")
    with TestClient(create_app(embedded)) as client:
        push_image(client, "team/api", "v1", b"soon corrupted" * 100)
    for path in (embedded.data_dir / "storage" / "blobs").rglob("data"):
        if path.read_bytes().startswith(b"soon corrupted"):
            path.write_bytes(b"bit rot")
    scale = tmp_path / "scale.yaml"
    scale.write_text(
        yaml.safe_dump(
            {
                "storage": s3_settings(s3_server),
                "database": {"url": PG_URL, "schema_name": pg_schema},
            }
        )
    )
    result = CliRunner().invoke(
        cli, ["migrate", "--data-dir", str(embedded.data_dir), "--to", str(scale)]
    )
    assert result.exit_code == 1
    assert f"failed: {sha256(b'soon corrupted' * 100)}" in result.output
