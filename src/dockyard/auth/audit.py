"""The audit log: who did what, from where, and whether it was allowed.

Registry changes (pushes, deletes) are written in the same transaction as the change itself, by
a hook on the event bus, so the log can never claim a push that was rolled back nor miss one
that committed. Logins, token issues and denials are written on their own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from dockyard.auth.principal import Principal, RequestActor, current_actor
from dockyard.events.types import (
    BlobMounted,
    BlobUnlinked,
    Event,
    ManifestDeleted,
    ManifestPushed,
    TagDeleted,
)
from dockyard.meta.auth_records import AuditRecord
from dockyard.meta.base import MetadataStore, MetadataUnavailable, Transaction

log = logging.getLogger("dockyard.audit")


def _record(
    actor: RequestActor | None,
    action: str,
    target: str | None,
    outcome: str,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    principal = actor.principal if actor else None
    return AuditRecord(
        at=time.time(),
        actor=principal.name if principal else "system",
        actor_kind=principal.kind.value if principal else "system",
        address=actor.address if actor else None,
        action=action,
        target=target,
        outcome=outcome,
        detail=detail,
    )


def event_entry(event: Event) -> tuple[str, str, dict[str, Any]] | None:
    """(action, target, detail) for the registry events worth auditing."""
    if isinstance(event, ManifestPushed):
        target = f"{event.repository}@{event.digest}"
        return "push", target, {"tag": event.tag, "media_type": event.media_type}
    if isinstance(event, ManifestDeleted):
        return "delete", f"{event.repository}@{event.digest}", {"tags": list(event.tags)}
    if isinstance(event, TagDeleted):
        return "tag-delete", f"{event.repository}:{event.tag}", {"digest": event.digest}
    if isinstance(event, BlobUnlinked):
        return "blob-delete", f"{event.repository}@{event.digest}", {}
    if isinstance(event, BlobMounted):
        return "mount", f"{event.repository}@{event.digest}", {"from": event.source}
    return None


class AuditLog:
    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    async def on_event(self, tx: Transaction, event: Event) -> None:
        """Event-bus hook: runs inside the transaction that made the change."""
        entry = event_entry(event)
        if entry is not None:
            action, target, detail = entry
            await tx.audit.add(_record(current_actor.get(), action, target, "ok", detail))

    async def write(
        self,
        action: str,
        target: str | None,
        outcome: str,
        detail: dict[str, Any] | None = None,
        principal: Principal | None = None,
        address: str | None = None,
    ) -> None:
        actor = current_actor.get()
        if principal is not None:
            actor = RequestActor(principal, address or (actor.address if actor else None))
        record = _record(actor, action, target, outcome, detail)
        try:
            async with self._store.transaction() as tx:
                await tx.audit.add(record)
        except MetadataUnavailable:
            # The request already failed or succeeded on its own; say so where operators look.
            log.error("audit entry lost (database unavailable): %s %s %s", action, target, outcome)
