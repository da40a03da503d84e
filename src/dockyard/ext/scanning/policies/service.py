"""Managing pull policies and allow-lists, and explaining an artifact's signatures and pull
verdict. Every change is authorized by `auth.policy` and audited.

Reading a project's policy and allow-list needs `read-project`; changing them needs
`manage-policies` (maintainers, project admins); the system-wide allow-list is read by anyone
logged in and changed by system administrators. Someone who can neither pull from nor see a
project gets 404, as if it did not exist.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.auth.access import AccessControl
from dockyard.auth.actions import Action
from dockyard.auth.policy import decide, decide_system, project_of
from dockyard.auth.principal import Principal
from dockyard.errors import forbidden, invalid, not_found
from dockyard.ext.scanning.policies.guard import MAX_PARENTS, PullGuard
from dockyard.ext.scanning.policies.rules import Policy, Verdict, parse_threshold
from dockyard.ext.scanning.service import resolve
from dockyard.ext.scanning.signatures import InvalidKey, SignatureStatus, load_trusted_key
from dockyard.meta.base import MetadataStore
from dockyard.meta.policy_store import SYSTEM, AllowlistEntry, PolicyRecord
from dockyard.meta.records import ManifestRecord
from dockyard.registry.visibility import Visibility

MAX_KEYS = 20
MAX_KEY_CHARS = 16_384
ADVISORY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


@dataclass(frozen=True)
class PolicyChange:
    scan_on_push: bool
    require_signature: bool
    max_severity: str | None
    deny_unscanned: bool
    trusted_keys: tuple[str, ...]


@dataclass(frozen=True)
class ArtifactSignatures:
    repository: str
    status: SignatureStatus
    policy: Policy
    indexes: tuple[SignatureStatus, ...]  # statuses of the indexes holding it


def validate(change: PolicyChange) -> PolicyChange:
    """The change as stored, or a 422 that says what is wrong with it."""
    if len(change.trusted_keys) > MAX_KEYS:
        raise invalid(f"trusted_keys: at most {MAX_KEYS} keys")
    for index, pem in enumerate(change.trusted_keys):
        if len(pem) > MAX_KEY_CHARS:
            raise invalid(f"trusted_keys[{index}]: longer than {MAX_KEY_CHARS} characters")
        try:
            load_trusted_key(pem)
        except InvalidKey as exc:
            raise invalid(f"trusted_keys[{index}]: {exc}") from None
    try:
        threshold = parse_threshold(change.max_severity)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    if change.require_signature and not change.trusted_keys:
        raise invalid(
            "require_signature needs at least one trusted key (trusted_keys: PEM public keys, "
            "as in cosign.pub)"
        )
    name = threshold.name if threshold is not None else None
    return PolicyChange(
        change.scan_on_push,
        change.require_signature,
        name,
        change.deny_unscanned,
        tuple(dict.fromkeys(change.trusted_keys)),
    )


class PolicyService:
    def __init__(
        self,
        store: MetadataStore,
        access: AccessControl,
        guard: PullGuard,
        *,
        scan_on_push: bool = True,
    ) -> None:
        self._store = store
        self._access = access
        self._guard = guard
        self._scan_on_push = scan_on_push  # what a project without a policy does

    async def _require(self, actor: Principal, action: Action, project: str) -> None:
        async with self._store.transaction(readonly=True) as tx:
            facts = await self._access.facts(tx, project, actor)
        if facts.project is None:
            raise not_found(f"no project {project!r}")
        decision = decide(actor, action, facts, None)
        if decision:
            return
        if not (
            decide(actor, Action.PULL, facts, f"{project}/x")
            or decide(actor, Action.READ_PROJECT, facts, None)
        ):
            raise not_found(f"no project {project!r}")
        raise forbidden(decision.reason)

    # --- the policy -----------------------------------------------------------------------------

    async def policy(self, actor: Principal, project: str) -> PolicyRecord | None:
        await self._require(actor, Action.READ_PROJECT, project)
        async with self._store.transaction(readonly=True) as tx:
            return await tx.policies.get(project)

    def default(self, project: str) -> PolicyRecord:
        return PolicyRecord(project, scan_on_push=self._scan_on_push, updated_at=0.0)

    async def set_policy(
        self, actor: Principal, project: str, change: PolicyChange
    ) -> PolicyRecord:
        await self._require(actor, Action.MANAGE_POLICIES, project)
        change = validate(change)
        record = PolicyRecord(
            project,
            change.scan_on_push,
            change.require_signature,
            change.max_severity,
            change.deny_unscanned,
            change.trusted_keys,
            time.time(),
        )
        async with self._store.transaction() as tx:
            await tx.policies.put(record)
        self._guard.forget(project)
        detail = {
            "scan_on_push": record.scan_on_push,
            "require_signature": record.require_signature,
            "max_severity": record.max_severity,
            "deny_unscanned": record.deny_unscanned,
            "trusted_keys": [load_trusted_key(k).fingerprint for k in record.trusted_keys],
        }
        await self._access.audit.write("project.policy", project, "ok", detail)
        return record

    # --- allow-lists ----------------------------------------------------------------------------

    async def allowlist(self, actor: Principal, project: str) -> list[AllowlistEntry]:
        await self._require(actor, Action.READ_PROJECT, project)
        async with self._store.transaction(readonly=True) as tx:
            return await tx.policies.entries(project)

    async def system_allowlist(self, actor: Principal) -> list[AllowlistEntry]:
        if not actor.authenticated:
            raise forbidden("log in to read the system-wide allow-list")
        async with self._store.transaction(readonly=True) as tx:
            return await tx.policies.entries(SYSTEM)

    async def allow(
        self,
        actor: Principal,
        project: str,
        advisory_id: str,
        expires_at: float | None,
        reason: str | None,
    ) -> AllowlistEntry:
        """Accept an advisory in `project` (SYSTEM: in every project) until `expires_at`."""
        await self._require_change(actor, project)
        _check_entry(advisory_id, expires_at)
        entry = AllowlistEntry(project, advisory_id, expires_at, reason, actor.name, time.time())
        async with self._store.transaction() as tx:
            await tx.policies.allow(entry)
        self._changed(project)
        detail = {"added": advisory_id, "expires_at": expires_at, "reason": reason}
        await self._audit(project, detail)
        return entry

    async def disallow(self, actor: Principal, project: str, advisory_id: str) -> None:
        await self._require_change(actor, project)
        async with self._store.transaction() as tx:
            removed = await tx.policies.disallow(project, advisory_id)
        if not removed:
            scope = "the system-wide allow-list" if project == SYSTEM else f"{project!r}"
            raise not_found(f"{advisory_id!r} is not on the allow-list of {scope}")
        self._changed(project)
        await self._audit(project, {"removed": advisory_id})

    async def _require_change(self, actor: Principal, project: str) -> None:
        if project != SYSTEM:
            await self._require(actor, Action.MANAGE_POLICIES, project)
            return
        decision = decide_system(actor, "change the system-wide allow-list")
        if not decision:
            raise forbidden(decision.reason)

    def _changed(self, project: str) -> None:
        if project == SYSTEM:
            self._guard.forget_all()
        else:
            self._guard.forget(project)

    async def _audit(self, project: str, detail: dict[str, object]) -> None:
        if project == SYSTEM:
            await self._access.audit.write("system.allowlist", None, "ok", detail)
        else:
            await self._access.audit.write("project.allowlist", project, "ok", detail)

    # --- artifacts ------------------------------------------------------------------------------

    async def _artifact(self, actor: Principal, repository: str, reference: str) -> ManifestRecord:
        await Visibility(self._store, self._access, actor).require_pull(repository)
        async with self._store.transaction(readonly=True) as tx:
            return await resolve(tx, repository, reference)

    async def signatures(
        self, actor: Principal, repository: str, reference: str
    ) -> ArtifactSignatures:
        """Every signature of the artifact, verified now with the project's trusted keys."""
        record = await self._artifact(actor, repository, reference)
        rules = await self._guard.rules(project_of(repository))
        policy = rules.policy or Policy(project_of(repository))
        checker = self._guard.signatures
        status = await checker.check(repository, record.digest, policy)
        async with self._store.transaction(readonly=True) as tx:
            parents = await tx.inventory.parents(repository, record.digest)
        indexes = [await checker.check(repository, p, policy) for p in parents[:MAX_PARENTS]]
        return ArtifactSignatures(repository, status, policy, tuple(indexes))

    async def check(
        self, actor: Principal, repository: str, reference: str
    ) -> tuple[Verdict, Policy | None]:
        """What a pull of the artifact would get now from this replica, and the policy that
        decided it (None: the project has none)."""
        record = await self._artifact(actor, repository, reference)
        rules = await self._guard.rules(project_of(repository))
        return await self._guard.evaluate(repository, record, rules), rules.policy


def _check_entry(advisory_id: str, expires_at: float | None) -> None:
    if not ADVISORY_ID.fullmatch(advisory_id):
        raise invalid(
            f"advisory_id {advisory_id[:120]!r} is not an advisory id (GHSA-…, CVE-…, PYSEC-…)"
        )
    if expires_at is not None and (not math.isfinite(expires_at) or expires_at <= time.time()):
        raise invalid("expires_at must be a time in the future (seconds since the epoch) or null")


def fingerprints(keys: Sequence[str]) -> list[dict[str, str]]:
    """The stored PEM keys as people compare them."""
    shown = []
    for pem in keys:
        try:
            key = load_trusted_key(pem)
        except InvalidKey:
            shown.append({"fingerprint": "", "algorithm": "unreadable"})
            continue
        shown.append({"fingerprint": key.fingerprint, "algorithm": key.algorithm})
    return shown
