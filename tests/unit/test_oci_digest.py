"""Digests: parsing what clients send, computing what content is."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.oci.digest import Digest, InvalidDigest, is_digest_like, new_hasher

SHA256_HEX = hashlib.sha256(b"hello").hexdigest()
SHA512_HEX = hashlib.sha512(b"hello").hexdigest()


@pytest.mark.parametrize(
    ("text", "algorithm", "hex_"),
    [
        (f"sha256:{SHA256_HEX}", "sha256", SHA256_HEX),
        (f"sha512:{SHA512_HEX}", "sha512", SHA512_HEX),
    ],
)
def test_parse_valid(text: str, algorithm: str, hex_: str) -> None:
    digest = Digest.parse(text)
    assert (digest.algorithm, digest.hex) == (algorithm, hex_)
    assert str(digest) == text
    assert digest == Digest.parse(text)
    assert hash(digest) == hash(Digest.parse(text))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        f":{SHA256_HEX}",
        "nocolon",
        "sha256:xyz",
        f"sha256:{SHA256_HEX.upper()}",
        f"sha256:{SHA256_HEX[:-1]}",
        f"sha256:{SHA256_HEX}0",
        f"sha256:{SHA256_HEX}\n",
        f" sha256:{SHA256_HEX}",
        f"SHA256:{SHA256_HEX}",
        f"sha512:{SHA256_HEX}",
        f"sha256:{SHA512_HEX}",
        f"md5:{hashlib.md5(b'hello').hexdigest()}",
        f"sha256+b64u:{SHA256_HEX}",
        f"sha256:{SHA256_HEX[:-2]}==",
        f"sha256:sha256:{SHA256_HEX}",
        f"sha256:{SHA256_HEX[:-1]}g",
        f"sha256:{'٣' * 64}",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


def test_invalid_digest_is_a_value_error_with_a_reason() -> None:
    with pytest.raises(ValueError, match="not supported"):
        Digest.parse(f"md5:{hashlib.md5(b'').hexdigest()}")


def test_of_computes_the_digest() -> None:
    assert str(Digest.of(b"hello")) == f"sha256:{SHA256_HEX}"
    assert str(Digest.of(b"hello", "sha512")) == f"sha512:{SHA512_HEX}"
    assert str(Digest.of(b"")) == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_new_hasher_only_for_supported_algorithms() -> None:
    assert new_hasher("sha256").name == "sha256"
    assert new_hasher("sha512").name == "sha512"
    for algorithm in ("md5", "sha1", "SHA256", "blake2b"):
        with pytest.raises(InvalidDigest):
            new_hasher(algorithm)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [(f"sha256:{SHA256_HEX}", True), ("sha256:xyz", True), ("latest", False), ("v1.0", False)],
)
def test_is_digest_like(reference: str, expected: bool) -> None:
    assert is_digest_like(reference) is expected


@given(st.binary(max_size=2048), st.sampled_from(["sha256", "sha512"]))
def test_computed_digests_parse_back(data: bytes, algorithm: str) -> None:
    digest = Digest.of(data, algorithm)
    assert Digest.parse(str(digest)) == digest
    assert digest.hex == hashlib.new(algorithm, data).hexdigest()


@given(st.text(max_size=150))
def test_parse_raises_only_invalid_digest(text: str) -> None:
    try:
        digest = Digest.parse(text)
    except InvalidDigest:
        return
    assert str(digest) == text
