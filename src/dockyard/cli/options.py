"""Settings loading shared by the commands, with errors a person can act on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from dockyard.settings import Settings


def load_or_exit(config: Path | None, data_dir: Path | None, **overrides: Any) -> Settings:
    # Imported here: settings pull in every identity source (SAML alone takes a second), which
    # the remote commands (`dockyard login`, `dockyard project list`, …) never need.
    from dockyard.settings import load_settings

    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        return load_settings(config, **overrides)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
