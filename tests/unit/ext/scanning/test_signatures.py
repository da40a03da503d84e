"""cosign signatures: real ones from containers/image's fixtures, and ones made here with fresh keys
in cosign's registry layout, verified through the same discovery → fetch → verify path."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dockyard.ext.scanning.signatures import (
    Outcome,
    SignatureState,
    check_signatures,
    cosign_tag_for,
    discover,
    verify_cosign,
)
from tests.conftest import service_missing
from tests.unit.ext.scanning.signature_parts import (
    FIXTURES,
    OCI_MANIFEST,
    SIG_ANNOTATION,
    SIGNED_DIGEST,
    SIMPLESIGNING,
    Repo,
    cosign_payload,
    make_image,
    no_blob,
    pem_fingerprint,
    public_pem,
    sign,
    signature_manifest,
)


@pytest.fixture(scope="module")
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the cosign fixtures are missing from {FIXTURES}")
        service_missing(f"the cosign fixtures at {FIXTURES}")
    return FIXTURES


def read_wrapped(path: Path) -> tuple[bytes, str]:
    """containers/image's on-disk sigstore signature: a marker line, then JSON."""
    marker = b"\x00sigstore-json\n"
    raw = path.read_bytes()
    assert raw.startswith(marker)
    doc = json.loads(raw[len(marker) :])
    assert doc["mimeType"] == SIMPLESIGNING
    return base64.b64decode(doc["payload"]), doc["annotations"][SIG_ANNOTATION]


def image_digest(directory: Path) -> str:
    return "sha256:" + hashlib.sha256((directory / "manifest.json").read_bytes()).hexdigest()


# --- the containers/image fixtures, exactly as their README table says ----------------------------

VALID = [
    ("dir-img-cosign-valid", "signature-1"),
    ("dir-img-cosign-valid-2", "signature-1"),
    ("dir-img-cosign-valid-2", "signature-2"),
    ("dir-img-cosign-valid-with-tag", "signature-1"),
    ("dir-img-cosign-mixed", "signature-2"),
]


@pytest.mark.parametrize(("image", "signature"), VALID)
def test_fixture_signatures_verify_with_cosign_pub(
    fixtures: Path, image: str, signature: str
) -> None:
    payload, sig = read_wrapped(fixtures / image / signature)
    key = (fixtures / "cosign.pub").read_text()
    result = verify_cosign(payload, sig, image_digest(fixtures / image), [key])
    assert result.outcome is Outcome.VALID and result.valid
    assert result.key_fingerprint == pem_fingerprint(key)
    assert result.key_algorithm == "ECDSA P-256"
    assert result.signed_digest == SIGNED_DIGEST
    assert result.docker_reference is not None
    assert result.docker_reference.startswith("192.168.64.2:5000/")
    assert pem_fingerprint(key) in result.reason


def test_fixture_optional_section_is_kept(fixtures: Path) -> None:
    directory = fixtures / "dir-img-cosign-valid-with-tag"
    payload, sig = read_wrapped(directory / "signature-1")
    key = (fixtures / "cosign.pub").read_text()
    result = verify_cosign(payload, sig, image_digest(directory), [key])
    assert result.optional["creator"].startswith("containers/image")


@pytest.mark.parametrize(
    ("image", "signature"),
    [*VALID, ("dir-img-cosign-modified-manifest", "signature-1")],
)
def test_fixture_signatures_fail_with_cosign2_pub(
    fixtures: Path, image: str, signature: str
) -> None:
    payload, sig = read_wrapped(fixtures / image / signature)
    key = (fixtures / "cosign2.pub").read_text()
    result = verify_cosign(payload, sig, image_digest(fixtures / image), [key])
    assert result.outcome is Outcome.UNKNOWN_KEY and not result.valid
    assert result.key_fingerprint is None
    assert "another key" in result.reason


