"""Manifests: validate on push, serve by tag or digest, delete.

The bytes as sent are stored and served unchanged; their digest is the manifest's identity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dockyard.auth.principal import Principal
from dockyard.errors import Code, RegistryError
from dockyard.events.bus import EventBus
from dockyard.events.types import ManifestDeleted, ManifestPulled, ManifestPushed, TagDeleted
from dockyard.meta.base import MetadataStore, Transaction
from dockyard.meta.records import ManifestRecord, ManifestReference
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, InvalidDigest, is_digest_like
from dockyard.oci.manifest import InvalidManifest, ParsedManifest, parse_manifest
from dockyard.oci.names import InvalidTag, validate_tag
from dockyard.registry.admission import Admissions


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest reference from a URL: either a tag or a digest."""

    tag: str | None
    digest: Digest | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        if is_digest_like(text):
            try:
                return cls(None, Digest.parse(text))
            except InvalidDigest as exc:
                raise RegistryError(Code.DIGEST_INVALID, str(exc)) from None
        try:
            return cls(validate_tag(text), None)
        except InvalidTag as exc:
            raise RegistryError(Code.MANIFEST_INVALID, str(exc)) from None


async def find(tx: Transaction, repository: str, ref: Reference) -> ManifestRecord | None:
    """The manifest a tag or digest names in `repository`, if it is there."""
    if ref.digest is not None:
        return await tx.manifests.get(repository, str(ref.digest))
    return await tx.manifests.get_by_tag(repository, str(ref.tag))


@dataclass(frozen=True, slots=True)
class PushResult:
    digest: str
    subject: str | None


class ManifestService:
    def __init__(
        self,
        store: MetadataStore,
        bus: EventBus,
        *,
        max_bytes: int,
        require_references: bool,
        delete_enabled: bool,
        admissions: Admissions | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.admissions = admissions or Admissions()
        self.max_bytes = max_bytes
        self.require_references = require_references
        self.delete_enabled = delete_enabled

    async def get(
        self,
        repository: str,
        reference: str,
        accept: list[str],
        *,
        pulled: bool = False,
        puller: Principal | None = None,
    ) -> ManifestRecord:
        """The manifest; `pulled` says it is a pull (a GET, not a HEAD) by `puller`: the pull
        checks extensions registered run (a refusal raises DENIED) and it counts for the usage
        statistics, in memory (`ManifestPulled` goes to the bus, not to the database)."""
        ref = Reference.parse(reference)
        async with self.store.transaction(readonly=True) as tx:
            record = await find(tx, repository, ref)
        if record is None:
            raise RegistryError(
                Code.MANIFEST_UNKNOWN, f"manifest {reference!r} is not in repository {repository!r}"
            )
        if not _acceptable(record.media_type, accept):
            raise RegistryError(
                Code.MANIFEST_UNKNOWN,
                f"manifest {reference!r} is a {record.media_type}, which the client's Accept "
                "header does not list",
                status=404,
            )
        if pulled:
            await self.admissions.admit_pull(repository, record, puller)
            self.bus.notify(ManifestPulled(repository, record.digest, time.time()))
        return record

    async def put(
        self, repository: str, reference: str, body: bytes, content_type: str | None
    ) -> PushResult:
        ref = Reference.parse(reference)
        if len(body) > self.max_bytes:
            raise manifest_too_large(self.max_bytes)
        try:
            parsed = parse_manifest(body, content_type)
        except InvalidManifest as exc:
            raise RegistryError(Code.MANIFEST_INVALID, str(exc)) from None
        algorithm = ref.digest.algorithm if ref.digest else "sha256"
        digest = Digest.of(body, algorithm)
        if ref.digest is not None and digest != ref.digest:
            raise RegistryError(
                Code.DIGEST_INVALID,
                f"the manifest's digest is {digest}, not {ref.digest} as the URL says",
            )
        record = ManifestRecord(
            repository=repository,
            digest=str(digest),
            media_type=parsed.media_type,
            artifact_type=parsed.artifact_type,
            subject=parsed.subject.digest if parsed.subject else None,
            size=len(body),
            payload=body,
            annotations=parsed.annotations,
        )
        async with self.store.transaction() as tx:
            await tx.repos.ensure(repository)
            if self.require_references:
                await _check_references(tx, repository, parsed)
            await tx.manifests.add(record, _references(parsed))
            if ref.tag is not None:
                await tx.tags.set(repository, ref.tag, record.digest)
            await self.bus.publish(
                tx,
                ManifestPushed(
                    repository,
                    record.digest,
                    record.media_type,
                    record.size,
                    ref.tag,
                    record.subject,
                ),
            )
        return PushResult(record.digest, record.subject)

    async def delete(self, repository: str, reference: str) -> None:
        if not self.delete_enabled:
            raise RegistryError(Code.UNSUPPORTED, "deleting is disabled on this registry")
        ref = Reference.parse(reference)
        async with self.store.transaction() as tx:
            if ref.tag is not None:
                digest = await tx.tags.get(repository, ref.tag)
                if digest is None or not await tx.tags.delete(repository, ref.tag):
                    raise RegistryError(
                        Code.MANIFEST_UNKNOWN, f"tag {ref.tag!r} is not in {repository!r}"
                    )
                await self.bus.publish(tx, TagDeleted(repository, ref.tag, digest))
                return
            tags = await tx.tags.delete_pointing_to(repository, str(ref.digest))
            if not await tx.manifests.delete(repository, str(ref.digest)):
                raise RegistryError(
                    Code.MANIFEST_UNKNOWN, f"manifest {ref.digest} is not in {repository!r}"
                )
            await self.bus.publish(tx, ManifestDeleted(repository, str(ref.digest), tuple(tags)))


def manifest_too_large(limit: int) -> RegistryError:
    return RegistryError(
        Code.SIZE_INVALID,
        f"manifest is larger than this registry's limit of {limit} bytes",
        status=413,
    )


def _references(parsed: ParsedManifest) -> list[ManifestReference]:
    refs = [ManifestReference(d.digest, "blob") for d in parsed.blobs]
    refs += [ManifestReference(d.digest, "manifest") for d in parsed.manifests]
    return refs


async def _check_references(tx: Transaction, repository: str, parsed: ParsedManifest) -> None:
    blob_digests = [d.digest for d in parsed.blobs if d.media_type not in mt.FOREIGN_LAYERS]
    missing = await tx.blobs.missing(repository, blob_digests)
    if missing:
        raise RegistryError(
            Code.MANIFEST_BLOB_UNKNOWN,
            f"the manifest references {len(missing)} blob(s) not pushed to {repository!r}: "
            + ", ".join(missing[:5]),
            detail={"missing": missing},
        )
    missing = await tx.manifests.missing(repository, [d.digest for d in parsed.manifests])
    if missing:
        raise RegistryError(
            Code.MANIFEST_BLOB_UNKNOWN,
            f"the index references {len(missing)} manifest(s) not pushed to {repository!r}: "
            + ", ".join(missing[:5]),
            detail={"missing": missing},
        )


def _acceptable(media_type: str, accept: list[str]) -> bool:
    if not accept:
        return True
    wanted = {a.split(";")[0].strip().lower() for a in accept for a in a.split(",")}
    return bool(wanted & {media_type, "*/*", "application/*", ""})
