"""Reading cosign signature manifests, discovering signatures (cosign tags, OCI referrers,
Notation), and garbage of every kind: each problem becomes a reason, never an exception."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from hypothesis import given
from hypothesis import strategies as st

from dockyard.ext.scanning.signatures import (
    ArtifactKind,
    InvalidKey,
    Outcome,
    SignatureState,
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
from tests.unit.ext.scanning.signature_parts import (
    OCI_MANIFEST,
    SIG_ANNOTATION,
    SIGNED_DIGEST,
    Repo,
    cosign_payload,
    no_blob,
    pem_fingerprint,
    public_pem,
    sign,
    signature_manifest,
)

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
        return [layer async for layer in signature_layers(body, no_blob)]

    for layer in anyio.run(run):
        assert layer.problem
