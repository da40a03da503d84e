"""An image's signature status: every signature found, each with its verification, in one answer.

An image is *signed* when at least one signature verifies with a trusted key (as `cosign verify`
succeeds when one does), *invalid* when it carries cosign signatures and none verifies, and
*unsigned* when it carries none. Notation and Sigstore-bundle signatures are listed as present;
Dockyard does not verify them, so they never make an image signed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dockyard.ext.scanning.signatures.discovery import ArtifactKind, Attachment, Discovery
from dockyard.ext.scanning.signatures.keys import KeyInput, TrustedKey, usable_keys
from dockyard.ext.scanning.signatures.layers import FetchBlob, SignatureLayer, signature_layers
from dockyard.ext.scanning.signatures.verify import Outcome, Verification, verify_with_keys

# Fetches a manifest of the image's repository by tag or digest; None when there is none.
FetchManifest = Callable[[str], Awaitable[bytes | None]]


class SignatureState(StrEnum):
    SIGNED = "signed"
    UNSIGNED = "unsigned"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    source: Attachment  # the signature manifest (tag or referrer) the signature came from
    layer: int
    layer_digest: str
    verification: Verification


@dataclass(frozen=True, slots=True)
class SignatureStatus:
    digest: str
    state: SignatureState
    checks: tuple[SignatureCheck, ...] = ()
    unverified: tuple[Attachment, ...] = ()  # Notation and Sigstore-bundle signatures

    @property
    def signers(self) -> tuple[str, ...]:
        """Fingerprints of the trusted keys with a valid signature, each once."""
        valid = (c.verification.key_fingerprint for c in self.checks if c.verification.valid)
        return tuple(dict.fromkeys(f for f in valid if f))

    @property
    def notation_present(self) -> bool:
        return any(a.kind is ArtifactKind.NOTATION_SIGNATURE for a in self.unverified)

    @property
    def summary(self) -> str:
        valid = sum(c.verification.valid for c in self.checks)
        if self.state is SignatureState.SIGNED:
            text = f"signed: {valid} of {len(self.checks)} cosign signature(s) verify"
        elif self.state is SignatureState.INVALID:
            text = f"not verified: none of {len(self.checks)} cosign signature(s) verifies"
        else:
            text = "unsigned: no cosign signature"
        if self.unverified:
            text += f"; {len(self.unverified)} other signature(s) present, not verified"
        return text


def signature_status(
    digest: str, checks: Iterable[SignatureCheck], discovery: Discovery | None = None
) -> SignatureStatus:
    checks = tuple(checks)
    if any(c.verification.valid for c in checks):
        state = SignatureState.SIGNED
    elif checks:
        state = SignatureState.INVALID
    else:
        state = SignatureState.UNSIGNED
    unverified: tuple[Attachment, ...] = ()
    if discovery is not None:
        kinds = (ArtifactKind.NOTATION_SIGNATURE, ArtifactKind.SIGSTORE_SIGNATURE)
        unverified = tuple(a for a in discovery.attachments if a.kind in kinds)
    return SignatureStatus(digest, state, checks, unverified)


async def check_signatures(
    digest: str,
    discovery: Discovery,
    keys: Iterable[KeyInput] | KeyInput,
    fetch_manifest: FetchManifest,
    fetch_blob: FetchBlob,
) -> SignatureStatus:
    """Fetch every cosign signature `discovery` found for the image `digest` and verify it."""
    trusted, unreadable = usable_keys(keys)
    checks: list[SignatureCheck] = []
    for source in discovery.cosign_signatures:
        manifest = await fetch_manifest(source.reference)
        if manifest is None:
            reason = f"the signature manifest {source.reference} is listed but cannot be fetched"
            checks.append(SignatureCheck(source, -1, "", Verification(Outcome.UNREADABLE, reason)))
            continue
        async for layer in signature_layers(manifest, fetch_blob):
            verification = _verify_layer(layer, digest, trusted, unreadable)
            checks.append(SignatureCheck(source, layer.index, layer.layer_digest, verification))
    return signature_status(digest, checks, discovery)


def _verify_layer(
    layer: SignatureLayer, digest: str, trusted: Sequence[TrustedKey], unreadable: int
) -> Verification:
    if layer.problem is not None:
        return Verification(Outcome.UNREADABLE, layer.problem)
    verification = verify_with_keys(layer.payload, layer.signature, digest, trusted, unreadable)
    if verification.outcome is Outcome.UNKNOWN_KEY and layer.certificate:
        reason = (
            "the signature was made keyless, with a Fulcio certificate; Dockyard verifies "
            "signatures made with a configured public key only"
        )
        return Verification(Outcome.UNKNOWN_KEY, reason)
    return verification
