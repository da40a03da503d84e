"""The pull policy's decision: pure functions over what is known about one manifest.

A project's policy has up to three rules, each with a name people recognise in a refusal:

- "only signed images": the manifest, or an index in its repository that holds it, has a cosign
  signature that verifies with one of the policy's trusted keys;
- "no vulnerabilities at or above HIGH" (the policy's `max_severity`): no finding of the newest
  scan reports at or above that severity, unless its advisory is allow-listed (by id or alias);
  an index counts the findings of all its images;
- "scanned images only": a scan report exists (for an index: for each of its images).

`decide` weighs every rule and says for each whether it passed and why; a pull is allowed when
all pass, and the refusal message names each rule that did not. Signatures, attestations and
SBOMs are exempt (see scope.py): clients fetch them to verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dockyard.ext.scanning.severity import Severity
from dockyard.ext.scanning.signatures import (
    Outcome,
    SignatureState,
    SignatureStatus,
    TrustedKey,
)
from dockyard.ext.scanning.signatures.keys import usable_keys
from dockyard.meta.policy_store import AllowlistEntry, PolicyFinding, PolicyRecord, ScanFacts

RULE_SIGNED = "only signed images"
RULE_SCANNED = "scanned images only"
# The thresholds a policy may name, from the strictest; unrated findings never trip the rule.
THRESHOLDS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
SHOWN = 5  # findings and digests named in one message; the rest are counted


def severity_rule(threshold: Severity) -> str:
    return f"no vulnerabilities at or above {threshold.name}"


def parse_threshold(name: str | None) -> Severity | None:
    """A policy's `max_severity`; ValueError names the accepted values."""
    if name is None:
        return None
    if not isinstance(name, str) or name.strip().upper() not in THRESHOLDS:
        raise ValueError(f"max_severity must be one of {', '.join(THRESHOLDS)} or null")
    return Severity[name.strip().upper()]


