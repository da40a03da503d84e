"""Docker token auth scopes as clients send them."""

from __future__ import annotations

import pytest

from dockyard.auth.scopes import Scope, parse_scope, parse_scopes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repository:team-a/app:pull", Scope("repository", "team-a/app", ("pull",))),
        (
            "repository:team-a/api/server:pull,push",
            Scope("repository", "team-a/api/server", ("pull", "push")),
        ),
        ("repository:alpine:*", Scope("repository", "alpine", ("*",))),
        ("repository:alpine:delete", Scope("repository", "alpine", ("delete",))),
        ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
        # docker's plugin scopes carry a class: still a repository
        ("repository(plugin):team-a/p:pull", Scope("repository", "team-a/p", ("pull",))),
        ("repository:alpine:pull,,push,", Scope("repository", "alpine", ("pull", "push"))),
        ("repository:alpine:", Scope("repository", "alpine", ())),
    ],
)
def test_parse(text: str, expected: Scope) -> None:
    assert parse_scope(text) == expected


@pytest.mark.parametrize(
    "text", ["", "repository", "repository:alpine", "repository::pull", ":alpine:pull"]
)
def test_unparseable_scopes_are_none(text: str) -> None:
    assert parse_scope(text) is None


def test_round_trip_through_str() -> None:
    text = "repository:team-a/app:pull,push"
    scope = parse_scope(text)
    assert scope is not None and str(scope) == text


def test_parse_scopes_from_query_parameters_and_the_oauth_form() -> None:
    # GET /token repeats `scope`; the OAuth2 POST form separates them by spaces
    query = ["repository:a:pull", "repository:b:push"]
    form = ["repository:a:pull  repository:b:push\tbad"]
    expected = [Scope("repository", "a", ("pull",)), Scope("repository", "b", ("push",))]
    assert parse_scopes(query) == expected
    assert parse_scopes(form) == expected
    assert parse_scopes([]) == []
    assert parse_scopes([""]) == []
