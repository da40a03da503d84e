"""Test images written as OCI image layouts in Python, so no test depends on an outside registry.

Layers are real gzip'd tar archives holding files, configs are real image configs, and a
multi-platform image is an index over one manifest per platform. Everything is deterministic
(fixed mtimes, sorted entries), so the same arguments always give the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def tar_gz(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzip'd tar of `files` (path → content) and the digest of the uncompressed tar."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories = sorted({str(Path(p).parent) for p in files} - {"."})
        for directory in directories:
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), sha256(uncompressed)


@dataclass
class Image:
    """One platform's image: its blobs by digest plus the manifest that ties them together."""

    manifest: bytes
    config: bytes
    layers: list[bytes]
    platform: dict[str, str]
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def layer_digests(self) -> list[str]:
        return [sha256(layer) for layer in self.layers]

    def descriptor(self) -> dict[str, Any]:
        return descriptor(OCI_MANIFEST, self.manifest, platform=self.platform)


def build_image(
    layer_files: list[dict[str, bytes]], arch: str = "amd64", os_name: str = "linux", **labels: str
) -> Image:
    """An image with one layer per entry of `layer_files` and a config describing them."""
    layers, diff_ids = [], []
    for files in layer_files:
        compressed, diff_id = tar_gz(files)
        layers.append(compressed)
        diff_ids.append(diff_id)
    config = canonical_json(
        {
            "architecture": arch,
            "os": os_name,
            "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/app"], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "tests/e2e/images.py"}]
            * len(layers),
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER_GZIP, layer) for layer in layers],
        }
    )
    blobs = {sha256(b): b for b in [config, *layers]}
    return Image(manifest, config, layers, {"architecture": arch, "os": os_name}, blobs)


def simple_image(name: str, arch: str = "amd64", extra_layer: bytes | None = None) -> Image:
    """A two-layer image whose content depends on `name` and `arch`."""
    base = {"etc/os-release": b"NAME=dockyard-test\n", "bin/app": f"#!/bin/sh\n{arch}\n".encode()}
    top = {f"srv/{name}/data.txt": f"{name} on {arch}\n".encode() * 100}
    if extra_layer is not None:
        top["srv/extra.bin"] = extra_layer
    return build_image([base, top], arch=arch, name=name)


@dataclass
class MultiArch:
    index: bytes
    images: dict[str, Image]  # by architecture

    @property
    def digest(self) -> str:
        return sha256(self.index)


def build_multiarch(name: str, arches: tuple[str, ...] = ("amd64", "arm64")) -> MultiArch:
    images = {arch: simple_image(name, arch) for arch in arches}
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [images[arch].descriptor() for arch in arches],
        }
    )
    return MultiArch(index, images)


class Layout:
    """An OCI image layout directory (image-spec `image-layout.md`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        if not (root / "index.json").exists():
            self._write_index([])

    def blob_path(self, digest: str) -> Path:
        algorithm, hex_digest = digest.split(":", 1)
        return self.root / "blobs" / algorithm / hex_digest

    def blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def write_blob(self, data: bytes) -> str:
        digest = sha256(data)
        self.blob_path(digest).write_bytes(data)
        return digest

    def add_image(self, image: Image, tag: str) -> None:
        for data in image.blobs.values():
            self.write_blob(data)
        self.write_blob(image.manifest)
        self._tag(descriptor(OCI_MANIFEST, image.manifest), tag)

    def add_multiarch(self, multi: MultiArch, tag: str) -> None:
        for image in multi.images.values():
            for data in image.blobs.values():
                self.write_blob(data)
            self.write_blob(image.manifest)
        self.write_blob(multi.index)
        self._tag(descriptor(OCI_INDEX, multi.index), tag)

    def index(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.root / "index.json").read_text())
        return doc

    def resolve(self, tag: str) -> dict[str, Any]:
        """The descriptor index.json has for `tag`."""
        for entry in self.index()["manifests"]:
            if entry.get("annotations", {}).get(REF_NAME) == tag:
                return dict(entry)
        raise KeyError(f"tag {tag!r} is not in {self.root}")

    def _tag(self, desc: dict[str, Any], tag: str) -> None:
        others = [
            m for m in self.index()["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag
        ]
        self._write_index([*others, {**desc, "annotations": {REF_NAME: tag}}])

    def _write_index(self, manifests: list[dict[str, Any]]) -> None:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        (self.root / "index.json").write_text(json.dumps(doc, indent=1))


def umoci_image(root: Path, tag: str, files: dict[str, bytes], umoci: str = "umoci") -> None:
    """An image built by umoci: a new empty image, one layer from a directory, a config."""
    rootfs = root.parent / f"{root.name}-rootfs-{tag}"
    for path, content in files.items():
        (rootfs / path).parent.mkdir(parents=True, exist_ok=True)
        (rootfs / path).write_bytes(content)

    def run(*args: str) -> None:
        subprocess.run([umoci, *args], check=True, capture_output=True, timeout=60)

    if not (root / "index.json").exists():
        run("init", "--layout", str(root))
    run("new", "--image", f"{root}:{tag}")
    run("insert", "--image", f"{root}:{tag}", str(rootfs), "/")
    run("config", "--image", f"{root}:{tag}", "--config.cmd", "/bin/app", "--os", "linux")


def push_blob(client: httpx.Client, repository: str, data: bytes) -> httpx.Response:
    """A monolithic blob upload (POST ?digest=)."""
    return client.post(f"/v2/{repository}/blobs/uploads/?digest={sha256(data)}", content=data)


def push_manifest(
    client: httpx.Client, repository: str, reference: str, manifest: bytes, media_type: str
) -> httpx.Response:
    return client.put(
        f"/v2/{repository}/manifests/{reference}",
        content=manifest,
        headers={"Content-Type": media_type},
    )


def push_image(client: httpx.Client, repository: str, image: Image, tag: str) -> None:
    """Push an image over plain HTTP; raises if any step is refused."""
    for data in image.blobs.values():
        push_blob(client, repository, data).raise_for_status()
    push_manifest(client, repository, tag, image.manifest, OCI_MANIFEST).raise_for_status()
