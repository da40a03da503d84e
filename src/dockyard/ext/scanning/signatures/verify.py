"""Check one cosign key-pair signature: who signed it, and whether it is for this image.

A cosign signature is an ECDSA (or RSA, Ed25519) signature over a "simple signing" payload:

    {"critical": {"identity": {"docker-reference": "registry/repo"},
                  "image": {"docker-manifest-digest": "sha256:…"},
                  "type": "cosign container image signature"},
     "optional": {…}}

The signature is checked first and the payload read only afterwards: until a trusted key vouches
for the payload, nothing in it (the digest it names included) means anything.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.ext.scanning.signatures.keys import KeyInput, TrustedKey, is_der_ecdsa, usable_keys
from dockyard.oci.digest import Digest, InvalidDigest

COSIGN_SIGNATURE_TYPE = "cosign container image signature"


class Outcome(StrEnum):
    VALID = "valid"
    NO_TRUSTED_KEYS = "no-trusted-keys"
    BAD_SIGNATURE = "bad-signature"  # not a signature at all (not base64, empty, not DER)
    UNKNOWN_KEY = "unknown-key"  # a signature, but no trusted key made it over these bytes
    MALFORMED_PAYLOAD = "malformed-payload"
    DIGEST_MISMATCH = "digest-mismatch"
    UNREADABLE = "unreadable"  # the signature could not be fetched or read from the registry


@dataclass(frozen=True, slots=True)
class Verification:
    outcome: Outcome
    reason: str  # one sentence for a person
    key_fingerprint: str | None = None  # the trusted key that made the signature, when one did
    key_algorithm: str | None = None
    signed_digest: str | None = None  # what the (verified) payload says it signs
    docker_reference: str | None = None  # the reference the signer named; informative only
    # The payload's "optional" section (cosign's `-a key=value` annotations, creator, timestamp).
    optional: Mapping[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.outcome is Outcome.VALID


def verify_cosign(
    payload: bytes,
    signature_b64: str,
    manifest_digest: str,
    keys: Iterable[KeyInput] | KeyInput,
) -> Verification:
    """Verify a cosign signature of the manifest `manifest_digest`; never raises."""
    trusted, unreadable = usable_keys(keys)
    return verify_with_keys(payload, signature_b64, manifest_digest, trusted, unreadable)


def verify_with_keys(
    payload: bytes,
    signature_b64: str,
    manifest_digest: str,
    trusted: Sequence[TrustedKey],
    unreadable: int = 0,
) -> Verification:
    """`verify_cosign` with keys loaded once for many signatures; `unreadable` counts the
    configured keys that did not load, for the reason given when none did."""
    if not trusted:
        return Verification(Outcome.NO_TRUSTED_KEYS, _no_keys_reason(unreadable))
    if not isinstance(payload, bytes | bytearray):
        return Verification(Outcome.MALFORMED_PAYLOAD, "the signed payload is not bytes")
    signature = _decode_signature(signature_b64)
    if signature is None:
        return Verification(
            Outcome.BAD_SIGNATURE, "the signature annotation is missing or not valid base64"
        )
    signer = next((key for key in trusted if key.signed(signature, bytes(payload))), None)
    if signer is None:
        return _unknown_key(signature, trusted)
    return _check_payload(bytes(payload), manifest_digest, signer)


def _no_keys_reason(unreadable: int) -> str:
    if unreadable:
        return (
            f"no trusted public key to check the signature with: the {unreadable} configured "
            "key(s) could not be read as PEM public keys"
        )
    return "no trusted public key is configured to check the signature with"


def _decode_signature(signature_b64: object) -> bytes | None:
    if not isinstance(signature_b64, str) or not signature_b64.strip():
        return None
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return signature or None


def _unknown_key(signature: bytes, trusted: Sequence[TrustedKey]) -> Verification:
    if all(isinstance(k.key, ec.EllipticCurvePublicKey) for k in trusted) and not is_der_ecdsa(
        signature
    ):
        return Verification(
            Outcome.BAD_SIGNATURE, "the signature is not an ECDSA signature (ASN.1 DER) at all"
        )
    # ECDSA cannot tell "another key signed this" from "these bytes were changed after signing";
    # both mean the same to the person reading: no key they trust vouches for this payload.
    count = "the trusted key" if len(trusted) == 1 else f"any of the {len(trusted)} trusted keys"
    return Verification(
        Outcome.UNKNOWN_KEY,
        f"the signature was not made with {count}: it was signed with another key, "
        "or the payload was changed after signing",
    )


def _check_payload(payload: bytes, manifest_digest: str, signer: TrustedKey) -> Verification:
    signed_by = {"key_fingerprint": signer.fingerprint, "key_algorithm": signer.algorithm}
    claims = _read_payload(payload)
    if isinstance(claims, str):
        return Verification(Outcome.MALFORMED_PAYLOAD, claims, **signed_by)
    signed_digest, reference, optional = claims
    details = {**signed_by, "signed_digest": signed_digest, "docker_reference": reference}
    expected = _canonical_digest(manifest_digest)
    if expected is None:
        reason = f"the image digest {str(manifest_digest)[:80]!r} is not a valid digest"
        return Verification(Outcome.DIGEST_MISMATCH, reason, **details, optional=optional)
    if signed_digest != expected:
        reason = (
            f"the signature is genuine but signs another manifest ({signed_digest}), "
            f"not this image ({expected})"
        )
        return Verification(Outcome.DIGEST_MISMATCH, reason, **details, optional=optional)
    reason = f"signed by trusted key {signer.fingerprint} ({signer.algorithm})"
    return Verification(Outcome.VALID, reason, **details, optional=optional)


def _read_payload(payload: bytes) -> tuple[str, str | None, dict[str, Any]] | str:
    """(signed digest, docker reference, optional) from a simple signing payload, or why not."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "the signed payload is not JSON"
    critical = doc.get("critical") if isinstance(doc, dict) else None
    if not isinstance(critical, dict):
        return "the signed payload has no 'critical' section"
    kind = critical.get("type")
    if kind != COSIGN_SIGNATURE_TYPE:
        return f"the signed payload is of type {str(kind)[:80]!r}, not {COSIGN_SIGNATURE_TYPE!r}"
    image = critical.get("image")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    signed_digest = _canonical_digest(digest)
    if signed_digest is None:
        return "the signed payload does not name a valid manifest digest"
    identity = critical.get("identity")
    reference = identity.get("docker-reference") if isinstance(identity, dict) else None
    optional = doc.get("optional")
    return (
        signed_digest,
        reference if isinstance(reference, str) else None,
        optional if isinstance(optional, dict) else {},
    )


def _canonical_digest(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        return str(Digest.parse(text))
    except InvalidDigest:
        return None
