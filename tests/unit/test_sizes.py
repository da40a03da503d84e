from __future__ import annotations

import pytest

from dockyard.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("0", 0),
        ("10GiB", 10 * 2**30),
        ("10G", 10 * 2**30),
        ("10 gib", 10 * 2**30),
        ("500MB", 500 * 10**6),
        ("1.5KiB", 1536),
        ("2TB", 2 * 10**12),
        (" 3 MiB ", 3 * 2**20),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "10XB", "-5", "1e9", "GiB", "10 GiB extra"])
def test_parse_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("size", "text"),
    [(None, "-"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (10 * 2**30, "10.0 GiB")],
)
def test_format_size(size: int | None, text: str) -> None:
    assert format_size(size) == text
