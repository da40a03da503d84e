"""Who sees and deletes what through the management API: the registry's policy, with private
things answered 404 (not 403) to those who may not see them, and deletes that behave like the
registry API's."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.api.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    index_manifest,
    push_children,
    push_image,
    put_manifest,
    sha256,
)
from tests.api.registry_helpers import add_user, grant, problem, project, push_referrer, user

V1 = "/api/v1"


def _repos(client: TestClient, project_name: str, **options) -> list[str]:
    response = client.get(f"{V1}/projects/{project_name}/repositories", **options)
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()["repositories"]]


def test_reading_follows_the_pull_policy(client: TestClient) -> None:
    project(client, "team")
    project(client, "pub", public=True)
    for repo in ("team/app-api", "team/app-web", "team/secret", "pub/tool"):
        push_image(client, repo, "latest", seed=repo)
    add_user(client, "dev", "team", "developer")
    add_user(client, "stranger")
    add_user(client, "scoped")
    grant(client, "team", "scoped", "limited-guest", "team/app-*")

    assert _repos(client, "team", auth=user("dev")) == [
        "team/app-api",
        "team/app-web",
        "team/secret",
    ]
    assert _repos(client, "team", auth=user("scoped")) == ["team/app-api", "team/app-web"]
    page = client.get(f"{V1}/projects/team/repositories", params={"limit": 1}, auth=user("scoped"))
    assert page.json()["next_last"] == "team/app-api"
    assert _repos(client, "pub", auth=None) == ["pub/tool"]
    assert _repos(client, "pub", auth=user("stranger")) == ["pub/tool"]
    for who in (None, user("stranger")):
        problem(client.get(f"{V1}/projects/team/repositories", auth=who), 404)
        for path in ("", "/artifacts", "/tags", "/artifacts/latest"):
            problem(client.get(f"{V1}/repositories/team/secret{path}", auth=who), 404)
    problem(client.get(f"{V1}/repositories/team/secret", auth=user("scoped")), 404)
    assert client.get(f"{V1}/repositories/team/app-web/tags", auth=user("scoped")).is_success
    detail = client.get(f"{V1}/repositories/pub/tool/artifacts/latest", auth=None)
    assert detail.status_code == 200 and detail.json()["summary"]["tags"] == ["latest"]
    # A layer shared with a repository the reader may not pull is counted, but not named.
    shared = client.get(f"{V1}/repositories/team/app-api/artifacts/latest", auth=user("scoped"))
    push_image(client, "team/secret", "copy", seed="team/app-api")
    shared = client.get(f"{V1}/repositories/team/app-api/artifacts/latest", auth=user("scoped"))
    assert [(x["shared_count"], x["shared_with"]) for x in shared.json()["layers"]] == [(1, [])]
    problem(client.get(f"{V1}/statistics", auth=None), 401)
    problem(client.get(f"{V1}/system/info", auth=None), 401)


def test_statistics_of_a_non_admin_cover_what_they_may_pull(client: TestClient) -> None:
    project(client, "team")
    project(client, "other")
    push_image(client, "team/app", "latest", seed="a")
    push_image(client, "other/app", "latest", seed="b")
    add_user(client, "dev", "team", "developer")
    add_user(client, "scoped")
    grant(client, "other", "scoped", "guest", "other/app*")
    mine = client.get(f"{V1}/statistics", auth=user("dev")).json()
    assert (mine["scope"], mine["users"], mine["projects"], mine["repositories"]) == (
        "visible",
        None,
        1,
        1,
    )
    assert all(e["target"].startswith("team") for e in mine["recent"])
    # A grant on some repositories of a project is no window on the whole project's numbers.
    theirs = client.get(f"{V1}/statistics", auth=user("scoped")).json()
    assert (theirs["repositories"], theirs["storage_bytes"], theirs["recent"]) == (0, 0, [])
    everything = client.get(f"{V1}/statistics").json()
    assert (everything["scope"], everything["repositories"], everything["users"]) == (
        "registry",
        2,
        3,
    )


def test_deleting_needs_the_delete_actions(client: TestClient) -> None:
    project(client, "team")
    push_image(client, "team/app", "v1")
    add_user(client, "dev", "team", "developer")  # may delete tags, not artifacts
    add_user(client, "guest", "team", "guest")
    add_user(client, "stranger")
    digest = client.get(f"{V1}/repositories/team/app/tags").json()["tags"][0]["digest"]
    problem(client.delete(f"{V1}/repositories/team/app", auth=None), 401)
    problem(client.delete(f"{V1}/repositories/team/app", auth=user("stranger")), 404)
    problem(client.delete(f"{V1}/repositories/team/app/tags/v1", auth=user("guest")), 403)
    problem(client.delete(f"{V1}/repositories/team/app", auth=user("dev")), 403)
    problem(client.delete(f"{V1}/repositories/team/app/artifacts/{digest}", auth=user("dev")), 403)
    assert client.delete(f"{V1}/repositories/team/app/tags/v1", auth=user("dev")).status_code == 204
    problem(client.delete(f"{V1}/repositories/team/app/tags/v1", auth=user("dev")), 404)
    assert client.get(f"{V1}/repositories/team/app/artifacts/{digest}").status_code == 200
    problem(client.delete(f"{V1}/repositories/team/app/tags/{digest}"), 422)  # not a tag
    problem(client.delete(f"{V1}/repositories/team/app/artifacts/latest"), 422)


def test_deleting_an_artifact_takes_its_tags_and_referrers_not_what_an_index_uses(
    client: TestClient,
) -> None:
    image, digest = push_image(client, "team/app", "v1")
    put_manifest(client, "team/app", "v1-again", image, OCI_MANIFEST)
    signature = push_referrer(client, "team/app", image, "application/vnd.cncf.notary.signature")
    children = push_children(client, "team/app", OCI_MANIFEST)
    index = index_manifest(children)
    put_manifest(client, "team/app", "multi", index, OCI_INDEX)
    child = sha256(children[0][1])
    conflict = problem(client.delete(f"{V1}/repositories/team/app/artifacts/{child}"), 409)
    assert sha256(index) in conflict["detail"]

    response = client.delete(f"{V1}/repositories/team/app/artifacts/{digest}")
    assert response.status_code == 200, response.text
    assert response.json()["deleted"] == [signature, digest]
    for gone in (digest, signature):
        assert client.get(f"/v2/team/app/manifests/{gone}").status_code == 404
    tags = [t["name"] for t in client.get(f"{V1}/repositories/team/app/tags").json()["tags"]]
    assert tags == ["multi"]
    deleted = client.delete(f"{V1}/repositories/team/app/artifacts/{sha256(index)}")
    assert deleted.json()["deleted"] == [sha256(index)]
    assert client.delete(f"{V1}/repositories/team/app/artifacts/{child}").status_code == 200
    audit = client.get(f"{V1}/audit", params={"action": "delete"}).json()["entries"]
    assert {e["target"] for e in audit} >= {f"team/app@{digest}", f"team/app@{signature}"}


def test_deleting_a_repository_keeps_what_another_repository_shares(client: TestClient) -> None:
    project(client, "team")
    _, digest = push_image(client, "team/app", "v1", seed="same")
    push_image(client, "team/copy", "v1", seed="same")  # the same config and layer
    layer = client.get(f"{V1}/repositories/team/app/artifacts/v1").json()["layers"][0]["digest"]

    response = client.delete(f"{V1}/repositories/team/app")
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "team/app", "deleted_artifacts": 1}
    problem(client.get(f"{V1}/repositories/team/app"), 404)
    assert client.get(f"/v2/team/app/manifests/{digest}").status_code == 404
    assert client.get(f"/v2/team/app/blobs/{layer}").status_code == 404
    assert client.get(f"/v2/team/copy/blobs/{layer}").content == b"layer of same" * 10
    assert _repos(client, "team") == ["team/copy"]
    actions = {e["action"] for e in client.get(f"{V1}/audit").json()["entries"]}
    assert {"delete", "blob-delete", "repository.delete"} <= actions
    # The project can be deleted once its repositories are.
    assert client.delete(f"{V1}/repositories/team/copy").status_code == 200
    assert client.delete(f"{V1}/projects/team").status_code == 204
