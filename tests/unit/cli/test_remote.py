"""Lists fetched page by page, as much as asked for and no more."""

from __future__ import annotations

import httpx

from dockyard.cli.client import Api
from dockyard.cli.remote import collect

NAMES = [f"p{n:04d}" for n in range(2500)]


def paged_api(requests: list[dict[str, str]]) -> Api:
    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        requests.append(params)
        after = params.get("last")
        start = NAMES.index(after) + 1 if after else 0
        page = NAMES[start : start + int(params["limit"])]
        return httpx.Response(200, json={"projects": [{"name": n} for n in page]})

    return Api("https://r.test", None, transport=httpx.MockTransport(handler))


def test_collect_pages_through_with_the_cursor() -> None:
    requests: list[dict[str, str]] = []
    data, more = collect(paged_api(requests), "/projects", "projects", 2100)

    assert [p["name"] for p in data["projects"]] == NAMES[:2100]
    assert more
    assert [r["limit"] for r in requests] == ["1000", "1000", "101"]
    assert [r.get("last") for r in requests] == [None, "p0999", "p1999"]


def test_collect_says_when_nothing_more_remains() -> None:
    requests: list[dict[str, str]] = []
    data, more = collect(paged_api(requests), "/projects", "projects", 5000)
    assert len(data["projects"]) == 2500 and not more

    data, more = collect(paged_api(requests), "/projects", "projects", 2500)
    assert len(data["projects"]) == 2500 and not more


def next_last_api(requests: list[dict[str, str]]) -> Api:
    """A list that answers `next_last`, an opaque cursor, as the repository listings do."""

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        requests.append(params)
        start = int(params["last"].removeprefix("c")) if "last" in params else 0
        end = start + int(params["limit"])
        page = [{"name": n} for n in NAMES[start:end]]
        next_last = f"c{end}" if end < len(NAMES) else None
        return httpx.Response(200, json={"repositories": page, "next_last": next_last})

    return Api("https://r.test", None, transport=httpx.MockTransport(handler))


def test_collect_follows_next_last_and_keeps_it() -> None:
    requests: list[dict[str, str]] = []
    data, more = collect(next_last_api(requests), "/r", "repositories", 1500, cursor=None)

    assert [r["name"] for r in data["repositories"]] == NAMES[:1500]
    assert data["next_last"] == "c1500" and more
    assert [(r["limit"], r.get("last")) for r in requests] == [("1000", None), ("500", "c1000")]

    data, more = collect(next_last_api([]), "/r", "repositories", 9999, cursor=None)
    assert len(data["repositories"]) == 2500
    assert data["next_last"] is None and not more
