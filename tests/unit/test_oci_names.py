"""Repository names and tags against the OCI Distribution Spec's grammar."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.oci.names import MAX_NAME_LENGTH, InvalidName, InvalidTag, validate_name, validate_tag

# The spec's own expressions, to check the implementation against.
SPEC_NAME = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
SPEC_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")

VALID_NAMES = [
    "a",
    "0",
    "library/ubuntu",
    "a/b/c/d/e",
    "a.b",
    "a_b",
    "a__b",
    "a-b",
    "a---b",
    "a1.b2_c3__d4-e5",
    "a" * MAX_NAME_LENGTH,
]
INVALID_NAMES = [
    "",
    "A",
    "library/Ubuntu",
    "/a",
    "a/",
    "a//b",
    "a/../b",
    "..",
    ".",
    "-a",
    "a-",
    "_a",
    "a___b",
    "a..b",
    "a._b",
    "a b",
    "a\n",
    "a\nb",
    "a:b",
    "a@b",
    "é",
    "a" * (MAX_NAME_LENGTH + 1),
]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_name(name)


@pytest.mark.parametrize("tag", ["a", "_", "A", "v1.0.0-rc.1", "latest", "X" * 128, "0_-."])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag", ["", "-a", ".a", "a" * 129, "a b", "a/b", "a:b", "a+b", "v1\n", "v1\r", "é"]
)
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(InvalidTag):
        validate_tag(tag)


_NAME_CHARS = st.text(alphabet="ab0._-/A\n", max_size=20)


@given(_NAME_CHARS)
def test_names_agree_with_the_spec_expression(name: str) -> None:
    expected = bool(SPEC_NAME.fullmatch(name)) and len(name) <= MAX_NAME_LENGTH
    try:
        validate_name(name)
        accepted = True
    except InvalidName:
        accepted = False
    assert accepted == expected


@given(st.text(alphabet="aZ9_.-+:/ \n", max_size=130))
def test_tags_agree_with_the_spec_expression(tag: str) -> None:
    try:
        validate_tag(tag)
        accepted = True
    except InvalidTag:
        accepted = False
    assert accepted == bool(SPEC_TAG.fullmatch(tag))