def test_modified_manifest_is_a_genuine_signature_of_another_digest(fixtures: Path) -> None:
    directory = fixtures / "dir-img-cosign-modified-manifest"
    payload, sig = read_wrapped(directory / "signature-1")
    key = (fixtures / "cosign.pub").read_text()
    digest = image_digest(directory)
    assert digest != SIGNED_DIGEST
    result = verify_cosign(payload, sig, digest, [key])
    assert result.outcome is Outcome.DIGEST_MISMATCH and not result.valid
    assert result.key_fingerprint == pem_fingerprint(key)  # the signature itself is good
    assert result.signed_digest == SIGNED_DIGEST
    assert SIGNED_DIGEST in result.reason and digest in result.reason


def test_mixed_has_one_valid_and_one_unknown_key(fixtures: Path) -> None:
    directory = fixtures / "dir-img-cosign-mixed"
    key = (fixtures / "cosign.pub").read_text()
    outcomes = [
        verify_cosign(*read_wrapped(directory / name), image_digest(directory), [key]).outcome
        for name in ("signature-1", "signature-2")
    ]
    assert outcomes == [Outcome.UNKNOWN_KEY, Outcome.VALID]


@pytest.mark.parametrize("keys", [["cosign.pub"], ["cosign2.pub"], ["cosign.pub", "cosign2.pub"]])
def test_unknown_key_signature(fixtures: Path, keys: list[str]) -> None:
    payload, sig = read_wrapped(fixtures / "unknown-cosign-key.signature")
    pems = [(fixtures / name).read_text() for name in keys]
    result = verify_cosign(payload, sig, SIGNED_DIGEST, pems)
    assert result.outcome is Outcome.UNKNOWN_KEY
    assert ("any of the 2 trusted keys" in result.reason) == (len(keys) == 2)


def test_either_of_several_keys_may_have_signed(fixtures: Path) -> None:
    directory = fixtures / "dir-img-cosign-valid"
    payload, sig = read_wrapped(directory / "signature-1")
    keys = [(fixtures / n).read_bytes() for n in ("cosign2.pub", "cosign.pub")]
    result = verify_cosign(payload, sig, image_digest(directory), keys)
    assert result.valid and result.key_fingerprint == pem_fingerprint(keys[1].decode())


@pytest.mark.anyio
async def test_tag_scheme_end_to_end_with_a_fresh_key() -> None:
    repo = Repo()
    image = make_image(repo)
    key = ec.generate_private_key(ec.SECP256R1())
    payload = cosign_payload(image["digest"])
    tag = cosign_tag_for(image["digest"])
    repo.put_manifest(signature_manifest(repo, [(payload, sign(key, payload))]), tag=tag)

    found = discover(image["digest"], tags=["latest", tag, "sha256-other.sig"])
    assert [(a.via, a.reference) for a in found.cosign_signatures] == [("tag", tag)]
    status = await check_signatures(
        image["digest"], found, [public_pem(key)], repo.fetch_manifest, repo.fetch_blob
    )
    assert status.state is SignatureState.SIGNED
    assert status.signers == (pem_fingerprint(public_pem(key)),)
    [check] = status.checks
    assert check.source.reference == tag and check.layer == 0
    assert check.verification.optional == {"purpose": "test"}
    assert status.summary.startswith("signed: 1 of 1")


