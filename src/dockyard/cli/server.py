"""Run the ASGI app on granian: the one server here with zero-copy `pathsend` (DESIGN.md)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from granian import Granian
from granian.constants import Interfaces, Loops

from dockyard.jobs.shutdown import dump_stacks_on_sigusr1
from dockyard.settings import Settings

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logging_config() -> dict[str, Any]:
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": _FORMAT}},
        "handlers": {"stderr": handler},
        "loggers": {
            "dockyard": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "_granian": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }


def check_schema(settings: Settings) -> None:
    """Refuse to start (exit 2, saying what to run) on a schema this version cannot serve."""
    from dockyard.app import build_metadata
    from dockyard.meta.base import MetadataUnavailable
    from dockyard.meta.migrate import SchemaMismatch

    async def run() -> None:
        store = build_metadata(settings)
        try:
            await store.open(settings.database.auto_upgrade)
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except (SchemaMismatch, MetadataUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def run_server(settings: Settings) -> None:
    server = settings.server
    print(
        f"Dockyard listening on http://{server.host}:{server.port} "
        f"(data: {settings.data_dir.resolve()}, workers: {server.workers})",
        file=sys.stderr,
        flush=True,
    )
    dump_stacks_on_sigusr1()
    Granian(
        "dockyard.app:app_from_environment",
        factory=True,
        address=server.host,
        port=server.port,
        interface=Interfaces.ASGI,
        workers=server.workers,
        loop=Loops.uvloop,
        log_dictconfig=logging_config(),
        log_access=False,
        # Without it a slow client keeps a stopping worker (and so the server) alive forever.
        workers_kill_timeout=server.shutdown_timeout,
    ).serve()
