"""parse_range: the single byte range a blob GET serves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.api.blob_response import parse_range
from dockyard.errors import Code, RegistryError


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=0-0", (0, 0)),
        ("bytes=90-", (90, 99)),
        ("bytes=99-", (99, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-100", (0, 99)),
        ("bytes=-1000", (0, 99)),
        ("bytes=50-1000", (50, 99)),
        (" bytes=1-2 ", (1, 2)),
    ],
)
def test_satisfiable_ranges(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    "header", [None, "", "items=0-9", "bytes=0-1,3-4", "bytes=-", "bytes=abc", "bytes 0-9", "0-9"]
)
def test_ranges_to_ignore(header: str | None) -> None:
    assert parse_range(header, 100) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=150-200", 100),
        ("bytes=-0", 100),
        ("bytes=5-3", 100),
        ("bytes=0-", 0),
    ],
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_range(header, size)
    assert caught.value.code is Code.RANGE_INVALID
    assert caught.value.status == 416
    assert caught.value.headers == {"Content-Range": f"bytes */{size}"}


@given(
    size=st.integers(min_value=0, max_value=10**12),
    first=st.one_of(st.none(), st.integers(min_value=0, max_value=10**13)),
    last=st.one_of(st.none(), st.integers(min_value=0, max_value=10**13)),
)
def test_ranges_stay_inside_the_blob(size: int, first: int | None, last: int | None) -> None:
    header = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    try:
        result = parse_range(header, size)
    except RegistryError as exc:
        assert exc.status == 416
        return
    if result is None:
        assert first is None and last is None
        return
    start, end = result
    assert 0 <= start <= end < size
    if first is not None:
        assert start == first
