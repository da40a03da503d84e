"""`dockyard` commands."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard import __version__
from dockyard.cli import (
    auth,
    commands_access,
    commands_audit,
    commands_login,
    commands_projects,
    commands_registry,
    commands_scan,
    commands_users,
    commands_vulndb,
    db,
)
from dockyard.cli.options import load_or_exit

# No local variables in tracebacks: they would show passwords and tokens.
app = typer.Typer(
    help="Dockyard: an OCI container registry.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(auth.app, name="auth")
app.add_typer(commands_vulndb.app, name="vulndb")

# Remote commands: they talk to a running registry through its management API (docs/cli.md).
app.command("login")(commands_login.login)
app.command("logout")(commands_login.logout)
app.add_typer(commands_projects.app, name="project")
app.add_typer(commands_registry.repo_app, name="repo")
app.add_typer(commands_registry.tag_app, name="tag")
app.add_typer(commands_users.user_app, name="user")
app.add_typer(commands_users.group_app, name="group")
app.add_typer(commands_access.robot_app, name="robot")
app.add_typer(commands_access.token_app, name="token")
app.add_typer(commands_access.role_app, name="role")
app.add_typer(commands_audit.app, name="audit")
for _command in (commands_scan.scan, commands_scan.vulns, commands_scan.sbom):
    app.command()(_command)


@app.callback()
def main() -> None:
    """Dockyard: an OCI container registry."""


@app.command("migrate")
def migrate(
    to: Annotated[Path, typer.Option(help="settings file of the target deployment")],
    config: Annotated[Path | None, typer.Option(help="settings of the source")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="source data directory")] = None,
) -> None:
    """Copy every blob, repository, manifest and tag to the deployment `--to` describes."""
    # Imported here: the whole server stack loads in ~2 s, which every remote command
    # (`dockyard project list`, …) would otherwise pay on each run.
    from dockyard.cli.migrate import migrate as run

    run(to, config, data_dir)


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
