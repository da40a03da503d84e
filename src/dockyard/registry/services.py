"""The registry core's services, built once by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.events.bus import EventBus
from dockyard.meta.base import MetadataStore
from dockyard.registry.admission import Admissions
from dockyard.registry.blobs import BlobService
from dockyard.registry.listing import ListingService
from dockyard.registry.manifests import ManifestService
from dockyard.registry.referrers import ReferrerService
from dockyard.registry.uploads import UploadService
from dockyard.settings import RegistrySettings
from dockyard.storage.base import StorageDriver


@dataclass(frozen=True, slots=True)
class Registry:
    storage: StorageDriver
    store: MetadataStore
    bus: EventBus
    uploads: UploadService
    blobs: BlobService
    manifests: ManifestService
    listing: ListingService
    referrers: ReferrerService
    admissions: Admissions  # checks extensions add: blobs joining a repository, manifest pulls
    blob_redirect_seconds: int | None = None  # presigned redirects for blob GETs, when set

    @classmethod
    def build(
        cls,
        storage: StorageDriver,
        store: MetadataStore,
        bus: EventBus,
        cfg: RegistrySettings,
        blob_redirect_seconds: int | None = None,
    ) -> Registry:
        admissions = Admissions()
        return cls(
            storage=storage,
            store=store,
            bus=bus,
            uploads=UploadService(storage, store, bus, admissions),
            blobs=BlobService(storage, store, bus, cfg.delete_enabled),
            manifests=ManifestService(
                store,
                bus,
                max_bytes=cfg.max_manifest_bytes,
                require_references=cfg.require_manifest_references,
                delete_enabled=cfg.delete_enabled,
                admissions=admissions,
            ),
            listing=ListingService(store),
            referrers=ReferrerService(store),
            admissions=admissions,
            blob_redirect_seconds=blob_redirect_seconds,
        )
