"""The pull check the registry core runs on every manifest GET (registry/admission.py).

Most projects have no policy, and a pull must not pay for policies it does not have: each
project's policy and allow-list are kept in memory for a few seconds (a change made through
this process applies at once, other replicas and workers follow within `ttl` seconds), so a
pull from a project without a policy costs one dictionary lookup. With a policy, the evidence
its rules need is gathered (signatures, scan facts, both cached briefly) and `rules.decide`
weighs it.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from dockyard.auth.policy import project_of
from dockyard.auth.principal import Kind, Principal
from dockyard.errors import Code, RegistryError
from dockyard.ext.scanning.policies.artifact_signatures import ArtifactSignatures
from dockyard.ext.scanning.policies.rules import (
    Policy,
    ScanEvidence,
    SignatureEvidence,
    Verdict,
    artifact_scan,
    decide,
    image_scan,
    index_scan,
)
from dockyard.ext.scanning.policies.scope import exemption, index_images
from dockyard.meta.base import MetadataStore
from dockyard.meta.policy_store import AllowlistEntry
from dockyard.meta.records import ManifestRecord
from dockyard.oci import mediatypes as mt
from dockyard.registry.artifact_views import kind_of

log = logging.getLogger("dockyard.policies")

MAX_PARENTS = 20  # indexes whose signatures may vouch for a child manifest
NO_FINDINGS = 1000  # a severity above any: ask for the report's existence only


@dataclass(frozen=True, slots=True)
class ProjectRules:
    policy: Policy | None
    allowlist: tuple[AllowlistEntry, ...] = ()


K = TypeVar("K")
V = TypeVar("V")


class _Expiring(Generic[K, V]):
    """A small map whose entries expire; the oldest go first when it is full."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float]) -> None:
        self._ttl, self._max, self._clock = ttl, max_entries, clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        hit = self._items.get(key)
        return hit[1] if hit is not None and hit[0] > self._clock() else None

    def put(self, key: K, value: V) -> None:
        self._items[key] = (self._clock() + self._ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def drop_where(self, doomed: Callable[[K], bool]) -> None:
        for key in [k for k in self._items if doomed(k)]:
            del self._items[key]


class PullGuard:
    def __init__(
        self,
        store: MetadataStore,
        signatures: ArtifactSignatures,
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.signatures = signatures
        self._wall = wall
        self._rules: _Expiring[str, ProjectRules] = _Expiring(ttl, 10_000, clock)
        self._scans: _Expiring[tuple[str, str, int], ScanEvidence] = _Expiring(ttl, 10_000, clock)

    async def rules(self, project: str) -> ProjectRules:
        found = self._rules.get(project)
        if found is not None:
            return found
        async with self._store.transaction(readonly=True) as tx:
            record = await tx.policies.get(project)
            allowlist = await tx.policies.allowlist(project, self._wall()) if record else []
        found = ProjectRules(Policy.from_record(record) if record else None, tuple(allowlist))
        self._rules.put(project, found)
        return found

    def forget(self, project: str) -> None:
        """The project's policy or allow-list changed (in this process): weigh its pulls
        afresh."""
        self._rules.drop(project)
        self._scans.drop_where(lambda key: project_of(key[0]) == project)

    def forget_all(self) -> None:
        """The system-wide allow-list changed: every project's list includes it."""
        self._rules.clear()
        self._scans.clear()

    async def admit_pull(
        self, repository: str, manifest: ManifestRecord, puller: Principal | None = None
    ) -> None:
        if puller is not None and puller.kind is Kind.SERVICE and puller.token is not None:
            return  # an external scanner fetching the image to scan it (ext/scanning/lending.py)
        rules = await self.rules(project_of(repository))
        if rules.policy is None or not rules.policy.enforces:
            return
        verdict = await self.evaluate(repository, manifest, rules)
        if not verdict.allowed:
            log.info("pull of %s@%s refused: %s", repository, manifest.digest, verdict.message)
            failed = [{"rule": r.rule, "reason": r.reason} for r in verdict.results if not r.passed]
            raise RegistryError(
                Code.DENIED,
                verdict.message,
                detail={"project": verdict.project, "digest": manifest.digest, "refused": failed},
            )

    async def evaluate(
        self, repository: str, manifest: ManifestRecord, rules: ProjectRules | None = None
    ) -> Verdict:
        """Would a pull of `manifest` from `repository` be allowed now, and why."""
        rules = rules or await self.rules(project_of(repository))
        project, policy = project_of(repository), rules.policy
        if policy is None or not policy.enforces:
            return Verdict(project, manifest.digest)
        exempt = exemption(manifest.media_type, manifest.payload)
        if exempt is not None:
            return Verdict(project, manifest.digest, exempt=exempt)
        signatures = None
        if policy.require_signature:
            signatures = await self._signature_evidence(repository, manifest.digest, policy)
        scan = None
        if policy.max_severity is not None or policy.deny_unscanned:
            scan = await self._scan_evidence(repository, manifest, policy)
        return decide(
            policy,
            manifest.digest,
            signatures=signatures,
            scan=scan,
            allowlist=rules.allowlist,
            now=self._wall(),
        )

    async def _signature_evidence(
        self, repository: str, digest: str, policy: Policy
    ) -> SignatureEvidence:
        own = await self.signatures.status(repository, digest, policy)
        if own.signers:
            return SignatureEvidence(own)
        async with self._store.transaction(readonly=True) as tx:
            parents = await tx.inventory.parents(repository, digest)
        statuses = []
        for parent in sorted(parents)[:MAX_PARENTS]:
            status = await self.signatures.status(repository, parent, policy)
            statuses.append(status)
            if status.signers:
                break
        return SignatureEvidence(own, tuple(statuses))

    async def _scan_evidence(
        self, repository: str, manifest: ManifestRecord, policy: Policy
    ) -> ScanEvidence:
        if kind_of(manifest) == "artifact":
            return artifact_scan(manifest.artifact_type or manifest.media_type)
        threshold = int(policy.max_severity) if policy.max_severity is not None else NO_FINDINGS
        key = (repository, manifest.digest, threshold)
        found = self._scans.get(key)
        if found is not None:
            return found
        is_index = manifest.media_type in mt.INDEXES
        digests = index_images(manifest.payload) if is_index else [manifest.digest]
        async with self._store.transaction(readonly=True) as tx:
            facts = await tx.policies.scan_facts(repository, digests, threshold)
        children = [facts[d] for d in digests]
        found = index_scan(children) if is_index else image_scan(children[0])
        self._scans.put(key, found)
        return found
