"""Sizes and times for people, both ways."""

from __future__ import annotations

from datetime import datetime

import pytest
import typer

from dockyard.cli.output import ago, human_size, parse_time

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("size", "text"),
    [(None, "-"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")],
)
def test_human_size(size: int | None, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (10, "just now"),
        (60, "1 minute ago"),
        (45 * 60, "45 minutes ago"),
        (3 * 3600, "3 hours ago"),
        (2 * 86400, "2 days ago"),
        (90 * 86400, "3 months ago"),
        (800 * 86400, "2 years ago"),
        (-7 * 86400, "in 7 days"),
    ],
)
def test_ago(delta: float, text: str) -> None:
    assert ago(NOW - delta, now=NOW) == text


def test_ago_without_a_time() -> None:
    assert ago(None) == "never"
    assert ago(None, none="-") == "-"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("30m", NOW - 1800),
        ("2h", NOW - 7200),
        ("7d", NOW - 7 * 86400),
        ("1w", NOW - 7 * 86400),
        ("1714560000", 1714560000.0),
        ("2024-05-01", datetime(2024, 5, 1).timestamp()),
        ("2024-05-01T12:30", datetime(2024, 5, 1, 12, 30).timestamp()),
        ("2024-05-01T12:30:00Z", 1714566600.0),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text, "--since", now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "nan", "5 parsecs", ""])
def test_parse_time_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="is not a time"):
        parse_time(text, "--since", now=NOW)
