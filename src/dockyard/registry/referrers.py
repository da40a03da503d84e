"""The referrers API: manifests whose `subject` is a given digest, as an OCI image index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.meta.base import MetadataStore
from dockyard.oci import mediatypes as mt
from dockyard.registry.uploads import parse_digest


@dataclass(frozen=True, slots=True)
class Referrers:
    index: dict[str, Any]
    filtered: bool


class ReferrerService:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    async def list(self, repository: str, digest_text: str, artifact_type: str | None) -> Referrers:
        digest = parse_digest(digest_text)
        async with self.store.transaction(readonly=True) as tx:
            records = await tx.manifests.referrers(repository, str(digest), artifact_type)
        descriptors = []
        for record in records:
            descriptor: dict[str, Any] = {
                "mediaType": record.media_type,
                "digest": record.digest,
                "size": record.size,
            }
            if record.artifact_type:
                descriptor["artifactType"] = record.artifact_type
            if record.annotations:
                descriptor["annotations"] = record.annotations
            descriptors.append(descriptor)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}
        return Referrers(index, artifact_type is not None)
