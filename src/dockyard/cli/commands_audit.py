"""`dockyard audit list` and `dockyard audit export`: who did what, newest first."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dockyard.cli.output import Output, OutputOption, console, emit, note, parse_time, stamp, table
from dockyard.cli.remote import (
    InsecureOption,
    RegistryOption,
    collect,
    connect,
    fail,
    more_note,
)

app = typer.Typer(help="The audit log: logins, changes, refusals.", no_args_is_help=True)

Actor = Annotated[str | None, typer.Option("--actor", help="who (a user or robot name)")]
Action = Annotated[
    str | None,
    typer.Option("--action", help="e.g. user.create, or every login with 'login.' (a prefix)"),
]
Outcome = Annotated[str | None, typer.Option("--outcome", help="ok, failed, denied, …")]
Target = Annotated[str | None, typer.Option("--target", help="targets starting with this")]
Since = Annotated[
    str | None, typer.Option("--since", help="2024-05-01, 2024-05-01T12:00, or ago: 30m, 2h, 7d")
]
Until = Annotated[str | None, typer.Option("--until", help="same forms as --since")]
Project = Annotated[
    str | None, typer.Option("--project", "-p", help="one project's log (needs read-audit)")
]


def _filters(
    actor: str | None,
    action: str | None,
    outcome: str | None,
    target: str | None,
    since: str | None,
    until: str | None,
    project: str | None,
) -> dict[str, Any]:
    return {
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "target": target,
        "since": parse_time(since, "--since") if since else None,
        "until": parse_time(until, "--until") if until else None,
        "project": project,
    }


def _detail(entry: dict[str, Any]) -> str:
    detail = entry.get("detail") or {}
    return (
        ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in detail.items())
        or "-"
    )


def _render(data: dict[str, Any]) -> None:
    rows = (
        [
            stamp(e.get("at")),
            e.get("actor") or "-",
            e.get("action") or "-",
            e.get("outcome") or "-",
            e.get("target") or "-",
            _detail(e),
        ]
        for e in data["entries"]
    )
    table(["TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "DETAIL"], rows, "no audit entries")


@app.command("list")
def list_entries(
    actor: Actor = None,
    action: Action = None,
    outcome: Outcome = None,
    target: Target = None,
    since: Since = None,
    until: Until = None,
    project: Project = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="show at most this many")] = 50,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Audit entries, newest first."""
    params = _filters(actor, action, outcome, target, since, until, project)
    with connect(registry, insecure) as api:
        data, more = collect(api, "/audit", "entries", limit, params, ("before", "id"))
    emit(output, data, _render)
    more_note(output, more, limit)


@contextlib.contextmanager
def _destination(path: Path | None) -> Iterator[IO[str]]:
    """stdout, or `path` written whole or not at all (a `.part` file renamed at the end)."""
    if path is None:
        yield sys.stdout
        return
    partial = path.with_name(f"{path.name}.part")
    try:
        with partial.open("w", encoding="utf-8") as file:
            yield file
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _progress(visible: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("exporting the audit log: {task.completed:,} entries"),
        TimeElapsedColumn(),
        console=console(stderr=True),
        disable=not visible,
        transient=True,
    )


@app.command("export")
def export(
    output: Annotated[
        Path | None,
        typer.Option("--output", help="write to this file (default: stdout)", dir_okay=False),
    ] = None,
    actor: Actor = None,
    action: Action = None,
    outcome: Outcome = None,
    target: Target = None,
    since: Since = None,
    until: Until = None,
    project: Project = None,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Every matching audit entry as JSON lines, newest first.

    Streamed from the registry as it reads them; a progress bar counts them on a terminal."""
    params = _filters(actor, action, outcome, target, since, until, project)
    to_terminal = output is None and sys.stdout.isatty()
    count = 0
    with (
        connect(registry, insecure) as api,
        api.stream("/audit/export", params) as lines,
        _progress(sys.stderr.isatty() and not to_terminal) as progress,
    ):
        task = progress.add_task("export", total=None)
        try:
            with _destination(output) as sink:
                for line in lines:
                    json.loads(line)  # the registry sent whole entries: a cut line is an error
                    sink.write(line + "\n")
                    count += 1
                    progress.advance(task)
        except ValueError:
            fail(f"the registry sent something that is not JSON lines after {count} entries")
        except BrokenPipeError:
            # The reader went away (`… | head`): stop quietly, as other Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        except OSError as exc:
            fail(f"cannot write {output or 'to stdout'}: {exc.strerror}")
    note(f"Exported {count:,} audit entries{f' to {output}' if output else ''}.")
