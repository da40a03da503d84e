"""`dockyard` commands."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard import __version__
from dockyard.cli import auth, db
from dockyard.cli.migrate import migrate
from dockyard.cli.options import load_or_exit

app = typer.Typer(help="Dockyard: an OCI container registry.", no_args_is_help=True)
app.add_typer(db.app, name="db")
app.add_typer(auth.app, name="auth")
app.command("migrate")(migrate)


@app.callback()
def main() -> None:
    """Dockyard: an OCI container registry."""


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="where blobs and metadata live")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML settings file")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Run the registry (filesystem blobs and SQLite metadata unless configured otherwise)."""
    from dockyard.cli.server import check_schema, run_server

    overrides: dict[str, Any] = {}
    server = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v}
    if server:
        overrides["server"] = server
    settings = load_or_exit(config, data_dir, **overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    check_schema(settings)
    os.environ["DOCKYARD_SETTINGS_JSON"] = json.dumps(settings.model_dump(mode="json"))
    run_server(settings)


if __name__ == "__main__":
    app()
