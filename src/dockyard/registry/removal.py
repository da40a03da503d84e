"""Deleting from the management API the way the registry API deletes: through the manifest and
blob services, so every change publishes its event (and so its audit entry) and the reference
counts stay right: a blob another repository links stays, only this repository's link goes.
"""

from __future__ import annotations

from collections.abc import Awaitable

from dockyard.auth.access import AccessControl
from dockyard.auth.actions import Action
from dockyard.auth.principal import Principal
from dockyard.errors import Code, RegistryError, conflict, invalid, not_found
from dockyard.meta.base import MetadataStore
from dockyard.registry.blobs import BlobService
from dockyard.registry.manifests import ManifestService, Reference
from dockyard.registry.visibility import Visibility

BATCH = 500


class Removal:
    def __init__(
        self,
        store: MetadataStore,
        access: AccessControl,
        manifests: ManifestService,
        blobs: BlobService,
    ) -> None:
        self._store = store
        self._access = access
        self._manifests = manifests
        self._blobs = blobs

    async def _allowed(self, principal: Principal, action: Action, repository: str) -> None:
        """404 for what the principal cannot see, 403 for what they see but may not change."""
        await Visibility(self._store, self._access, principal).require(action, repository)
        async with self._store.transaction(readonly=True) as tx:
            if not await tx.repos.exists(repository):
                raise not_found(f"no repository {repository!r}")

    async def delete_tag(self, principal: Principal, repository: str, tag: str) -> None:
        """Untag (needs tag-delete); the artifact stays."""
        await self._allowed(principal, Action.TAG_DELETE, repository)
        if Reference.parse(tag).tag is None:
            raise invalid(f"{tag!r} is a digest, not a tag")
        try:
            await self._manifests.delete(repository, tag)
        except RegistryError as exc:
            if exc.code is Code.MANIFEST_UNKNOWN:
                raise not_found(f"no tag {tag!r} in {repository!r}") from None
            raise

    async def delete_artifact(
        self, principal: Principal, repository: str, digest: str
    ) -> list[str]:
        """Delete a manifest by digest (needs delete) with its tags and its referrers
        (signatures, SBOMs... of it, and theirs); 409 while an index in the repository that
        is not being deleted lists it. Returns the digests deleted, referrers first."""
        await self._allowed(principal, Action.DELETE, repository)
        ref = Reference.parse(digest)
        if ref.digest is None:
            raise invalid(f"{digest!r} is not a digest; delete a tag through /tags/")
        doomed = await self._with_referrers(repository, str(ref.digest))
        async with self._store.transaction(readonly=True) as tx:
            for target in doomed:
                users = set(await tx.inventory.parents(repository, target)) - set(doomed)
                if users:
                    raise conflict(
                        f"{target} is listed by index {sorted(users)[0]} in {repository!r}; "
                        "delete the index first"
                    )
        for target in doomed:
            await _gone_is_fine(self._manifests.delete(repository, target))
        async with self._store.transaction() as tx:
            await tx.usage.forget_manifests(repository, doomed)
        return doomed

    async def _with_referrers(self, repository: str, digest: str) -> list[str]:
        """The manifest and everything that refers to it, transitively, referrers first."""
        async with self._store.transaction(readonly=True) as tx:
            if await tx.manifests.get(repository, digest) is None:
                raise not_found(f"no artifact {digest} in {repository!r}")
            order, queue, seen = [], [digest], {digest}
            while queue:
                current = queue.pop(0)
                order.append(current)
                for record in await tx.manifests.referrers(repository, current, None):
                    if record.digest not in seen:
                        seen.add(record.digest)
                        queue.append(record.digest)
        return order[::-1]

    async def delete_repository(self, principal: Principal, repository: str) -> int:
        """Delete every manifest and tag, unlink every blob (bytes shared with other
        repositories stay), and forget the repository. Returns the manifests deleted."""
        await self._allowed(principal, Action.DELETE, repository)
        deleted = await self._delete_manifests(repository)
        while True:
            async with self._store.transaction(readonly=True) as tx:
                digests = await tx.inventory.linked_blobs(repository, BATCH)
            for digest in digests:
                await _gone_is_fine(self._blobs.unlink(repository, digest))
            if len(digests) < BATCH:
                break
        async with self._store.transaction() as tx:
            emptied = await tx.repos.delete_if_empty(repository)
        if not emptied:
            raise conflict(f"something was pushed to {repository!r} while it was being deleted")
        detail = {"manifests": deleted}
        await self._access.audit.write("repository.delete", repository, "ok", detail)
        return deleted

    async def _delete_manifests(self, repository: str) -> int:
        deleted = 0
        while True:
            async with self._store.transaction(readonly=True) as tx:
                page = await tx.inventory.manifests(
                    repository, before=None, limit=BATCH, top_level=False
                )
            for record in page:
                deleted += await _gone_is_fine(self._manifests.delete(repository, record.digest))
            async with self._store.transaction() as tx:
                await tx.usage.forget_manifests(repository, [r.digest for r in page])
            if len(page) < BATCH:
                return deleted


async def _gone_is_fine(deletion: Awaitable[None]) -> int:
    """1 when deleted, 0 when someone else deleted it first (what we wanted anyway)."""
    try:
        await deletion
    except RegistryError as exc:
        if exc.code in (Code.MANIFEST_UNKNOWN, Code.BLOB_UNKNOWN):
            return 0
        raise
    return 1
