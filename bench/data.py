"""Benchmark inputs: random (incompressible) blobs and OCI image layouts for skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
_BLOCK = 8 * MiB

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class BlobFile:
    path: Path
    digest: str
    size: int


def random_file(path: Path, size: int) -> BlobFile:
    """Write size random bytes to path and return its sha256 digest."""
    hasher = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(_BLOCK, left))
            hasher.update(block)
            f.write(block)
            left -= len(block)
    return BlobFile(path, f"sha256:{hasher.hexdigest()}", size)


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {
        "mediaType": media_type,
        "digest": f"sha256:{hashlib.sha256(data).hexdigest()}",
        "size": len(data),
    }


def small_image() -> tuple[bytes, list[tuple[str, bytes]]]:
    """A tiny valid image: (manifest bytes, [(digest, blob bytes)]) for the manifest benchmark."""
    layer = gzip.compress(_tar_with({"hello.txt": b"hello from the dockyard benchmark\n"}))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(gzip.decompress(layer))]},
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(OCI_CONFIG, config),
        "layers": [_descriptor(OCI_LAYER_GZIP, layer)],
    }
    return json.dumps(manifest).encode(), [(sha256(config), config), (sha256(layer), layer)]


def oci_layout(directory: Path, layer_sizes: list[int], tag: str = "latest") -> int:
    """Write an OCI image layout of gzip'd tar layers of random bytes; returns the image bytes."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers, diff_ids = [], []
    for index, size in enumerate(layer_sizes):
        tar = _tar_with({f"layer{index}/random.bin": os.urandom(size)})
        diff_ids.append(sha256(tar))
        # Level 1: random data does not compress anyway, and the bench should not wait on zlib.
        layers.append(_store(blobs, OCI_LAYER_GZIP, gzip.compress(tar, compresslevel=1, mtime=0)))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _store(blobs, OCI_CONFIG, config),
        "layers": layers,
    }
    manifest_descriptor = _store(blobs, OCI_MANIFEST, json.dumps(manifest).encode())
    manifest_descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (directory / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [manifest_descriptor]})
    )
    return sum(int(d["size"]) for d in layers) + len(config)


def _store(blobs: Path, media_type: str, data: bytes) -> dict[str, object]:
    descriptor = _descriptor(media_type, data)
    (blobs / str(descriptor["digest"]).split(":", 1)[1]).write_bytes(data)
    return descriptor


def _tar_with(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"
