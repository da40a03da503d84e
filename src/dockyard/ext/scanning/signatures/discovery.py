"""Find what is attached to an image: signatures, attestations and SBOMs. Plain data in, no I/O.

Two ways of attaching live side by side in registries:

- cosign's tag scheme: the manifest tagged `sha256-<hex>.sig` in the image's repository holds
  the signatures (`.att` attestations, `.sbom` SBOMs).
- OCI 1.1 referrers: a manifest whose `subject` is the image, told apart by its `artifactType`
  (cosign ≥ 2 with referrers, cosign 3's Sigstore bundles, Notation, ORAS-pushed SBOMs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from dockyard.oci.digest import Digest, InvalidDigest
from dockyard.oci.manifest import Descriptor

COSIGN_SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_ATTESTATION_ARTIFACT = "application/vnd.dev.cosign.artifact.att.v1+json"
COSIGN_SBOM_ARTIFACT = "application/vnd.dev.cosign.artifact.sbom.v1+json"
COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
NOTATION_SIGNATURE_ARTIFACT = "application/vnd.cncf.notary.signature"
SIGSTORE_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
# cosign copies these onto a bundle's manifest so that a referrers listing tells signatures from
# attestations without fetching each; some cosign releases set artifactType to the empty type and
# leave only these to go by.
BUNDLE_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
BUNDLE_CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"

SBOM_ARTIFACTS = frozenset(
    {
        "application/vnd.cyclonedx+json",
        "application/vnd.cyclonedx+xml",
        "application/vnd.cyclonedx",
        "application/spdx+json",
        "text/spdx",
        "text/spdx+json",
        "text/spdx+xml",
        "application/vnd.syft+json",
        COSIGN_SBOM_ARTIFACT,
    }
)
ATTESTATION_ARTIFACTS = frozenset({DSSE_ENVELOPE, IN_TOTO, COSIGN_ATTESTATION_ARTIFACT})

_TAG_SUFFIXES = {"sig", "att", "sbom"}


class ArtifactKind(StrEnum):
    COSIGN_SIGNATURE = "cosign-signature"  # key-pair signatures Dockyard verifies
    SIGSTORE_SIGNATURE = "sigstore-signature"  # cosign 3's bundle format: listed, not verified
    NOTATION_SIGNATURE = "notation-signature"  # listed, not verified
    ATTESTATION = "attestation"
    SBOM = "sbom"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Attachment:
    """Something attached to an image, and where to fetch its manifest from."""

    kind: ArtifactKind
    via: Literal["tag", "referrer"]
    reference: str  # the tag (tag scheme) or the manifest digest (referrers)
    artifact_type: str | None = None
    annotations: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Discovery:
    attachments: tuple[Attachment, ...] = ()

    def of(self, kind: ArtifactKind) -> tuple[Attachment, ...]:
        return tuple(a for a in self.attachments if a.kind is kind)

    @property
    def cosign_signatures(self) -> tuple[Attachment, ...]:
        """The signature manifests to fetch and verify."""
        return self.of(ArtifactKind.COSIGN_SIGNATURE)


def cosign_tag_for(digest: str, suffix: str = "sig") -> str:
    """The tag cosign's tag scheme gives the signatures (`sig`), attestations (`att`) or SBOM
    (`sbom`) of the manifest `digest`; raises InvalidDigest (a ValueError) for a non-digest."""
    if suffix not in _TAG_SUFFIXES:
        raise ValueError(f"cosign tags end in .sig, .att or .sbom, not .{suffix}")
    parsed = Digest.parse(digest)
    return f"{parsed.algorithm}-{parsed.hex}.{suffix}"


def classify_referrer(descriptor: Descriptor | Mapping[str, Any]) -> ArtifactKind:
    """What a referrer is, from its artifactType and annotations alone (nothing is fetched)."""
    found = _as_descriptor(descriptor)
    if found is None:
        return ArtifactKind.OTHER
    return _classify(found.artifact_type or "", found.annotations or {})


def _classify(artifact_type: str, annotations: Mapping[str, str]) -> ArtifactKind:
    artifact_type = artifact_type.split(";")[0].strip().lower()
    if artifact_type == COSIGN_SIGNATURE_ARTIFACT:
        return ArtifactKind.COSIGN_SIGNATURE
    if artifact_type == NOTATION_SIGNATURE_ARTIFACT:
        return ArtifactKind.NOTATION_SIGNATURE
    predicate = annotations.get(BUNDLE_PREDICATE_ANNOTATION)
    if artifact_type.startswith(SIGSTORE_BUNDLE_PREFIX) or predicate is not None:
        # A bundle holds either a signature of the image or an in-toto attestation about it.
        content = annotations.get(BUNDLE_CONTENT_ANNOTATION)
        if predicate == COSIGN_SIGN_PREDICATE or content == "message-signature":
            return ArtifactKind.SIGSTORE_SIGNATURE
        return ArtifactKind.ATTESTATION
    if artifact_type in SBOM_ARTIFACTS:
        return ArtifactKind.SBOM
    if artifact_type in ATTESTATION_ARTIFACTS or artifact_type.startswith(
        "application/vnd.in-toto"
    ):
        return ArtifactKind.ATTESTATION
    return ArtifactKind.OTHER


def discover(
    digest: str,
    *,
    tags: Iterable[str] = (),
    referrers: Iterable[Descriptor | Mapping[str, Any]] = (),
) -> Discovery:
    """Everything attached to the image `digest`, from its repository's tags and its referrers
    (descriptors as the referrers API lists them); entries that make no sense are skipped."""
    try:
        wanted = {cosign_tag_for(digest, s): s for s in _TAG_SUFFIXES}
    except ValueError:
        wanted = {}
    tag_kinds = {"sig": ArtifactKind.COSIGN_SIGNATURE, "att": ArtifactKind.ATTESTATION}
    found: list[Attachment] = []
    present = {t for t in tags if isinstance(t, str)} & wanted.keys()
    for tag in sorted(present):
        kind = tag_kinds.get(wanted[tag], ArtifactKind.SBOM)
        found.append(Attachment(kind, "tag", tag))
    seen: set[str] = set()
    for item in referrers:
        descriptor = _as_descriptor(item)
        if descriptor is None or descriptor.digest in seen:
            continue
        seen.add(descriptor.digest)
        kind = _classify(descriptor.artifact_type or "", descriptor.annotations or {})
        found.append(
            Attachment(
                kind,
                "referrer",
                descriptor.digest,
                descriptor.artifact_type,
                descriptor.annotations,
            )
        )
    return Discovery(tuple(found))


def _as_descriptor(item: object) -> Descriptor | None:
    """A descriptor from the parser or from referrers JSON; None for anything malformed."""
    if isinstance(item, Descriptor):
        return item
    if not isinstance(item, Mapping):
        return None
    media_type, digest = item.get("mediaType"), item.get("digest")
    artifact_type, annotations = item.get("artifactType"), item.get("annotations")
    size = item.get("size", 0)
    if not isinstance(media_type, str) or not isinstance(digest, str):
        return None
    try:
        Digest.parse(digest)
    except InvalidDigest:
        return None
    if not isinstance(size, int) or isinstance(size, bool):
        return None
    if artifact_type is not None and not isinstance(artifact_type, str):
        return None
    if annotations is not None and not (
        isinstance(annotations, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items())
    ):
        return None
    return Descriptor(media_type, digest, size, artifact_type, dict(annotations or {}) or None)
