"""Content digests (`algorithm:encoded`) as the OCI image-spec defines them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Only algorithms we can verify are accepted; the spec registers exactly these two.
_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class InvalidDigest(ValueError):
    """The text is not a digest we can verify."""


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        if not _DIGEST_RE.match(text):
            raise InvalidDigest(f"{text!r} is not a digest of the form algorithm:hex")
        algorithm, _, encoded = text.partition(":")
        expected = _HEX_LENGTH.get(algorithm)
        if expected is None:
            raise InvalidDigest(
                f"digest algorithm {algorithm!r} is not supported (use sha256 or sha512)"
            )
        if len(encoded) != expected or not re.fullmatch(r"[0-9a-f]+", encoded):
            raise InvalidDigest(
                f"{algorithm} digests are {expected} lowercase hex characters, got {encoded!r}"
            )
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        hasher = new_hasher(algorithm)
        hasher.update(data)
        return cls(algorithm, hasher.hexdigest())


def new_hasher(algorithm: str) -> hashlib._Hash:
    if algorithm not in _HEX_LENGTH:
        raise InvalidDigest(f"digest algorithm {algorithm!r} is not supported")
    return hashlib.new(algorithm)


def is_digest_like(reference: str) -> bool:
    """True when a manifest reference is meant as a digest (tags cannot contain ':')."""
    return ":" in reference