@dataclass(frozen=True, slots=True)
class Policy:
    """A project's policy, ready to decide with: keys loaded, threshold parsed."""

    project: str
    require_signature: bool = False
    max_severity: Severity | None = None
    deny_unscanned: bool = False
    trusted_keys: tuple[TrustedKey, ...] = ()
    unreadable_keys: int = 0  # configured keys that do not load (refused when the policy is set)

    @classmethod
    def from_record(cls, record: PolicyRecord) -> Policy:
        keys, unreadable = usable_keys(list(record.trusted_keys))
        try:
            threshold = parse_threshold(record.max_severity)
        except ValueError:
            threshold = Severity.LOW  # a damaged row errs on the side of refusing
        return cls(
            record.project,
            record.require_signature,
            threshold,
            record.deny_unscanned,
            tuple(keys),
            unreadable,
        )

    @property
    def enforces(self) -> bool:
        return self.require_signature or self.max_severity is not None or self.deny_unscanned

    @property
    def keys_id(self) -> str:
        """One value for the set of trusted keys (a cache key for verifications)."""
        joined = "\n".join(sorted(k.fingerprint for k in self.trusted_keys))
        return hashlib.sha256(joined.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class SignatureEvidence:
    """The signature status of the manifest, and of the indexes of its repository holding it."""

    own: SignatureStatus
    indexes: tuple[SignatureStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanEvidence:
    """What the scans say about a manifest; for an index, about all of its images together."""

    scanned: bool
    findings: tuple[PolicyFinding, ...] = ()
    unscanned: tuple[str, ...] = ()  # digests without a report
    images: int = 1  # how many image manifests were weighed (an index's children)
    state: str | None = None  # scan status of a single image
    error: str | None = None
    applies: bool = True  # False for artifacts that are not images: nothing to scan
    note: str = ""  # why the scan rules do not apply


def artifact_scan(what: str) -> ScanEvidence:
    """Scans are of images; another artifact (a Helm chart, a WASM module) passes the scan rules
    (a signature may still be required of it)."""
    note = f"an artifact of type {what}, not an image: scans do not apply"
    return ScanEvidence(False, images=0, applies=False, note=note)


def image_scan(facts: ScanFacts) -> ScanEvidence:
    unscanned = () if facts.scanned else (facts.digest,)
    return ScanEvidence(facts.scanned, facts.findings, unscanned, 1, facts.state, facts.error)


def index_scan(children: Sequence[ScanFacts]) -> ScanEvidence:
    """An index is scanned when every one of its images is; its findings are theirs, together."""
    findings = tuple(f for child in children for f in child.findings)
    unscanned = tuple(c.digest for c in children if not c.scanned)
    return ScanEvidence(not unscanned, findings, unscanned, len(children))


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    passed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    project: str
    digest: str
    results: tuple[RuleResult, ...] = ()
    exempt: str | None = None  # why no rule applies to this manifest

    @property
    def allowed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def message(self) -> str | None:
        """The refusal as clients print it; None when the pull is allowed."""
        failed = [r for r in self.results if not r.passed]
        if not failed:
            return None
        rules = "; and ".join(f'"{r.rule}": {r.reason}' for r in failed)
        return f"pull refused by project {self.project}'s policy {rules}"


def decide(
    policy: Policy,
    digest: str,
    *,
    signatures: SignatureEvidence | None = None,
    scan: ScanEvidence | None = None,
    allowlist: Iterable[AllowlistEntry] = (),
    now: float = 0.0,
) -> Verdict:
    """Weigh each rule of `policy` for the manifest `digest`. The evidence a rule needs must be
    given when the policy has that rule (the signatures, the scan); entries of the allow-list
    that have expired at `now` are ignored."""
    results: list[RuleResult] = []
    if policy.require_signature:
        if signatures is None:
            raise ValueError("the policy requires signatures: pass their evidence")
        results.append(_signature_rule(policy, digest, signatures))
    if policy.max_severity is not None or policy.deny_unscanned:
        if scan is None:
            raise ValueError("the policy weighs scans: pass their evidence")
        if policy.max_severity is not None:
            active = [e for e in allowlist if e.active(now)]
            results.append(_severity_rule(policy.max_severity, scan, active))
        if policy.deny_unscanned:
            results.append(_scanned_rule(scan))
    return Verdict(policy.project, digest, tuple(results))


# --- only signed images ------------------------------------------------------------------------

_OUTCOMES = {
    Outcome.UNKNOWN_KEY: "by an unknown key",
    Outcome.DIGEST_MISMATCH: "signing another manifest",
    Outcome.BAD_SIGNATURE: "not a valid signature",
    Outcome.MALFORMED_PAYLOAD: "with a malformed payload",
    Outcome.UNREADABLE: "unreadable",
    Outcome.NO_TRUSTED_KEYS: "with no trusted key to check it",
}


def _signature_rule(policy: Policy, digest: str, evidence: SignatureEvidence) -> RuleResult:
    if evidence.own.state is SignatureState.SIGNED:
        keys = ", ".join(evidence.own.signers)
        return RuleResult(RULE_SIGNED, True, f"signed by trusted key {keys}")
    signed_index = next((s for s in evidence.indexes if s.state is SignatureState.SIGNED), None)
    if signed_index is not None:
        keys = ", ".join(signed_index.signers)
        reason = f"the index {signed_index.digest} that holds it is signed by trusted key {keys}"
        return RuleResult(RULE_SIGNED, True, reason)
    if not policy.trusted_keys:
        reason = "the policy lists no trusted public key that a signature could verify with"
        return RuleResult(
            RULE_SIGNED, False, f"{digest} has no signature by a trusted key ({reason})"
        )
    reason = f"{digest} has no signature by a trusted key ({_present(evidence.own)})"
    count = len(evidence.indexes)
    if count == 1:
        reason += f"; the index holding it, {evidence.indexes[0].digest}, is not signed either"
    elif count > 1:
        reason += f"; none of the {count} indexes holding it is signed either"
    return RuleResult(RULE_SIGNED, False, reason)


def _present(status: SignatureStatus) -> str:
    """'1 signature present, by an unknown key', 'no signature present', …"""
    outcomes: dict[str, int] = {}
    for check in status.checks:
        phrase = _OUTCOMES.get(check.verification.outcome, check.verification.outcome.value)
        outcomes[phrase] = outcomes.get(phrase, 0) + 1
    count = len(status.checks)
    if count == 0:
        text = "no cosign signature present"
    elif len(outcomes) == 1:
        text = f"{_plural(count, 'signature')} present, {next(iter(outcomes))}"
    else:
        parts = ", ".join(f"{n} {phrase}" for phrase, n in outcomes.items())
        text = f"{_plural(count, 'signature')} present: {parts}"
    if status.unverified:
        kinds = sorted({a.kind.value.replace("-signature", "") for a in status.unverified})
        text += (
            f"; {_plural(len(status.unverified), 'other signature')} ({', '.join(kinds)}) "
            "present, which Dockyard does not verify"
        )
    return text


# --- vulnerabilities ----------------------------------------------------------------------------


@dataclass
class _Advisory:
    advisory_id: str
    severity: int
    packages: list[str]
    aliases: set[str]


def _advisories(findings: Iterable[PolicyFinding], threshold: Severity) -> list[_Advisory]:
    """Findings at or above `threshold`, one per advisory, worst first."""
    found: dict[str, _Advisory] = {}
    for f in findings:
        if f.severity < threshold:
            continue
        entry = found.setdefault(f.advisory_id, _Advisory(f.advisory_id, f.severity, [], set()))
        entry.severity = max(entry.severity, f.severity)
        package = f"{f.package} {f.version}".strip()
        if package not in entry.packages:
            entry.packages.append(package)
        entry.aliases.update(f.aliases)
    return sorted(found.values(), key=lambda a: (-a.severity, a.advisory_id))


def _severity_name(value: int) -> str:
    try:
        return Severity(value).name
    except ValueError:
        return str(value)


def _describe(advisory: _Advisory) -> str:
    packages = advisory.packages[0] if advisory.packages else "?"
    if len(advisory.packages) > 1:
        packages += f" and {len(advisory.packages) - 1} more"
    return f"{advisory.advisory_id} ({_severity_name(advisory.severity)}, {packages})"


def _severity_rule(
    threshold: Severity, scan: ScanEvidence, allowlist: Sequence[AllowlistEntry]
) -> RuleResult:
    rule = severity_rule(threshold)
    if not scan.applies:
        return RuleResult(rule, True, scan.note)
    accepted = {e.advisory_id for e in allowlist}
    advisories = _advisories(scan.findings, threshold)
    allowed = [a for a in advisories if a.advisory_id in accepted or a.aliases & accepted]
    blocking = [a for a in advisories if a not in allowed]
    note = ""
    if allowed:
        names = ", ".join(a.advisory_id for a in allowed[:SHOWN])
        more = f" and {len(allowed) - SHOWN} more" if len(allowed) > SHOWN else ""
        note = f" (allow-listed: {names}{more})"
    if blocking:
        shown = ", ".join(_describe(a) for a in blocking[:SHOWN])
        if len(blocking) > SHOWN:
            shown += f" and {len(blocking) - SHOWN} more"
        return RuleResult(rule, False, f"{_plural(len(blocking), 'finding')}: {shown}{note}")
    if not scan.scanned and not scan.findings:
        return RuleResult(rule, True, "not scanned yet: no finding is known" + note)
    return RuleResult(rule, True, f"no finding at or above {threshold.name}{note}")


# --- scanned images only ------------------------------------------------------------------------

_STATES = {
    "queued": "a scan is queued",
    "running": "a scan is running",
    "done": "the scan left no report",
}


def _scanned_rule(scan: ScanEvidence) -> RuleResult:
    if not scan.applies:
        return RuleResult(RULE_SCANNED, True, scan.note)
    if scan.scanned:
        what = "scanned" if scan.images == 1 else f"all {scan.images} images scanned"
        return RuleResult(RULE_SCANNED, True, what)
    if scan.images == 1:
        if scan.state == "failed":
            status = f"the last scan failed: {scan.error or 'no reason given'}"
        else:
            status = _STATES.get(scan.state or "", "no scan was asked for")
        return RuleResult(RULE_SCANNED, False, f"not scanned yet ({status})")
    missing = len(scan.unscanned)
    digests = ", ".join(scan.unscanned[:SHOWN]) + (" …" if missing > SHOWN else "")
    reason = f"{missing} of the index's {scan.images} images not scanned yet: {digests}"
    return RuleResult(RULE_SCANNED, False, reason)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
