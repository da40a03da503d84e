"""`dockyard auth …`: operator commands that work on the database directly (no server needed),
for recovery and key management."""

from __future__ import annotations

import asyncio
import getpass
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from dockyard.cli.options import load_or_exit

if TYPE_CHECKING:
    from dockyard.meta.auth_records import AuditRecord
    from dockyard.meta.sql import SqlMetadataStore
    from dockyard.settings import Settings

app = typer.Typer(help="Access control: signing keys, password recovery.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option(help="YAML settings file")]
DataDirOption = Annotated[Path | None, typer.Option(help="data directory (embedded SQLite)")]
T = TypeVar("T")


def _with_store(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    from dockyard.app import build_metadata

    async def run() -> T:
        store = build_metadata(settings)
        try:
            await store.open(auto_upgrade=False)
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


CLI_RESET = "dockyard auth reset-password"


def _entry(action: str, target: str, detail: dict[str, str]) -> AuditRecord:
    """An operator's change on the database itself: the actor is the system."""
    from dockyard.meta.auth_records import AuditRecord

    return AuditRecord(time.time(), "system", "system", action, "ok", target, None, detail)


async def _audit(store: SqlMetadataStore, action: str, target: str, detail: dict[str, str]) -> None:
    async with store.transaction() as tx:
        await tx.audit.add(_entry(action, target, detail))


@app.command("rotate-keys")
def rotate_keys(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Start signing registry tokens with a new key. Tokens signed with the old key stay valid
    until they expire; every replica picks the new key up within a minute."""
    from dockyard.auth.tokens import TokenService

    settings = load_or_exit(config, data_dir)
    auth = settings.auth

    async def work(store: SqlMetadataStore) -> str:
        tokens = TokenService(
            store,
            auth.issuer,
            auth.service,
            auth.token_ttl_seconds,
            auth.refresh_token_ttl_seconds,
        )
        kid = await tokens.rotate()
        await _audit(store, "keys.rotate", kid, {"via": "dockyard auth rotate-keys"})
        return kid

    typer.echo(f"registry tokens are now signed with key {_with_store(settings, work)}")


@app.command("reset-password")
def reset_password(
    username: str, config: ConfigOption = None, data_dir: DataDirOption = None
) -> None:
    """Set a local user's password (asked for twice, never echoed), e.g. a lost admin's."""
    from dockyard.app import build_passwords
    from dockyard.auth.manage_users import MIN_PASSWORD

    settings = load_or_exit(config, data_dir)
    password = getpass.getpass(f"new password for {username}: ")
    if password != getpass.getpass("again: "):
        typer.echo("the passwords differ; nothing changed", err=True)
        raise typer.Exit(1)
    if len(password) < MIN_PASSWORD:
        typer.echo(f"a password needs at least {MIN_PASSWORD} characters", err=True)
        raise typer.Exit(1)

    async def work(store: SqlMetadataStore) -> bool:
        password_hash = await build_passwords(settings).hash(password)
        async with store.transaction() as tx:
            user = await tx.identities.user(username)
            if user is None or user.source != "local":
                return False
            await tx.identities.update_user(username, password_hash=password_hash, disabled=False)
            await tx.audit.add(_entry("user.password", username, {"via": CLI_RESET}))
            return True

    if not _with_store(settings, work):
        typer.echo(f"no local user {username!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"password of {username} changed; their sessions and refresh tokens ended")
