"""SBOMs of scanned images: generated from the stored inventory (no layer is read again), and
attached to the image as an OCI referrer artifact through the registry's own upload and
manifest services, so quotas, audit and events apply as to any push, and
`GET /v2/<name>/referrers/<digest>` lists it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from dockyard.auth.actions import Action
from dockyard.auth.principal import Principal
from dockyard.errors import invalid
from dockyard.ext.scanning.queries import ScanQueries
from dockyard.ext.scanning.sbom import (
    CYCLONEDX_JSON,
    EMPTY_CONFIG,
    EMPTY_CONFIG_BYTES,
    SPDX_JSON,
    SbomImage,
    blob_descriptor,
    cyclonedx_json,
    sbom_artifact_manifest,
    spdx_json,
)
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.registry.services import Registry

FORMATS = {"cyclonedx": CYCLONEDX_JSON, "spdx": SPDX_JSON}


def media_type_of(fmt: str) -> str:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise invalid(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}") from None


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class SbomService:
    def __init__(self, queries: ScanQueries, registry: Registry) -> None:
        self._queries = queries
        self._registry = registry

    async def document(
        self,
        principal: Principal,
        repository: str,
        reference: str,
        fmt: str,
        host: str,
        action: Action = Action.PULL,
    ) -> tuple[bytes, str, str]:
        """(the document, its media type, the image's digest)."""
        media_type = media_type_of(fmt)
        if action is not Action.PULL:
            await self._queries.artifact(principal, repository, reference, action)
        found, report = await self._queries.report(principal, repository, reference)
        image = SbomImage(repository, found.record.digest, found.tag, registry=host)
        write = cyclonedx_json if fmt == "cyclonedx" else spdx_json
        # Thousands of packages take a while to serialize: off the event loop.
        data = await asyncio.to_thread(write, report.inventory, image)
        return data, media_type, found.record.digest

    async def attach(
        self, principal: Principal, repository: str, reference: str, fmt: str, host: str
    ) -> dict[str, Any]:
        """Push the SBOM as an artifact whose subject is the image; needs push access."""
        data, media_type, digest = await self.document(
            principal, repository, reference, fmt, host, Action.PUSH
        )
        async with self._registry.store.transaction(readonly=True) as tx:
            subject = await tx.manifests.get(repository, digest)
        assert subject is not None  # just resolved; a delete in between fails the push below
        sbom = blob_descriptor(data, media_type)
        uploads = self._registry.uploads
        await uploads.upload_monolithic(
            repository, EMPTY_CONFIG["digest"], _once(EMPTY_CONFIG_BYTES), len(EMPTY_CONFIG_BYTES)
        )
        await uploads.upload_monolithic(repository, sbom["digest"], _once(data), len(data))
        manifest = sbom_artifact_manifest(
            {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
            sbom,
            media_type,
            {"dev.dockyard.sbom.format": fmt},
        )
        body = json.dumps(manifest, separators=(",", ":")).encode()
        pushed = await self._registry.manifests.put(
            repository, str(Digest.of(body)), body, mt.OCI_MANIFEST
        )
        return {
            "repository": repository,
            "digest": pushed.digest,
            "media_type": mt.OCI_MANIFEST,
            "artifact_type": media_type,
            "subject": digest,
            "size": len(body),
            "sbom": sbom,
        }
