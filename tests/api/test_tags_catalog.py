"""Tag lists and the catalog: lexical order, `n`/`last` paging and the `Link` header."""

from __future__ import annotations

import re

import httpx
from starlette.testclient import TestClient

from tests.api.helpers import OCI_MANIFEST, assert_error, push_blob, push_image, put_manifest

TAGS = ["v1", "b", "a", "B", "10", "9", "a-1", "a_1", "_z", "Z"]
LINK = re.compile(r'^<([^>]+)>; rel="next"$')


def next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = LINK.match(link)
    assert match, link
    return match.group(1)


def tag_all(client: TestClient, repo: str, tags: list[str]) -> None:
    body, _ = push_image(client, repo, tags[0])
    for tag in tags[1:]:
        assert put_manifest(client, repo, tag, body, OCI_MANIFEST).status_code == 201


def follow(client: TestClient, url: str, key: str) -> list[list[str]]:
    pages = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        pages.append(response.json()[key])
        next_url = next_link(response)
        assert len(pages) < 50, "paging does not end"
    return pages


def test_tags_are_listed_in_lexical_order(client: TestClient) -> None:
    tag_all(client, "team/app", TAGS)
    response = client.get("/v2/team/app/tags/list")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"name": "team/app", "tags": sorted(TAGS)}
    assert "link" not in response.headers


def test_tags_page_with_n_and_link(client: TestClient) -> None:
    tag_all(client, "app", TAGS)
    first = client.get("/v2/app/tags/list?n=3")
    assert first.json()["tags"] == sorted(TAGS)[:3]
    assert next_link(first) == f"/v2/app/tags/list?n=3&last={sorted(TAGS)[2]}"
    pages = follow(client, "/v2/app/tags/list?n=3", "tags")
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    assert [tag for page in pages for tag in page] == sorted(TAGS)


def test_tags_with_last(client: TestClient) -> None:
    tag_all(client, "app", TAGS)
    ordered = sorted(TAGS)
    after = client.get(f"/v2/app/tags/list?last={ordered[4]}")
    assert after.json()["tags"] == ordered[5:]
    assert "link" not in after.headers
    page = client.get(f"/v2/app/tags/list?n=2&last={ordered[4]}")
    assert page.json()["tags"] == ordered[5:7]
    # `last` need not be a tag that exists: the list resumes after where it would sort.
    assert client.get("/v2/app/tags/list?last=a0").json()["tags"] == [
        t for t in ordered if t > "a0"
    ]
    assert client.get(f"/v2/app/tags/list?last={ordered[-1]}").json()["tags"] == []


def test_tags_n_at_the_edges(client: TestClient) -> None:
    tag_all(client, "app", TAGS)
    for n in (0, len(TAGS), len(TAGS) + 1):
        response = client.get(f"/v2/app/tags/list?n={n}")
        assert response.status_code == 200
        assert response.json() == {"name": "app", "tags": sorted(TAGS)[:n]}
        assert "link" not in response.headers, n


def test_invalid_n_is_400(client: TestClient) -> None:
    push_image(client, "app", "v1")
    for n in ["abc", "-1", "1.5", "0x10"]:
        assert_error(client.get(f"/v2/app/tags/list?n={n}"), 400, "PAGINATION_NUMBER_INVALID")
        assert_error(client.get(f"/v2/_catalog?n={n}"), 400, "PAGINATION_NUMBER_INVALID")


def test_tags_of_an_unknown_repository_is_404_name_unknown(client: TestClient) -> None:
    push_image(client, "team/app", "v1")
    for name in ["nowhere", "team", "team/app/sub"]:
        assert_error(client.get(f"/v2/{name}/tags/list"), 404, "NAME_UNKNOWN")


def test_repository_without_tags_lists_none(client: TestClient) -> None:
    push_blob(client, "app", b"just a blob")
    assert client.get("/v2/app/tags/list").json() == {"name": "app", "tags": []}


def test_catalog_lists_repositories_in_lexical_order_and_pages(client: TestClient) -> None:
    repos = ["b/app", "a", "a/b", "a-b", "a.b", "z9", "a_b", "0"]
    for repo in repos:
        push_image(client, repo, "v1")
    assert client.get("/v2/_catalog").json() == {"repositories": sorted(repos)}
    first = client.get("/v2/_catalog?n=3")
    assert first.json() == {"repositories": sorted(repos)[:3]}
    assert next_link(first) == f"/v2/_catalog?n=3&last={sorted(repos)[2]}"
    pages = follow(client, "/v2/_catalog?n=3", "repositories")
    assert [repo for page in pages for repo in page] == sorted(repos)
    assert [len(page) for page in pages] == [3, 3, 2]
    empty = client.get("/v2/_catalog?n=0")
    assert empty.json() == {"repositories": []}
    assert "link" not in empty.headers
    after = client.get("/v2/_catalog?last=a/b")
    assert after.json()["repositories"] == [r for r in sorted(repos) if r > "a/b"]


def test_empty_catalog(client: TestClient) -> None:
    response = client.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": []}
