"""Byte sizes as people read and write them: 1.5 GiB, 500MB, 10G."""

from __future__ import annotations

import re

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_FACTORS = {
    "": 1,
    "b": 1,
    **{u[0].lower(): 1024 ** (i + 1) for i, u in enumerate(_UNITS[1:])},
    **{f"{u[0].lower()}ib": 1024 ** (i + 1) for i, u in enumerate(_UNITS[1:])},
    **{f"{u[0].lower()}b": 1000 ** (i + 1) for i, u in enumerate(_UNITS[1:])},
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def format_size(size: float | None) -> str:
    """1536 → '1.5 KiB'; None → '-'."""
    if size is None:
        return "-"
    value, unit = float(size), 0
    while abs(value) >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{int(value)} B" if unit == 0 else f"{value:.1f} {_UNITS[unit]}"


def parse_size(text: str) -> int:
    """'10GiB', '10G' (binary), '500MB' (decimal), '1024' (bytes) → bytes; ValueError else."""
    match = _SIZE.fullmatch(text)
    factor = _FACTORS.get(match.group(2).lower()) if match else None
    if match is None or factor is None:
        raise ValueError(f"{text!r} is not a size (examples: 500MiB, 10GiB, 2TB, 1048576)")
    return int(float(match.group(1)) * factor)
