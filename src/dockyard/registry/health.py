"""Readiness: whether the metadata database and the blob storage both answer, promptly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

from dockyard.meta.base import MetadataStore, MetadataUnavailable
from dockyard.storage.base import PathNotFound, StorageDriver, StorageError
from dockyard.storage.layout import probe_path

PROBE_SECONDS = 5.0


async def readiness(store: MetadataStore, storage: StorageDriver) -> dict[str, str]:
    """Each backing service → "ok" or what is wrong with it."""
    return {
        "database": await _probe(_database(store)),
        "storage": await _probe(_storage(storage)),
    }


async def _database(store: MetadataStore) -> None:
    async with store.transaction(readonly=True) as tx:
        await tx.repos.exists("readyz")


async def _storage(storage: StorageDriver) -> None:
    with contextlib.suppress(PathNotFound):  # a "not found" is an answer
        await storage.stat(probe_path())


async def _probe(check: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(check, PROBE_SECONDS)
    except TimeoutError:
        return f"no answer within {PROBE_SECONDS:g} s"
    except (MetadataUnavailable, StorageError, OSError) as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"
