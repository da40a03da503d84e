"""cosign signatures: real ones from containers/image's fixtures, and ones made here with fresh keys
in cosign's registry layout, verified through the same discovery → fetch → verify path."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from hypothesis import given
from hypothesis import strategies as st

from dockyard.ext.scanning.signatures import (
    ArtifactKind,
    InvalidKey,
    Outcome,
    SignatureState,
    check_signatures,
    classify_referrer,
    cosign_tag_for,
    discover,
    load_trusted_key,
    signature_layers,
    signature_status,
    verify_cosign,
)
from dockyard.oci.digest import InvalidDigest
from dockyard.oci.manifest import Descriptor
from tests.conftest import service_missing

# shared/ sits beside the checkout, here and in CI.
FIXTURES = Path(__file__).resolve().parents[4].parent / "shared" / "fixtures" / "cosign"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIGNED_DIGEST = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"


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


def pem_fingerprint(pem: str) -> str:
    """Worked out from the PEM text itself, not through the code under test."""
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return "sha256:" + hashlib.sha256(base64.b64decode(body)).hexdigest()


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


# --- a registry in memory: cosign's tag scheme and OCI referrers ----------------------------------


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
    status = await check_signatures(SIGNED_DIGEST, found, [], Repo().fetch_manifest, _no_blob)
    assert status.state is SignatureState.INVALID
    assert status.checks[0].verification.outcome is Outcome.UNREADABLE


async def _no_blob(digest: str) -> bytes | None:
    return None


# --- reading signature manifests: every problem becomes a reason, none an exception ---------------


async def layers_of(manifest: Any, repo: Repo | None = None) -> list[Any]:
    fetch = (repo or Repo()).fetch_blob
    return [layer async for layer in signature_layers(manifest, fetch)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (b"not json", "not valid"),
        (b"[]", "not valid"),
        (
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [],
            },
            "an index",
        ),
        ({"schemaVersion": 1}, "not valid"),
        ({"schemaVersion": 2, "layers": []}, "config"),
    ],
)
async def test_unreadable_signature_manifests(manifest: Any, problem: str) -> None:
    [layer] = await layers_of(manifest)
    assert layer.index == -1 and layer.problem is not None and problem in layer.problem


@pytest.mark.anyio
async def test_layer_problems_are_reported_per_layer() -> None:
    repo = Repo()
    payload = cosign_payload(SIGNED_DIGEST)
    doc = signature_manifest(repo, [(payload, "c2ln")] * 4)
    layers = doc["layers"]
    del layers[0]["annotations"][SIG_ANNOTATION]
    layers[1]["digest"] = "sha256:" + "1" * 64  # not in the registry
    repo.blobs["sha256:" + "2" * 64] = b"other bytes"
    layers[2]["digest"] = "sha256:" + "2" * 64  # a blob whose content does not match
    layers[3]["size"] = 10 << 20
    layers.append({"mediaType": "application/octet-stream", **repo.put_blob(b"x")})
    found = await layers_of(doc, repo)
    assert [layer.index for layer in found] == [0, 1, 2, 3]  # the octet-stream layer is skipped
    problems = [layer.problem or "" for layer in found]
    assert "no dev.cosignproject.cosign/signature" in problems[0]
    assert "not in the registry" in problems[1]
    assert "does not match" in problems[2]
    assert "too large" in problems[3]
    assert layers[3]["digest"] not in repo.fetched  # never fetched a huge blob


@pytest.mark.anyio
async def test_too_many_layers_are_refused_before_fetching() -> None:
    repo = Repo()
    payload = cosign_payload(SIGNED_DIGEST)
    doc = signature_manifest(repo, [(payload, "c2ln")] * 1001)
    [layer] = await layers_of(doc, repo)
    assert "more than 1000" in (layer.problem or "") and repo.fetched == []


# --- discovery ------------------------------------------------------------------------------------


def test_cosign_tags() -> None:
    assert cosign_tag_for(SIGNED_DIGEST) == f"sha256-{SIGNED_DIGEST[7:]}.sig"
    assert cosign_tag_for(SIGNED_DIGEST, "att").endswith(".att")
    sha512 = "sha512:" + "a" * 128
    assert cosign_tag_for(sha512, "sbom") == f"sha512-{'a' * 128}.sbom"
    with pytest.raises(InvalidDigest):
        cosign_tag_for("latest")
    with pytest.raises(ValueError, match=r"\.sig, \.att or \.sbom"):
        cosign_tag_for(SIGNED_DIGEST, "exe")


def descriptor(artifact_type: str | None, n: int, **annotations: str) -> dict[str, Any]:
    found: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": f"sha256:{n:064x}", "size": 9}
    if artifact_type is not None:
        found["artifactType"] = artifact_type
    if annotations:
        found["annotations"] = {k.replace("_", "."): v for k, v in annotations.items()}
    return found


BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PREDICATE = "dev.sigstore.bundle.predicateType"


@pytest.mark.parametrize(
    ("artifact_type", "annotations", "kind"),
    [
        ("application/vnd.dev.cosign.artifact.sig.v1+json", {}, ArtifactKind.COSIGN_SIGNATURE),
        ("application/vnd.cncf.notary.signature", {}, ArtifactKind.NOTATION_SIGNATURE),
        ("application/vnd.cyclonedx+json", {}, ArtifactKind.SBOM),
        ("application/spdx+json", {}, ArtifactKind.SBOM),
        ("text/spdx", {}, ArtifactKind.SBOM),
        ("application/vnd.dsse.envelope.v1+json", {}, ArtifactKind.ATTESTATION),
        ("application/vnd.in-toto+json", {}, ArtifactKind.ATTESTATION),
        ("application/vnd.dev.cosign.artifact.att.v1+json", {}, ArtifactKind.ATTESTATION),
        (
            BUNDLE,
            {PREDICATE: "https://sigstore.dev/cosign/sign/v1"},
            ArtifactKind.SIGSTORE_SIGNATURE,
        ),
        (BUNDLE, {PREDICATE: "https://slsa.dev/provenance/v1"}, ArtifactKind.ATTESTATION),
        # Some cosign releases list bundles with the empty artifactType; the annotations tell.
        (
            "application/vnd.oci.empty.v1+json",
            {PREDICATE: "https://sigstore.dev/cosign/sign/v1"},
            ArtifactKind.SIGSTORE_SIGNATURE,
        ),
        ("application/vnd.example.thing", {}, ArtifactKind.OTHER),
        (None, {}, ArtifactKind.OTHER),
    ],
)
def test_referrers_are_classified(
    artifact_type: str | None, annotations: dict[str, str], kind: ArtifactKind
) -> None:
    item = {"mediaType": OCI_MANIFEST, "digest": SIGNED_DIGEST, "size": 1}
    if artifact_type is not None:
        item["artifactType"] = artifact_type
    if annotations:
        item["annotations"] = annotations
    assert classify_referrer(item) is kind
    parsed = Descriptor(OCI_MANIFEST, SIGNED_DIGEST, 1, artifact_type, annotations or None)
    assert classify_referrer(parsed) is kind


def test_discover_sorts_tags_and_referrers_and_skips_garbage() -> None:
    digest = SIGNED_DIGEST
    tags = [
        "v1",
        cosign_tag_for(digest, "sbom"),
        cosign_tag_for(digest),
        7,
        cosign_tag_for(digest, "att"),
        cosign_tag_for("sha256:" + "f" * 64),
    ]
    referrers = [
        descriptor("application/vnd.dev.cosign.artifact.sig.v1+json", 1),
        descriptor("application/vnd.dev.cosign.artifact.sig.v1+json", 1),  # listed twice
        descriptor("application/vnd.cncf.notary.signature", 2),
        descriptor("application/spdx+json", 3),
        descriptor("application/vnd.dsse.envelope.v1+json", 4),
        {"mediaType": OCI_MANIFEST, "digest": "not-a-digest", "size": 1},
        {"mediaType": OCI_MANIFEST, "digest": SIGNED_DIGEST, "size": "big"},
        {"digest": SIGNED_DIGEST},
        {"mediaType": OCI_MANIFEST, "digest": SIGNED_DIGEST, "annotations": {"a": 1}},
        "garbage",
        None,
    ]
    found = discover(digest, tags=tags, referrers=referrers)  # type: ignore[arg-type]
    summary = [(a.kind, a.via) for a in found.attachments]
    assert summary == [
        (ArtifactKind.ATTESTATION, "tag"),
        (ArtifactKind.SBOM, "tag"),
        (ArtifactKind.COSIGN_SIGNATURE, "tag"),
        (ArtifactKind.COSIGN_SIGNATURE, "referrer"),
        (ArtifactKind.NOTATION_SIGNATURE, "referrer"),
        (ArtifactKind.SBOM, "referrer"),
        (ArtifactKind.ATTESTATION, "referrer"),
    ]
    assert len(found.cosign_signatures) == 2
    assert discover("not a digest", tags=tags).attachments == ()


def test_notation_is_present_but_does_not_sign() -> None:
    found = discover(
        SIGNED_DIGEST,
        referrers=[
            descriptor("application/vnd.cncf.notary.signature", 2),
            descriptor(
                BUNDLE,
                3,
                **{"dev_sigstore_bundle_predicateType": "https://sigstore.dev/cosign/sign/v1"},
            ),
        ],
    )
    status = signature_status(SIGNED_DIGEST, [], found)
    assert status.state is SignatureState.UNSIGNED
    assert status.notation_present
    assert [a.kind for a in status.unverified] == [
        ArtifactKind.NOTATION_SIGNATURE,
        ArtifactKind.SIGSTORE_SIGNATURE,
    ]
    assert (
        status.summary == "unsigned: no cosign signature; 2 other signature(s) present, "
        "not verified"
    )
    assert signature_status(SIGNED_DIGEST, []).summary == "unsigned: no cosign signature"


# --- keys and garbage -----------------------------------------------------------------------------


def test_keys_that_cannot_be_used() -> None:
    for bad in ("", "not a key", b"\x00\xff", 42):
        with pytest.raises(InvalidKey):
            load_trusted_key(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidKey, match="X25519"):
        load_trusted_key(public_pem(x25519.X25519PrivateKey.generate()))


def test_no_usable_keys_says_so() -> None:
    payload = cosign_payload(SIGNED_DIGEST)
    key = ec.generate_private_key(ec.SECP256R1())
    sig = sign(key, payload)
    none = verify_cosign(payload, sig, SIGNED_DIGEST, [])
    assert none.outcome is Outcome.NO_TRUSTED_KEYS and "no trusted public key" in none.reason
    bad = verify_cosign(payload, sig, SIGNED_DIGEST, ["junk", b"junk"])
    assert bad.outcome is Outcome.NO_TRUSTED_KEYS and "the 2 configured key(s)" in bad.reason
    # An unreadable key next to a good one does not hide the good one.
    assert verify_cosign(payload, sig, SIGNED_DIGEST, ["junk", public_pem(key)]).valid
    assert verify_cosign(payload, sig, SIGNED_DIGEST, load_trusted_key(public_pem(key))).valid


KEY = ec.generate_private_key(ec.SECP256R1())
PEM = public_pem(KEY)


@pytest.mark.parametrize(
    ("payload", "outcome", "words"),
    [
        (b"not json", Outcome.MALFORMED_PAYLOAD, "not JSON"),
        (b"\xff\xfe", Outcome.MALFORMED_PAYLOAD, "not JSON"),
        (b"[]", Outcome.MALFORMED_PAYLOAD, "no 'critical'"),
        (b'{"critical": 1}', Outcome.MALFORMED_PAYLOAD, "no 'critical'"),
        (
            b'{"critical": {"type": "something else"}}',
            Outcome.MALFORMED_PAYLOAD,
            "of type 'something else'",
        ),
        (
            b'{"critical": {"type": "cosign container image signature"}}',
            Outcome.MALFORMED_PAYLOAD,
            "valid manifest digest",
        ),
        (
            b'{"critical": {"type": "cosign container image signature", "image": '
            b'{"docker-manifest-digest": "sha256:short"}}}',
            Outcome.MALFORMED_PAYLOAD,
            "valid manifest digest",
        ),
        (b"[" * 100000, Outcome.MALFORMED_PAYLOAD, "not JSON"),
    ],
)
def test_signed_garbage_payloads(payload: bytes, outcome: Outcome, words: str) -> None:
    """Correctly signed, but not a cosign image signature: the signer is still named."""
    result = verify_cosign(payload, sign(KEY, payload), SIGNED_DIGEST, [PEM])
    assert result.outcome is outcome and words in result.reason
    assert result.key_fingerprint == pem_fingerprint(PEM)


@pytest.mark.parametrize(
    ("signature", "outcome"),
    [
        ("", Outcome.BAD_SIGNATURE),
        ("   ", Outcome.BAD_SIGNATURE),
        ("not base64!", Outcome.BAD_SIGNATURE),
        (base64.b64encode(b"not DER").decode(), Outcome.BAD_SIGNATURE),
        (None, Outcome.BAD_SIGNATURE),
        (base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode(), Outcome.UNKNOWN_KEY),
    ],
)
def test_garbage_signatures(signature: Any, outcome: Outcome) -> None:
    result = verify_cosign(cosign_payload(SIGNED_DIGEST), signature, SIGNED_DIGEST, [PEM])
    assert result.outcome is outcome and not result.valid


def test_garbage_image_digest_and_payload_type() -> None:
    payload = cosign_payload(SIGNED_DIGEST)
    result = verify_cosign(payload, sign(KEY, payload), "latest", [PEM])
    assert result.outcome is Outcome.DIGEST_MISMATCH and "not a valid digest" in result.reason
    weird = verify_cosign("text", sign(KEY, payload), SIGNED_DIGEST, [PEM])  # type: ignore[arg-type]
    assert weird.outcome is Outcome.MALFORMED_PAYLOAD


@given(
    payload=st.binary(max_size=300), signature=st.text(max_size=120), digest=st.text(max_size=80)
)
def test_verify_never_raises(payload: bytes, signature: str, digest: str) -> None:
    result = verify_cosign(payload, signature, digest, [PEM])
    assert not result.valid and result.reason


@given(
    manifest=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_signature_layers_never_raise(manifest: Any) -> None:
    import anyio

    async def run() -> list[Any]:
        body = json.dumps(manifest).encode()
        return [layer async for layer in signature_layers(body, _no_blob)]

    for layer in anyio.run(run):
        assert layer.problem