@pytest.mark.anyio
async def test_referrers_end_to_end_with_the_real_fixture_signatures(fixtures: Path) -> None:
    """The fixtures' payloads and signatures, stored the way cosign stores them in a registry."""
    repo = Repo()
    subject = {"mediaType": OCI_MANIFEST, "digest": SIGNED_DIGEST, "size": 428}
    mixed = fixtures / "dir-img-cosign-mixed"
    signatures = [read_wrapped(mixed / n) for n in ("signature-1", "signature-2")]
    referrer = repo.put_manifest(signature_manifest(repo, signatures, subject))

    found = discover(SIGNED_DIGEST, referrers=[referrer])
    key = (fixtures / "cosign.pub").read_text()
    status = await check_signatures(SIGNED_DIGEST, found, key, repo.fetch_manifest, repo.fetch_blob)
    assert status.state is SignatureState.SIGNED
    assert [c.verification.outcome for c in status.checks] == [Outcome.UNKNOWN_KEY, Outcome.VALID]
    assert [c.source.via for c in status.checks] == ["referrer", "referrer"]
    assert status.summary.startswith("signed: 1 of 2")

    other = await check_signatures(
        SIGNED_DIGEST,
        found,
        (fixtures / "cosign2.pub").read_text(),
        repo.fetch_manifest,
        repo.fetch_blob,
    )
    assert other.state is SignatureState.INVALID and other.signers == ()
    assert other.summary.startswith("not verified: none of 2")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("private", "hash_", "algorithm"),
    [
        (ec.generate_private_key(ec.SECP384R1()), hashes.SHA256(), "ECDSA P-384"),
        (ec.generate_private_key(ec.SECP384R1()), hashes.SHA384(), "ECDSA P-384"),
        (ec.generate_private_key(ec.SECP521R1()), hashes.SHA512(), "ECDSA P-521"),
        (rsa.generate_private_key(public_exponent=65537, key_size=2048), None, "RSA 2048"),
        (ed25519.Ed25519PrivateKey.generate(), None, "Ed25519"),
    ],
    ids=["p384-sha256", "p384-sha384", "p521-sha512", "rsa", "ed25519"],
)
async def test_other_key_types_cosign_accepts(private: Any, hash_: Any, algorithm: str) -> None:
    repo = Repo()
    image = make_image(repo)
    payload = cosign_payload(image["digest"])
    tag = cosign_tag_for(image["digest"])
    signature = sign(private, payload, hash_)
    repo.put_manifest(signature_manifest(repo, [(payload, signature)]), tag=tag)
    status = await check_signatures(
        image["digest"],
        discover(image["digest"], tags=[tag]),
        [public_pem(private)],
        repo.fetch_manifest,
        repo.fetch_blob,
    )
    assert status.checks[0].verification.key_algorithm == algorithm
    assert status.state is SignatureState.SIGNED


@pytest.mark.anyio
async def test_signature_of_another_image_in_the_same_repository() -> None:
    """A signature copied under this image's tag still names the other image's digest."""
    repo = Repo()
    image = make_image(repo)
    other = "sha256:" + "0" * 64
    key = ec.generate_private_key(ec.SECP256R1())
    payload = cosign_payload(other)
    tag = cosign_tag_for(image["digest"])
    repo.put_manifest(signature_manifest(repo, [(payload, sign(key, payload))]), tag=tag)
    status = await check_signatures(
        image["digest"],
        discover(image["digest"], tags=[tag]),
        [public_pem(key)],
        repo.fetch_manifest,
        repo.fetch_blob,
    )
    assert status.state is SignatureState.INVALID
    assert status.checks[0].verification.outcome is Outcome.DIGEST_MISMATCH


@pytest.mark.anyio
async def test_keyless_signature_is_explained() -> None:
    repo = Repo()
    image = make_image(repo)
    payload = cosign_payload(image["digest"])
    fulcio = ec.generate_private_key(ec.SECP256R1())
    cert = {"dev.sigstore.cosign/certificate": "-----BEGIN CERTIFICATE-----\n..."}
    tag = cosign_tag_for(image["digest"])
    doc = signature_manifest(repo, [(payload, sign(fulcio, payload))], extra_annotations=cert)
    repo.put_manifest(doc, tag=tag)
    trusted = public_pem(ec.generate_private_key(ec.SECP256R1()))
    status = await check_signatures(
        image["digest"],
        discover(image["digest"], tags=[tag]),
        [trusted],
        repo.fetch_manifest,
        repo.fetch_blob,
    )
    assert status.state is SignatureState.INVALID
    assert "keyless" in status.checks[0].verification.reason


@pytest.mark.anyio
async def test_listed_signature_manifest_that_is_gone() -> None:
    found = discover(SIGNED_DIGEST, tags=[cosign_tag_for(SIGNED_DIGEST)])
    status = await check_signatures(SIGNED_DIGEST, found, [], Repo().fetch_manifest, no_blob)
    assert status.state is SignatureState.INVALID
    assert status.checks[0].verification.outcome is Outcome.UNREADABLE
