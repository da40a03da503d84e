"""Project quotas: a soft limit on the storage a project's repositories use.

A project's usage is the size of the distinct blobs (layers, configs, artifact files) its
repositories link: a layer several of its repositories share counts once, and a blob that is
already in the project costs nothing more. A blob that would take the project past its quota is
refused with DENIED before it is stored or linked. The limit is soft: uploads finishing at the
same moment are each checked against the usage before them, so together they may overshoot.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from dockyard.errors import Code, RegistryError
from dockyard.ext.base import ExtensionContext, ExtensionSettings, Subscription, Task
from dockyard.meta.base import MetadataStore
from dockyard.sizes import format_size


class QuotaSettings(ExtensionSettings):
    pass


class QuotaGuard:
    """The admission check the registry runs before a blob joins a repository."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    async def admit_blob(self, repository: str, digest: str, size: int) -> None:
        project = repository.split("/", 1)[0]
        async with self._store.transaction(readonly=True) as tx:
            record = await tx.access.project(project)
            if record is None or record.quota_bytes is None:
                return
            if await tx.inventory.blob_in_project(project, digest):
                return  # stored once per project: no new usage
            used = (await tx.inventory.project_storage([project]))[project]
        if used + size > record.quota_bytes:
            raise RegistryError(
                Code.DENIED,
                f"project {project!r} is over its storage quota: {format_size(used)} of "
                f"{format_size(record.quota_bytes)} used, and this blob needs "
                f"{format_size(size)} more; delete images or ask an administrator to raise "
                "the quota",
                detail={"project": project, "used_bytes": used, "quota_bytes": record.quota_bytes},
            )


class QuotaExtension:
    name = "quota"
    settings_model = QuotaSettings

    def __init__(self, context: ExtensionContext, settings: QuotaSettings) -> None:
        context.registry.admissions.add(QuotaGuard(context.store))

    def routes(self) -> Sequence[BaseRoute]:
        return ()

    def tasks(self) -> Sequence[Task]:
        return ()

    def subscriptions(self) -> Sequence[Subscription]:
        return ()

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
