"""What the remote commands print: rich tables for people (sizes like `1.5 MiB`, times like
`3 hours ago`) and, with `--output json`, exactly the JSON the management API answered. Results go
to stdout; notes ("no projects", "showing the first 100") go to stderr, so a pipe sees data only.

Times given by people (`--since 2h`, `--until 2024-05-01`) are read here too."""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dockyard.sizes import format_size


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    Output,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="table for people; json for scripts (the management API's JSON, unchanged)",
    ),
]


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


def note(message: str) -> None:
    """A remark for the person at the terminal, not part of the result."""
    console(stderr=True).print(Text(message))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def emit(output: Output, data: Any, render: Callable[[Any], None]) -> None:
    if output is Output.JSON:
        print_json(data)
    else:
        render(data)


Cell = str | Text


def table(columns: Sequence[str], rows: Iterable[Sequence[Cell]], empty: str) -> None:
    """A table, or `empty` on stderr when there is nothing to show. Cells are plain text: a
    `[red]` in a description is printed, not interpreted."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)
    for name in columns:
        grid.add_column(name, overflow="fold")
    count = 0
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
        count += 1
    if count:
        console().print(grid)
    else:
        note(empty)


def details(pairs: Iterable[tuple[str, Cell]]) -> None:
    """One object as `field  value` lines."""
    grid = Table(box=None, show_header=False, pad_edge=False)
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(Text(name), value if isinstance(value, Text) else Text(value))
    console().print(grid)


def yes_no(value: object) -> str:
    return "yes" if value else "no"


# --- sizes and times for people ----------------------------------------------------------------


def human_size(size: float | None) -> str:
    return format_size(size)


def ago(moment: float | None, none: str = "never", now: float | None = None) -> str:
    """`3 minutes ago`, `in 2 days`, `just now`; `none` when there is no time."""
    if moment is None:
        return none
    delta = (time.time() if now is None else now) - moment
    seconds = abs(delta)
    if seconds < 45:
        return "just now"
    if seconds < 90 * 60:
        count, unit = round(seconds / 60), "minute"
    elif seconds < 36 * 3600:
        count, unit = round(seconds / 3600), "hour"
    elif seconds < 45 * 86400:
        count, unit = round(seconds / 86400), "day"
    elif seconds < 365 * 86400:
        count, unit = round(seconds / (30 * 86400)), "month"
    else:
        count, unit = round(seconds / (365 * 86400)), "year"
    words = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{words} ago" if delta > 0 else f"in {words}"


def stamp(moment: float | None) -> str:
    """Local date and time to the second, for logs where the exact moment matters."""
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M:%S")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, option: str, now: float | None = None) -> float:
    """Seconds since the epoch from `1714560000`, `2024-05-01`, `2024-05-01T12:00`,
    `2024-05-01T12:00:00Z`, `now`, or a time ago: `30m`, `2h`, `7d`, `2w`."""
    now = time.time() if now is None else now
    value = text.strip().lower()
    if value == "now":
        return now
    if match := _DURATION.fullmatch(value):
        return now - float(match[1]) * _SECONDS[match[2]]
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a time: give a date (2024-05-01), a date and time "
            "(2024-05-01T12:00), seconds since the epoch, or a time ago (30m, 2h, 7d)",
            param_hint=option,
        ) from None
