"""Registry statistics (deduplication, pulls and pushes per day), and the health endpoints."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings
from tests.api.helpers import push_blob, push_image
from tests.api.registry_helpers import flush_pulls, problem
from tests.conftest import PG_URL, admin_client
from tests.faults import TcpProxy

V1 = "/api/v1"


def test_statistics_show_what_deduplication_saves(client: TestClient) -> None:
    shared = b"a base layer both images use " * 100
    for repo in ("team/one", "team/two"):
        push_blob(client, repo, shared)
    push_image(client, "team/one", "v1", seed="one")
    push_image(client, "team/two", "v1", seed="two")
    stats = client.get(f"{V1}/statistics").json()
    assert stats["logical_bytes"] - stats["storage_bytes"] == len(shared)
    assert stats["saved_bytes"] == len(shared)
    assert (stats["projects"], stats["repositories"], stats["artifacts"], stats["tags"]) == (
        1,
        2,
        2,
        2,
    )
    assert stats["users"] == 1


def test_pulls_and_pushes_are_counted_per_day(client: TestClient) -> None:
    _, digest = push_image(client, "team/app", "v1")
    push_image(client, "team/other", "v1", seed="other")
    for _ in range(3):
        assert client.get("/v2/team/app/manifests/v1").status_code == 200
    client.get(f"/v2/team/app/manifests/{digest}")
    client.head("/v2/team/app/manifests/v1")
    client.get("/v2/team/app/manifests/nope")
    assert client.app.state.usage.pending == 4
    # Nothing is written per pull: the counts reach the database with the next flush.
    assert client.get(f"{V1}/repositories/team/app").json()["pulls"] == 0
    assert flush_pulls(client) == 4
    assert flush_pulls(client) == 0
    repo = client.get(f"{V1}/repositories/team/app").json()
    assert (repo["pulls"], repo["pushes"]) == (4, 1)
    artifact = client.get(f"{V1}/repositories/team/app/artifacts").json()["artifacts"][0]
    assert (artifact["pulls"], artifact["last_pulled_at"]) == (4, repo["last_pulled_at"])
    stats = client.get(f"{V1}/statistics", params={"days": 7, "top": 1}).json()
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    assert [d["day"] for d in stats["days"]][-1] == today and len(stats["days"]) == 7
    assert stats["days"][-1]["pulls"] == 4 and stats["days"][-1]["pushes"] == 2
    assert sum(d["pulls"] for d in stats["days"][:-1]) == 0
    assert stats["top_repositories"] == [
        {"name": "team/app", "pulls": 4, "last_pulled_at": repo["last_pulled_at"]}
    ]
    assert [e["action"] for e in stats["recent"]][:2] == ["push", "push"]
    problem(client.get(f"{V1}/statistics", params={"days": 0}), 422)
    problem(client.get(f"{V1}/statistics", params={"top": "many"}), 422)


def test_pull_counts_are_flushed_at_shutdown(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with admin_client(create_app(settings)) as client:
        push_image(client, "team/app", "v1")
        client.get("/v2/team/app/manifests/v1")
    with admin_client(create_app(settings)) as client:
        assert client.get(f"{V1}/repositories/team/app").json()["pulls"] == 1


def test_health_needs_no_login_and_system_info_no_secrets(client: TestClient) -> None:
    for path in ("/healthz", f"{V1}/healthz"):
        assert client.get(path, auth=None).json() == {"status": "ok"}
    for path in ("/readyz", f"{V1}/readyz"):
        ready = client.get(path, auth=None)
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}
    info = client.get(f"{V1}/system/info").json()
    assert info["version"] and info["auth_sources"] == ["local"]
    assert info["storage_driver"] in ("filesystem", "memory", "s3")
    assert info["database"] in ("sqlite", "postgresql")
    text = str(info).lower()
    assert "secret" not in text and "password" not in text


def test_readyz_is_503_while_the_database_is_unreachable(pg_schema: str, tmp_path: Path) -> None:
    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        settings = Settings(
            data_dir=tmp_path,
            storage={"driver": "memory"},
            database={"url": url, "schema_name": pg_schema, "auto_upgrade": True},
        )
        with admin_client(create_app(settings)) as client:
            assert client.get("/readyz").status_code == 200
            proxy.cut()
            body = problem(client.get("/readyz", auth=None), 503)
            assert body["checks"]["database"] != "ok" and body["checks"]["storage"] == "ok"
            assert client.get("/healthz").status_code == 200
            outage = problem(client.get(f"{V1}/repositories/team/app"), 503)
            assert "database" in outage["detail"]
            proxy.restore()
            for _ in range(60):
                if client.get("/readyz").status_code == 200:
                    break
                time.sleep(0.5)
            assert client.get("/readyz").status_code == 200
