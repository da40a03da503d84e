"""Jinja filters: sizes, times, digests, as a person reads them."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from jinja2 import Environment

from dockyard.sizes import format_size


def size(value: Any) -> str:
    """1536 → '1.5 KiB'."""
    return format_size(None if value is None else float(value))


def when(value: Any) -> str:
    """Seconds since the epoch (or an ISO string) as 'YYYY-MM-DD HH:MM UTC'."""
    if value in (None, ""):
        return "-"
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        parsed = dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: Any) -> str:
    """Machine-readable, for <time datetime="…">."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        return value
    return dt.datetime.fromtimestamp(float(value), tz=dt.UTC).isoformat(timespec="seconds")


def ago(value: Any, now: float | None = None) -> str:
    """'3 minutes ago'; older than a week: the date."""
    if value in (None, ""):
        return "never"
    if isinstance(value, str):
        return when(value)
    seconds = (now or time.time()) - float(value)
    if seconds < 0:
        return when(value)
    for limit, unit, div in (
        (60, "second", 1),
        (3600, "minute", 60),
        (86400, "hour", 3600),
        (7 * 86400, "day", 86400),
    ):
        if seconds < limit:
            count = int(seconds // div)
            if unit == "second" and count < 10:
                return "just now"
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return when(value)[:10]


def short_digest(value: Any, length: int = 12) -> str:
    """'sha256:0123456789ab…' → '0123456789ab'."""
    if not value:
        return ""
    text = str(value)
    return text.split(":", 1)[-1][:length]


def short_target(value: Any) -> str:
    """'team/app@sha256:0123…' → 'team/app@sha256:0123456789ab…' (the full one in a title)."""
    if not value:
        return ""
    text = str(value)
    name, at, digest = text.partition("@")
    if at and ":" in digest and len(digest) > 30:
        algorithm, _, hex_part = digest.partition(":")
        return f"{name}@{algorithm}:{hex_part[:12]}…"
    return text


def number(value: Any) -> str:
    """12345 → '12,345'."""
    if value is None:
        return "-"
    return f"{int(value):,}"


def install(env: Environment) -> None:
    env.filters.update(
        size=size,
        when=when,
        iso=iso,
        ago=ago,
        short_digest=short_digest,
        short_target=short_target,
        number=number,
    )
