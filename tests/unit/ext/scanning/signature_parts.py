"""What the signature tests share: the cosign fixtures' location, and a registry in memory
holding images and cosign signatures (tag scheme and OCI referrers) made with fresh keys."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

# shared/ sits beside the checkout, here and in CI.
FIXTURES = Path(__file__).resolve().parents[4].parent / "shared" / "fixtures" / "cosign"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIGNED_DIGEST = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"


@dataclass
class Repo:
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)  # by digest and by tag
    fetched: list[str] = field(default_factory=list)

    def put_blob(self, data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    def put_manifest(self, doc: dict[str, Any], tag: str | None = None) -> dict[str, Any]:
        body = json.dumps(doc).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[digest] = body
        if tag:
            self.manifests[tag] = body
        descriptor = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
        if "artifactType" in doc:
            descriptor["artifactType"] = doc["artifactType"]
        return descriptor

    async def fetch_blob(self, digest: str) -> bytes | None:
        self.fetched.append(digest)
        return self.blobs.get(digest)

    async def fetch_manifest(self, reference: str) -> bytes | None:
        return self.manifests.get(reference)


def signature_manifest(
    repo: Repo,
    signatures: list[tuple[bytes, str]],
    subject: dict[str, Any] | None = None,
    extra_annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A signature manifest as cosign writes it: one simple signing layer per signature."""
    layers = [
        {
            "mediaType": SIMPLESIGNING,
            **repo.put_blob(payload),
            "annotations": {SIG_ANNOTATION: sig, **(extra_annotations or {})},
        }
        for payload, sig in signatures
    ]
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", **repo.put_blob(b"{}")}
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": layers,
    }
    if subject is not None:  # cosign with OCI 1.1 referrers
        doc["artifactType"] = "application/vnd.dev.cosign.artifact.sig.v1+json"
        doc["subject"] = subject
    return doc


def cosign_payload(digest: str, reference: str = "registry.test/app") -> bytes:
    doc = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": {"purpose": "test"},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def sign(private: Any, payload: bytes, hash_: Any = None) -> str:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        raw = private.sign(payload, ec.ECDSA(hash_ or hashes.SHA256()))
    elif isinstance(private, rsa.RSAPrivateKey):
        raw = private.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    else:
        raw = private.sign(payload)
    return base64.b64encode(raw).decode()


def public_pem(private: Any) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def make_image(repo: Repo) -> dict[str, Any]:
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", **repo.put_blob(b"{}")}
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar", **repo.put_blob(b"layer")}
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    return repo.put_manifest(doc, tag="latest")


def pem_fingerprint(pem: str) -> str:
    """Worked out from the PEM text itself, not through the code under test."""
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return "sha256:" + hashlib.sha256(base64.b64decode(body)).hexdigest()


async def no_blob(digest: str) -> bytes | None:
    return None
