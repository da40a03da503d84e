"""The pull policy's decision: each rule, its message, allow-lists with expiry, indexes and their
images, what is exempt; and the guard's promise that a project without a policy costs nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from dockyard.errors import Code, RegistryError
from dockyard.ext.scanning.policies.guard import PullGuard
from dockyard.ext.scanning.policies.rules import (
    RULE_SCANNED,
    RULE_SIGNED,
    Policy,
    ScanEvidence,
    SignatureEvidence,
    artifact_scan,
    decide,
    image_scan,
    index_scan,
    parse_threshold,
    severity_rule,
)
from dockyard.ext.scanning.policies.scope import exemption, index_images
from dockyard.ext.scanning.severity import Severity
from dockyard.ext.scanning.signatures import (
    ArtifactKind,
    Attachment,
    Discovery,
    Outcome,
    SignatureCheck,
    Verification,
    load_trusted_key,
    signature_status,
)
from dockyard.meta.policy_store import AllowlistEntry, PolicyFinding, PolicyRecord, ScanFacts
from dockyard.meta.records import ManifestRecord
from tests.e2e.cosign import SigningKey

DIGEST = "sha256:" + "a" * 64
INDEX = "sha256:" + "1" * 64
OTHER_INDEX = "sha256:" + "2" * 64
CHILD_2 = "sha256:" + "b" * 64
KEY = SigningKey.generate()
TRUSTED = load_trusted_key(KEY.public_pem)
SIGNED = Policy("team", require_signature=True, trusted_keys=(TRUSTED,))
HIGH = Policy("team", max_severity=Severity.HIGH)
SCANNED = Policy("team", deny_unscanned=True)
PREFIX = "pull refused by project team's policy"
SIG_SOURCE = Attachment(ArtifactKind.COSIGN_SIGNATURE, "tag", "sha256-" + "a" * 64 + ".sig")
NOTATION = Attachment(ArtifactKind.NOTATION_SIGNATURE, "referrer", "sha256:" + "c" * 64)


def check(outcome: Outcome, fingerprint: str | None = None) -> SignatureCheck:
    return SignatureCheck(
        SIG_SOURCE, 0, "sha256:" + "f" * 64, Verification(outcome, "", fingerprint)
    )


def status(digest: str, *outcomes: Outcome, notation: bool = False) -> Any:
    checks = [check(o, TRUSTED.fingerprint if o is Outcome.VALID else None) for o in outcomes]
    discovery = Discovery((NOTATION,)) if notation else None
    return signature_status(digest, checks, discovery)


def finding(advisory: str, severity: Severity, package: str = "jinja2", *aliases: str) -> Any:
    return PolicyFinding(advisory, int(severity), package, "2.10", tuple(aliases))


def scanned(*findings: PolicyFinding, digest: str = DIGEST) -> ScanFacts:
    return ScanFacts(digest, True, findings)


def only(verdict: Any) -> Any:
    [result] = verdict.results
    return result


# --- no rules ----------------------------------------------------------------------------------


def test_a_policy_without_rules_allows_everything() -> None:
    verdict = decide(Policy("team"), DIGEST)
    assert verdict.allowed and verdict.results == () and verdict.message is None
    assert not Policy("team").enforces and SIGNED.enforces and HIGH.enforces and SCANNED.enforces


# --- only signed images ------------------------------------------------------------------------


def test_a_signature_by_a_trusted_key_passes() -> None:
    result = only(
        decide(SIGNED, DIGEST, signatures=SignatureEvidence(status(DIGEST, Outcome.VALID)))
    )
    assert result.passed and result.rule == RULE_SIGNED
    assert TRUSTED.fingerprint in result.reason


def test_an_unsigned_image_is_refused_with_the_rule_and_the_reason() -> None:
    verdict = decide(SIGNED, DIGEST, signatures=SignatureEvidence(status(DIGEST)))
    assert not verdict.allowed
    assert verdict.message == (
        f'{PREFIX} "only signed images": {DIGEST} has no signature by a trusted key '
        "(no cosign signature present)"
    )


def test_a_signature_by_an_unknown_key_is_counted_and_named() -> None:
    verdict = decide(
        SIGNED, DIGEST, signatures=SignatureEvidence(status(DIGEST, Outcome.UNKNOWN_KEY))
    )
    assert verdict.message == (
        f'{PREFIX} "only signed images": {DIGEST} has no signature by a trusted key '
        "(1 signature present, by an unknown key)"
    )


def test_several_failed_signatures_are_summed_up_by_outcome() -> None:
    own = status(DIGEST, Outcome.UNKNOWN_KEY, Outcome.DIGEST_MISMATCH, Outcome.UNKNOWN_KEY)
    reason = only(decide(SIGNED, DIGEST, signatures=SignatureEvidence(own))).reason
    assert reason.endswith(
        "(3 signatures present: 2 by an unknown key, 1 signing another manifest)"
    )


def test_a_notation_signature_is_mentioned_but_never_counts() -> None:
    own = status(DIGEST, notation=True)
    result = only(decide(SIGNED, DIGEST, signatures=SignatureEvidence(own)))
    assert not result.passed
    assert "1 other signature (notation) present, which Dockyard does not verify" in result.reason


def test_a_child_manifest_is_signed_through_a_signed_index_that_holds_it() -> None:
    evidence = SignatureEvidence(
        status(DIGEST), (status(OTHER_INDEX), status(INDEX, Outcome.VALID))
    )
    result = only(decide(SIGNED, DIGEST, signatures=evidence))
    assert result.passed and INDEX in result.reason and OTHER_INDEX not in result.reason


def test_a_child_of_unsigned_indexes_is_refused_and_the_indexes_are_mentioned() -> None:
    one = only(
        decide(SIGNED, DIGEST, signatures=SignatureEvidence(status(DIGEST), (status(INDEX),)))
    )
    assert not one.passed and f"the index holding it, {INDEX}, is not signed either" in one.reason
    two = SignatureEvidence(
        status(DIGEST), (status(INDEX), status(OTHER_INDEX, Outcome.UNKNOWN_KEY))
    )
    assert (
        "none of the 2 indexes holding it is signed either"
        in only(decide(SIGNED, DIGEST, signatures=two)).reason
    )


def test_a_policy_without_keys_says_so() -> None:
    policy = Policy("team", require_signature=True)
    reason = only(decide(policy, DIGEST, signatures=SignatureEvidence(status(DIGEST)))).reason
    assert "the policy lists no trusted public key" in reason


def test_the_evidence_a_rule_needs_must_be_given() -> None:
    with pytest.raises(ValueError, match="signatures"):
        decide(SIGNED, DIGEST)
    with pytest.raises(ValueError, match="scans"):
        decide(HIGH, DIGEST)


# --- no vulnerabilities at or above … ------------------------------------------------------------


def test_findings_at_or_above_the_threshold_are_refused_worst_first() -> None:
    scan = image_scan(
        scanned(
            finding("GHSA-low", Severity.LOW, "six"),
            finding("GHSA-high", Severity.HIGH, "urllib3"),
            finding("GHSA-crit", Severity.CRITICAL, "jinja2"),
        )
    )
    verdict = decide(HIGH, DIGEST, scan=scan)
    assert verdict.message == (
        f'{PREFIX} "no vulnerabilities at or above HIGH": 2 findings: '
        "GHSA-crit (CRITICAL, jinja2 2.10), GHSA-high (HIGH, urllib3 2.10)"
    )
    assert only(verdict).rule == severity_rule(Severity.HIGH)


def test_one_advisory_in_several_packages_is_one_finding() -> None:
    scan = image_scan(
        scanned(finding("GHSA-x", Severity.HIGH, "a"), finding("GHSA-x", Severity.CRITICAL, "b"))
    )
    assert only(decide(HIGH, DIGEST, scan=scan)).reason == (
        "1 finding: GHSA-x (CRITICAL, a 2.10 and 1 more)"
    )


def test_a_long_list_is_cut_and_counted() -> None:
    scan = image_scan(scanned(*(finding(f"GHSA-{i}", Severity.HIGH) for i in range(8))))
    reason = only(decide(HIGH, DIGEST, scan=scan)).reason
    assert reason.startswith("8 findings: GHSA-0 (HIGH") and reason.endswith(" and 3 more")


def test_allow_listed_advisories_are_named_and_let_through() -> None:
    scan = image_scan(
        scanned(
            finding("GHSA-crit", Severity.CRITICAL),
            finding("GHSA-high", Severity.HIGH, "urllib3", "CVE-2024-1"),
        )
    )
    by_alias = [AllowlistEntry("team", "CVE-2024-1")]
    verdict = decide(HIGH, DIGEST, scan=scan, allowlist=by_alias, now=10.0)
    assert only(verdict).reason == (
        "1 finding: GHSA-crit (CRITICAL, jinja2 2.10) (allow-listed: GHSA-high)"
    )
    both = [*by_alias, AllowlistEntry("", "GHSA-crit", expires_at=20.0)]
    verdict = decide(HIGH, DIGEST, scan=scan, allowlist=both, now=10.0)
    assert verdict.allowed
    assert (
        only(verdict).reason == "no finding at or above HIGH (allow-listed: GHSA-crit, GHSA-high)"
    )


def test_an_expired_allow_list_entry_no_longer_counts() -> None:
    scan = image_scan(scanned(finding("GHSA-crit", Severity.CRITICAL)))
    entry = [AllowlistEntry("team", "GHSA-crit", expires_at=20.0)]
    assert decide(HIGH, DIGEST, scan=scan, allowlist=entry, now=19.9).allowed
    refused = decide(HIGH, DIGEST, scan=scan, allowlist=entry, now=20.0)
    assert not refused.allowed and "GHSA-crit (CRITICAL" in (refused.message or "")


def test_findings_below_the_threshold_and_unscanned_images_pass() -> None:
    low = image_scan(scanned(finding("GHSA-low", Severity.MEDIUM)))
    assert only(decide(HIGH, DIGEST, scan=low)).reason == "no finding at or above HIGH"
    unscanned = image_scan(ScanFacts(DIGEST, False))
    result = only(decide(HIGH, DIGEST, scan=unscanned))
    assert result.passed and result.reason == "not scanned yet: no finding is known"


def test_unrated_findings_never_trip_the_rule() -> None:
    strictest = Policy("team", max_severity=parse_threshold("low"))
    scan = image_scan(scanned(finding("GHSA-u", Severity.UNKNOWN)))
    assert decide(strictest, DIGEST, scan=scan).allowed


# --- scanned images only -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "error", "why"),
    [
        (None, None, "no scan was asked for"),
        ("queued", None, "a scan is queued"),
        ("running", None, "a scan is running"),
        ("failed", "layer 2 is not a tar archive", "the last scan failed: layer 2 is not a tar"),
    ],
)
def test_an_unscanned_image_is_refused_with_its_scan_status(
    state: str | None, error: str | None, why: str
) -> None:
    verdict = decide(SCANNED, DIGEST, scan=image_scan(ScanFacts(DIGEST, False, (), state, error)))
    assert (verdict.message or "").startswith(f'{PREFIX} "{RULE_SCANNED}": not scanned yet ({why}')


def test_a_scanned_image_passes_even_with_findings() -> None:
    scan = image_scan(scanned(finding("GHSA-crit", Severity.CRITICAL)))
    assert only(decide(SCANNED, DIGEST, scan=scan)).passed


def test_scans_do_not_apply_to_artifacts_that_are_not_images() -> None:
    policy = Policy("team", max_severity=Severity.LOW, deny_unscanned=True)
    verdict = decide(policy, DIGEST, scan=artifact_scan("application/vnd.cncf.helm.config.v1+json"))
    assert (
        verdict.allowed
        and [r.reason for r in verdict.results]
        == [
            "an artifact of type application/vnd.cncf.helm.config.v1+json, not an image: "
            "scans do not apply"
        ]
        * 2
    )


# --- indexes -----------------------------------------------------------------------------------


def test_an_index_is_judged_by_the_union_of_its_images() -> None:
    children = [
        scanned(finding("GHSA-amd", Severity.HIGH, "openssl")),
        scanned(finding("GHSA-arm", Severity.CRITICAL, "zlib"), digest=CHILD_2),
    ]
    scan = index_scan(children)
    assert scan.scanned and scan.images == 2
    reason = only(decide(HIGH, INDEX, scan=scan)).reason
    assert reason == "2 findings: GHSA-arm (CRITICAL, zlib 2.10), GHSA-amd (HIGH, openssl 2.10)"
    assert only(decide(SCANNED, INDEX, scan=scan)).reason == "all 2 images scanned"


def test_an_index_is_scanned_only_when_each_image_is() -> None:
    scan = index_scan([scanned(), ScanFacts(CHILD_2, False)])
    assert not scan.scanned and scan.unscanned == (CHILD_2,)
    result = only(decide(SCANNED, INDEX, scan=scan))
    assert result.reason == f"1 of the index's 2 images not scanned yet: {CHILD_2}"


def test_index_images_skip_attestation_manifests() -> None:
    doc = {
        "manifests": [
            {"digest": DIGEST, "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": CHILD_2, "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": DIGEST},
            {"digest": INDEX, "platform": {"os": "unknown", "architecture": "unknown"}},
            {
                "digest": OTHER_INDEX,
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            },
            "garbage",
        ]
    }
    assert index_images(json.dumps(doc).encode()) == [DIGEST, CHILD_2]
    assert index_images(b"not json") == []


# --- several rules -----------------------------------------------------------------------------


def test_every_refusing_rule_is_in_the_message() -> None:
    policy = Policy(
        "team",
        require_signature=True,
        max_severity=Severity.CRITICAL,
        deny_unscanned=True,
        trusted_keys=(TRUSTED,),
    )
    verdict = decide(
        policy,
        DIGEST,
        signatures=SignatureEvidence(status(DIGEST)),
        scan=image_scan(ScanFacts(DIGEST, False, (), "queued")),
    )
    assert [r.passed for r in verdict.results] == [False, True, False]
    assert verdict.message == (
        f'{PREFIX} "only signed images": {DIGEST} has no signature by a trusted key '
        '(no cosign signature present); and "scanned images only": not scanned yet '
        "(a scan is queued)"
    )


# --- what is exempt ----------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def manifest(*layer_types: str, subject: bool = False) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGEST},
        "layers": [{"mediaType": t, "digest": DIGEST, "size": 1} for t in layer_types],
    }
    if subject:
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": DIGEST, "size": 1}
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "payload",
    [
        manifest("application/vnd.dev.cosign.simplesigning.v1+json"),
        manifest("application/vnd.dsse.envelope.v1+json", subject=True),
        manifest("application/spdx+json", subject=True),
        manifest("application/vnd.cyclonedx+json"),
        manifest("application/jose+json", subject=True),
        manifest("application/vnd.dev.sigstore.bundle.v0.3+json", subject=True),
        manifest(subject=True),
    ],
)
def test_signatures_attestations_and_sboms_are_exempt(payload: bytes) -> None:
    assert exemption(OCI_MANIFEST, payload) is not None


@pytest.mark.parametrize(
    "payload",
    [
        manifest("application/vnd.oci.image.layer.v1.tar+gzip"),
        # A subject does not make an image exempt: its layers would still run.
        manifest("application/vnd.oci.image.layer.v1.tar+gzip", subject=True),
        manifest("application/vnd.dev.cosign.simplesigning.v1+json", "application/x-tar"),
        manifest(),
        b"[]",
        b"{",
    ],
)
def test_images_are_never_exempt(payload: bytes) -> None:
    assert exemption(OCI_MANIFEST, payload) is None
    assert exemption("application/vnd.oci.image.index.v1+json", manifest(subject=True)) is None


# --- policies from records ---------------------------------------------------------------------


def test_a_policy_from_its_record() -> None:
    other = SigningKey.generate().public_pem
    record = PolicyRecord("team", True, True, "high", True, (KEY.public_pem, other, "junk"))
    policy = Policy.from_record(record)
    assert policy.max_severity is Severity.HIGH and policy.require_signature
    assert len(policy.trusted_keys) == 2 and policy.unreadable_keys == 1
    swapped = Policy.from_record(PolicyRecord("team", trusted_keys=(other, KEY.public_pem)))
    assert swapped.keys_id == policy.keys_id != Policy("team").keys_id
    with pytest.raises(ValueError, match="LOW, MEDIUM, HIGH, CRITICAL"):
        parse_threshold("SEVERE")
    assert parse_threshold(None) is None and parse_threshold(" critical ") is Severity.CRITICAL


# --- the guard ---------------------------------------------------------------------------------


class CountingStore:
    """A metadata store with no policy anywhere that counts its transactions."""

    def __init__(self, record: PolicyRecord | None = None) -> None:
        self.transactions = 0
        self.record = record

    @asynccontextmanager
    async def transaction(self, readonly: bool = False) -> AsyncIterator[Any]:
        self.transactions += 1
        store = self

        class Policies:
            async def get(self, project: str) -> PolicyRecord | None:
                return store.record

            async def allowlist(self, project: str, now: float) -> list[AllowlistEntry]:
                return []

            async def scan_facts(self, repository: str, digests: list[str], _: int) -> Any:
                return {d: ScanFacts(d, False, (), "queued") for d in digests}

        class Tx:
            policies = Policies()

        yield Tx()


def image(digest: str = DIGEST) -> ManifestRecord:
    payload = manifest("application/vnd.oci.image.layer.v1.tar+gzip")
    return ManifestRecord("team/app", digest, OCI_MANIFEST, None, None, len(payload), payload)


@pytest.mark.anyio
async def test_a_project_without_a_policy_costs_one_lookup_per_few_seconds() -> None:
    store, now = CountingStore(), [0.0]
    guard = PullGuard(store, signatures=None, ttl=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(1000):
        await guard.admit_pull("team/app", image())
    assert store.transactions == 1
    now[0] = 5.1
    await guard.admit_pull("team/app", image())
    assert store.transactions == 2


@pytest.mark.anyio
async def test_the_guard_refuses_with_denied_and_a_detail() -> None:
    store = CountingStore(PolicyRecord("team", deny_unscanned=True))
    guard = PullGuard(store, signatures=None)  # type: ignore[arg-type]
    with pytest.raises(RegistryError) as refused:
        await guard.admit_pull("team/app", image())
    assert refused.value.code is Code.DENIED
    assert refused.value.message == (
        f'{PREFIX} "scanned images only": not scanned yet (a scan is queued)'
    )
    assert refused.value.detail == {
        "project": "team",
        "digest": DIGEST,
        "refused": [{"rule": RULE_SCANNED, "reason": "not scanned yet (a scan is queued)"}],
    }
    signature = ManifestRecord(
        "team/app",
        CHILD_2,
        OCI_MANIFEST,
        None,
        None,
        1,
        manifest("application/vnd.dev.cosign.simplesigning.v1+json"),
    )
    await guard.admit_pull("team/app", signature)  # exempt
    assert (await guard.evaluate("team/app", signature)).exempt
    store.record = None
    guard.forget("team")
    await guard.admit_pull("team/app", image())


def test_scan_evidence_of_an_image() -> None:
    assert image_scan(ScanFacts(DIGEST, False, (), "failed", "x")) == ScanEvidence(
        False, (), (DIGEST,), 1, "failed", "x"
    )
