"""Sign images the way `cosign sign --key` does, in Python (no cosign binary can be installed
here): a "simple signing" payload naming the manifest digest, signed with ECDSA P-256 over
SHA-256, pushed as a signature manifest under the tag `sha256-<hex>.sig`, one simple-signing
layer per signature with the base64 signature in its `dev.cosignproject.cosign/signature`
annotation. Works with any client that has httpx's `post`/`put` (httpx, Starlette's
TestClient)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.images import OCI_CONFIG, OCI_MANIFEST, canonical_json, descriptor, sha256

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
# containers/image's real cosign fixtures, beside the checkout (see shared/fixtures/README.md).
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cosign"


@dataclass(frozen=True)
class SigningKey:
    private: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self.private.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()


@dataclass(frozen=True)
class Signature:
    """One signature as cosign stores it: the payload bytes and the base64 signature."""

    payload: bytes
    signature: str


def simple_signing_payload(digest: str, reference: str = "registry.test/app") -> bytes:
    doc = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def sign_digest(key: SigningKey, digest: str, reference: str = "registry.test/app") -> Signature:
    payload = simple_signing_payload(digest, reference)
    return Signature(payload, key.sign(payload))


def read_fixture_signature(path: Path) -> Signature:
    """containers/image's on-disk sigstore signature: a marker line, then JSON."""
    raw = path.read_bytes()
    marker = b"\x00sigstore-json\n"
    assert raw.startswith(marker), path
    doc = json.loads(raw[len(marker) :])
    return Signature(base64.b64decode(doc["payload"]), doc["annotations"][SIGNATURE_ANNOTATION])


def cosign_tag(digest: str) -> str:
    algorithm, hex_digest = digest.split(":", 1)
    return f"{algorithm}-{hex_digest}.sig"


def signature_manifest(signatures: list[Signature]) -> tuple[bytes, dict[str, bytes]]:
    """The signature manifest and the blobs it needs (config, payloads) by digest."""
    config = canonical_json(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(s.payload) for s in signatures]},
        }
    )
    layers: list[dict[str, Any]] = [
        descriptor(SIMPLESIGNING, s.payload, annotations={SIGNATURE_ANNOTATION: s.signature})
        for s in signatures
    ]
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": layers,
        }
    )
    blobs = {sha256(config): config, **{sha256(s.payload): s.payload for s in signatures}}
    return manifest, blobs


def push_signatures(client: Any, repository: str, digest: str, signatures: list[Signature]) -> str:
    """Push `signatures` of the manifest `digest` under cosign's tag; returns the signature
    manifest's digest."""
    manifest, blobs = signature_manifest(signatures)
    for data in blobs.values():
        response = client.post(
            f"/v2/{repository}/blobs/uploads/?digest={sha256(data)}", content=data
        )
        assert response.status_code == 201, response.text
    response = client.put(
        f"/v2/{repository}/manifests/{cosign_tag(digest)}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return sha256(manifest)
