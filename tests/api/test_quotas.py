"""Project quotas: usage counts each blob once per project, a push past the quota is refused
with DENIED before anything is stored, and only system admins set the limit."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.api.helpers import (
    OCI_MANIFEST,
    assert_error,
    image_manifest,
    push_blob,
    put_manifest,
    sha256,
    stored_files,
    with_query,
)
from tests.api.manage_helpers import ADMIN, add_project, add_user, assert_problem, grant

V1 = "/api/v1"
CONFIG = b'{"architecture":"amd64","os":"linux"}'
SMALL = b"s" * 1000
BIG = b"b" * 5000


def set_quota(client: TestClient, project: str, quota: int | None) -> dict:
    response = client.patch(f"{V1}/projects/{project}", json={"quota_bytes": quota})
    assert response.status_code == 200, response.text
    return dict(response.json())


def usage(client: TestClient, project: str) -> int:
    return int(client.get(f"{V1}/projects/{project}").json()["usage_bytes"])


def test_usage_counts_each_blob_once_per_project(client: TestClient) -> None:
    add_project(client, "team")
    assert client.get(f"{V1}/projects/team").json() | {"created_at": 0} == {
        "name": "team",
        "public": False,
        "created_at": 0,
        "created_by": "admin",
        "quota_bytes": None,
        "usage_bytes": 0,
    }
    push_blob(client, "team/one", SMALL)
    push_blob(client, "team/one", CONFIG)
    push_blob(client, "team/two", SMALL)  # the same layer in another repository
    push_blob(client, "other/app", BIG)
    assert usage(client, "team") == len(SMALL) + len(CONFIG)
    listed = {p["name"]: p["usage_bytes"] for p in client.get(f"{V1}/projects").json()["projects"]}
    assert listed["team"] == len(SMALL) + len(CONFIG) and listed["other"] == len(BIG)


def test_a_blob_past_the_quota_is_refused_and_not_stored(client: TestClient) -> None:
    add_project(client, "team")
    quota = len(SMALL) + len(CONFIG) + 100
    assert set_quota(client, "team", quota)["quota_bytes"] == quota
    push_blob(client, "team/app", SMALL)
    push_blob(client, "team/app", CONFIG)
    before = stored_files(client)

    refused = client.post(f"/v2/team/app/blobs/uploads/?digest={sha256(BIG)}", content=BIG)
    error = assert_error(refused, 403, "DENIED")
    assert "quota" in error["message"] and "team" in error["message"]
    assert error["detail"] == {"project": "team", "used_bytes": quota - 100, "quota_bytes": quota}
    assert client.head(f"/v2/team/app/blobs/{sha256(BIG)}").status_code == 404
    assert stored_files(client) == before  # nothing half-written, no upload left over
    assert usage(client, "team") == quota - 100

    # A chunked upload is refused at its final PUT, and leaves nothing behind either.
    location = client.post("/v2/team/app/blobs/uploads/").headers["location"]
    assert client.patch(location, content=BIG).status_code == 202
    done = client.put(with_query(location, digest=sha256(BIG)))
    assert_error(done, 403, "DENIED")
    assert stored_files(client) == before

    # Within the quota, and what the project already holds, still go in.
    push_blob(client, "team/app", b"x" * 90)
    push_blob(client, "team/other", SMALL)  # already in the project: costs nothing
    push_blob(client, "team/other", CONFIG)
    body = image_manifest(CONFIG, [SMALL])
    assert put_manifest(client, "team/other", "v1", body, OCI_MANIFEST).status_code == 201


def test_a_mount_past_the_quota_is_refused(client: TestClient) -> None:
    add_project(client, "team")
    add_project(client, "source")
    push_blob(client, "source/app", BIG)
    set_quota(client, "team", len(BIG) - 1)
    mounted = client.post(
        f"/v2/team/app/blobs/uploads/?mount={sha256(BIG)}&from=source/app", content=b""
    )
    assert_error(mounted, 403, "DENIED")
    assert client.head(f"/v2/team/app/blobs/{sha256(BIG)}").status_code == 404
    set_quota(client, "team", len(BIG))
    mounted = client.post(
        f"/v2/team/app/blobs/uploads/?mount={sha256(BIG)}&from=source/app", content=b""
    )
    assert mounted.status_code == 201, mounted.text
    assert usage(client, "team") == len(BIG)


def test_lowering_or_removing_the_quota(client: TestClient) -> None:
    add_project(client, "team")
    push_blob(client, "team/app", BIG)
    set_quota(client, "team", 10)  # below what is used: nothing is deleted, nothing new goes in
    assert usage(client, "team") == len(BIG)
    assert_error(
        client.post(f"/v2/team/app/blobs/uploads/?digest={sha256(SMALL)}", content=SMALL),
        403,
        "DENIED",
    )
    assert set_quota(client, "team", None)["quota_bytes"] is None
    push_blob(client, "team/app", SMALL)


def test_only_system_admins_set_quotas(client: TestClient) -> None:
    add_project(client, "team")
    owner = add_user(client, "owner")
    grant(client, "team", "project-admin", user="owner")
    refused = client.patch(f"{V1}/projects/team", json={"quota_bytes": 10**12}, auth=owner)
    assert_problem(refused, 403)
    assert client.get(f"{V1}/projects/team").json()["quota_bytes"] is None
    # The project admin still changes the visibility; the admin's quota change is audited.
    public = client.patch(f"{V1}/projects/team", json={"public": True}, auth=owner)
    assert public.status_code == 200 and public.json()["public"] is True
    set_quota(client, "team", 2**30)
    entries = client.get(f"{V1}/audit", params={"action": "project.quota"}).json()["entries"]
    assert [(e["actor"], e["target"], e["detail"]) for e in entries] == [
        ("admin", "team", {"quota_bytes": 2**30})
    ]


def test_bad_quotas_are_refused(client: TestClient) -> None:
    add_project(client, "team")
    for body in ({"quota_bytes": -1}, {"quota_bytes": "10GiB"}, {"quota_bytes": 1.5}):
        assert_problem(client.patch(f"{V1}/projects/team", json=body, auth=ADMIN), 422)
    assert client.get(f"{V1}/projects/team").json()["quota_bytes"] is None
