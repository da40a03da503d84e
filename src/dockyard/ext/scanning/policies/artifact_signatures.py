"""The signature status of a manifest, from what its repository holds.

Signatures are found by cosign's tag (`sha256-<hex>.sig`) and by the referrers API (manifests
whose subject is the image); signature manifests are read from the metadata store and their
payload blobs through the storage driver, each capped in size, and verified with the policy's
trusted keys. Results are kept for a few seconds, keyed by (repository, digest, keys); a push,
a delete or a tag removal in the repository drops its entries at once in this process (a new
signature counts from the next pull), other replicas see it when their entry expires.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from dockyard.ext.scanning.policies.rules import Policy
from dockyard.ext.scanning.signatures import (
    Discovery,
    SignatureStatus,
    check_signatures,
    cosign_tag_for,
    discover,
)
from dockyard.ext.scanning.signatures.layers import MAX_PAYLOAD_BYTES
from dockyard.meta.base import MetadataStore
from dockyard.meta.records import ManifestRecord
from dockyard.oci.digest import is_digest_like
from dockyard.storage.base import PathNotFound, StorageDriver

MAX_SIGNATURE_MANIFESTS = 50  # cosign signature manifests read for one image
Key = tuple[str, str]  # (digest, keys id)


def _descriptor(record: ManifestRecord) -> dict[str, Any]:
    found: dict[str, Any] = {
        "mediaType": record.media_type,
        "digest": record.digest,
        "size": record.size,
    }
    if record.artifact_type:
        found["artifactType"] = record.artifact_type
    if record.annotations:
        found["annotations"] = record.annotations
    return found


class ArtifactSignatures:
    def __init__(
        self,
        store: MetadataStore,
        storage: StorageDriver,
        *,
        ttl: float = 10.0,
        max_repositories: int = 1000,
        max_per_repository: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._storage = storage
        self._ttl = ttl
        self._max_repositories = max_repositories
        self._max_per_repository = max_per_repository
        self._clock = clock
        # repository → (digest, keys id) → (expires, status); a push drops one repository's.
        self._cache: OrderedDict[str, dict[Key, tuple[float, SignatureStatus]]] = OrderedDict()

    async def status(self, repository: str, digest: str, policy: Policy) -> SignatureStatus:
        key = (digest, policy.keys_id)
        now = self._clock()
        hit = self._cache.get(repository, {}).get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        status = await self.check(repository, digest, policy)
        known = self._cache.setdefault(repository, {})
        if len(known) >= self._max_per_repository:
            known.clear()
        known[key] = (now + self._ttl, status)
        self._cache.move_to_end(repository)
        while len(self._cache) > self._max_repositories:
            self._cache.popitem(last=False)
        return status

    def forget(self, repository: str) -> None:
        """Drop what is known about the repository's signatures (something was pushed or
        removed there)."""
        self._cache.pop(repository, None)

    async def discovery(self, repository: str, digest: str) -> Discovery:
        tag = cosign_tag_for(digest)
        async with self._store.transaction(readonly=True) as tx:
            tagged = await tx.tags.get(repository, tag) is not None
            referrers = await tx.manifests.referrers(repository, digest, None)
        found = discover(
            digest, tags=[tag] if tagged else [], referrers=[_descriptor(r) for r in referrers]
        )
        signatures = found.cosign_signatures
        if len(signatures) <= MAX_SIGNATURE_MANIFESTS:
            return found
        kept = set(signatures[:MAX_SIGNATURE_MANIFESTS])
        return Discovery(tuple(a for a in found.attachments if a in kept or a not in signatures))

    async def check(self, repository: str, digest: str, policy: Policy) -> SignatureStatus:
        """Discover, fetch and verify now (no cache)."""

        async def fetch_manifest(reference: str) -> bytes | None:
            async with self._store.transaction(readonly=True) as tx:
                if is_digest_like(reference):
                    record = await tx.manifests.get(repository, reference)
                else:
                    record = await tx.manifests.get_by_tag(repository, reference)
            return record.payload if record is not None else None

        async def fetch_blob(blob: str) -> bytes | None:
            async with self._store.transaction(readonly=True) as tx:
                record = await tx.blobs.linked(repository, blob)
            if record is None or record.size > MAX_PAYLOAD_BYTES:
                return None
            try:
                return await self._storage.get(record.path)
            except PathNotFound:
                return None

        found = await self.discovery(repository, digest)
        return await check_signatures(
            digest, found, list(policy.trusted_keys), fetch_manifest, fetch_blob
        )
