"""Public keys that cosign signatures are checked against.

cosign's key-pair signatures are plain signatures over the payload bytes, made the way sigstore's
`signature.LoadVerifier` checks them: ECDSA (any curve) and RSA PKCS#1 v1.5 over SHA-256, and
pure Ed25519. `cosign generate-key-pair` makes ECDSA P-256 keys, which is what is met in practice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class InvalidKey(ValueError):
    """Text that is not a public key cosign signatures can be checked with; the message says why."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    key: PublicKey
    # "sha256:<hex>" of the DER SubjectPublicKeyInfo: the same bytes whatever the PEM wrapping,
    # so a person can compare it with `openssl pkey -pubin -outform DER | sha256sum`.
    fingerprint: str
    algorithm: str  # for people: "ECDSA P-256", "RSA 4096", "Ed25519"

    def signed(self, signature: bytes, payload: bytes) -> bool:
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                return any(
                    _ecdsa_verifies(self.key, signature, payload, h)
                    for h in _ecdsa_hashes(self.key)
                )
            if isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
            else:
                self.key.verify(signature, payload)
        except (InvalidSignature, ValueError):
            return False
        return True


def _ecdsa_verifies(
    key: ec.EllipticCurvePublicKey, signature: bytes, payload: bytes, hash_: hashes.HashAlgorithm
) -> bool:
    try:
        key.verify(signature, payload, ec.ECDSA(hash_))
    except (InvalidSignature, ValueError):
        return False
    return True


def _ecdsa_hashes(key: ec.EllipticCurvePublicKey) -> list[hashes.HashAlgorithm]:
    """SHA-256 is what cosign uses with any imported key; sigstore's newer algorithm registry
    pairs P-384 and P-521 with SHA-384 and SHA-512, so a signature made that way verifies too."""
    extra = {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}.get(key.curve.name)
    return [hashes.SHA256(), *([extra] if extra else [])]


KeyInput = TrustedKey | str | bytes


def load_trusted_key(pem: str | bytes) -> TrustedKey:
    """Parse one PEM public key (cosign.pub); raises InvalidKey, so configuration can be checked
    when it is loaded rather than at the first signature."""
    data = pem.encode("utf-8", "replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"not a PEM public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise InvalidKey(f"{type(key).__name__} keys cannot check cosign signatures")
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return TrustedKey(key, f"sha256:{hashlib.sha256(der).hexdigest()}", _describe(key))


def _describe(key: PublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"ECDSA {curves.get(key.curve.name, key.curve.name)}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    return "Ed25519"


def usable_keys(keys: Iterable[KeyInput] | KeyInput) -> tuple[list[TrustedKey], int]:
    """The keys that load, and how many did not; a bad entry must not hide the good ones."""
    if isinstance(keys, TrustedKey | str | bytes):
        keys = [keys]
    try:
        items = list(keys)
    except TypeError:
        return [], 1
    loaded: list[TrustedKey] = []
    unreadable = 0
    for item in items:
        if isinstance(item, TrustedKey):
            loaded.append(item)
            continue
        try:
            loaded.append(load_trusted_key(item))
        except (InvalidKey, AttributeError):
            unreadable += 1
    return loaded, unreadable


def is_der_ecdsa(signature: bytes) -> bool:
    """cosign's ECDSA signatures are ASN.1 DER (r, s) pairs; anything else cannot be one."""
    try:
        utils.decode_dss_signature(signature)
    except ValueError:
        return False
    return True
