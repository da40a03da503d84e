"""Publishing: every event goes into the outbox inside the request's transaction, and to
in-process subscribers only after that transaction commits, so nobody hears of a change that
was rolled back and durable consumers (webhooks, replication) never miss one."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from dockyard.events.types import Event
from dockyard.meta.base import Transaction

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]
TransactionalHandler = Callable[[Transaction, Event], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        self._in_transaction: list[TransactionalHandler] = []

    def subscribe(self, event_type: type, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def subscribe_in_transaction(self, handler: TransactionalHandler) -> None:
        """`handler` runs inside the publishing transaction and commits or rolls back with it
        (the audit log); it must be quick and must not fail on good data."""
        self._in_transaction.append(handler)

    async def publish(self, tx: Transaction, event: Event) -> None:
        await tx.outbox.add(type(event).__name__, _payload(event))
        for handler in self._in_transaction:
            await handler(tx, event)
        tx.after_commit.append(lambda: self._dispatch(event))

    def notify(self, event: Event) -> None:
        """Tell in-process subscribers at once, with no outbox row and no transaction: for
        frequent, non-durable events (a pull) whose consumers aggregate in memory."""
        self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        for handler in self._handlers.get(type(event), []):
            try:
                handler(event)
            except Exception:  # a subscriber's bug must not fail the request that committed
                log.exception("event handler %r failed on %s", handler, type(event).__name__)


def _payload(event: Event) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(event).items()}
