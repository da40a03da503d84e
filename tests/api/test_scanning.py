"""The scanning endpoints of the management API: reports, packages and SBOMs of images in every
deployment shape, SBOMs attached as referrers, the registry-wide summary, and who may see and
do what (as for the rest of the API: hidden is 404, seen but not allowed is 403)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.ext.scanning.vulndb import import_osv
from dockyard.settings import Settings
from tests.api.registry_helpers import add_user, problem, project, push_referrer, user
from tests.conftest import admin_client
from tests.e2e.images import push_image
from tests.unit.ext.scanning.scan_images import (
    ADVISORIES,
    QUIET,
    advisories_dir,
    python_image,
    run_scans,
    scan_settings,
)

ART = "/api/v1/repositories/{repo}/artifacts/{ref}"
CYCLONEDX = "application/vnd.cyclonedx+json"
SPDX = "application/spdx+json"


def _url(repo: str, ref: str, what: str) -> str:
    return f"{ART.format(repo=repo, ref=ref)}/{what}"


def _import(client: TestClient, source: Path) -> None:
    app: Any = client.app
    assert client.portal is not None
    client.portal.call(import_osv, app.state.registry.store, source)


@pytest.fixture(scope="module")
def osv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four advisories the test images have, from the real export."""
    return advisories_dir(tmp_path_factory.mktemp("osv"), ADVISORIES)


@pytest.fixture
def shaped(settings: Settings, osv: Path) -> Iterator[TestClient]:
    """A registry in each deployment shape with the advisories imported."""
    quiet = settings.model_copy(update={"extensions": QUIET})
    with admin_client(create_app(quiet), base_url="http://registry.test") as client:
        _import(client, osv)
        yield client


@pytest.fixture
def embedded(tmp_path: Path, osv: Path) -> Iterator[TestClient]:
    with admin_client(create_app(scan_settings(tmp_path)), base_url="http://registry.test") as c:
        _import(c, osv)
        yield c


def test_reports_packages_and_sboms_in_every_shape(shaped: TestClient) -> None:
    client = shaped
    image = python_image([("Jinja2", "2.10"), ("requests", "2.19.0")])
    push_image(client, "team/app", image, "1.0")
    assert run_scans(client) == 1
    found = client.get(_url("team/app", "1.0", "vulnerabilities")).json()
    assert {f["id"] for f in found["report"]["findings"]} == ADVISORIES
    assert found["status"]["state"] == "done" and found["digest"] == image.digest
    packages = client.get(_url("team/app", image.digest, "packages")).json()
    assert {(p["name"], p["version"]) for p in packages["packages"]} == {
        ("Jinja2", "2.10"),
        ("requests", "2.19.0"),
    }
    cdx = client.get(_url("team/app", "1.0", "sbom"))
    assert cdx.status_code == 200 and cdx.headers["content-type"].startswith(CYCLONEDX)
    components = {c["name"] for c in cdx.json()["components"]}
    assert {"Jinja2", "requests"} <= components
    spdx = client.get(_url("team/app", "1.0", "sbom"), params={"format": "spdx"})
    assert spdx.headers["content-type"].startswith(SPDX)
    assert spdx.json()["spdxVersion"] == "SPDX-2.3"


def test_an_attached_sbom_is_a_referrer_of_the_image(embedded: TestClient) -> None:
    client = embedded
    image = python_image([("requests", "2.19.0")])
    push_image(client, "team/app", image, "1.0")
    run_scans(client)
    attached = client.post(_url("team/app", "1.0", "sbom"), params={"format": "spdx"})
    assert attached.status_code == 201, attached.text
    body = attached.json()
    assert (body["subject"], body["artifact_type"]) == (image.digest, SPDX)
    referrers = client.get(f"/v2/team/app/referrers/{image.digest}").json()["manifests"]
    assert [(r["digest"], r["artifactType"]) for r in referrers] == [(body["digest"], SPDX)]
    manifest = client.get(
        f"/v2/team/app/manifests/{body['digest']}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).json()
    layer = manifest["layers"][0]
    document = client.get(f"/v2/team/app/blobs/{layer['digest']}").content
    assert layer["mediaType"] == SPDX and json.loads(document)["spdxVersion"] == "SPDX-2.3"


def test_the_summary_and_affected_images_follow_visibility(embedded: TestClient) -> None:
    client = embedded
    project(client, "open")
    project(client, "closed")
    add_user(client, "reader", "open", "guest")
    push_image(client, "open/app", python_image([("Jinja2", "2.10")]), "1")
    push_image(client, "closed/app", python_image([("requests", "2.19.0")]), "1")
    run_scans(client)
    everything = client.get("/api/v1/vulnerabilities/summary").json()
    assert everything["scope"] == "registry" and everything["artifacts"] == 2
    assert everything["findings"]["total"] == 4 and everything["queue"]["done"] == 2
    assert everything["database"]["feeds"]["PyPI"]["advisories"] == 4
    assert {e["repository"] for e in everything["most_exposed"]} == {"open/app", "closed/app"}
    mine = client.get("/api/v1/vulnerabilities/summary", auth=user("reader")).json()
    assert mine["scope"] == "visible" and mine["artifacts"] == 1 and mine["queue"] is None
    assert [e["repository"] for e in mine["most_exposed"]] == ["open/app"]
    ids = {"advisory": ["PYSEC-2019-217", "PYSEC-2018-28"]}
    affected = client.get("/api/v1/vulnerabilities/affected", params=ids).json()
    assert {(a["repository"], a["advisory"]) for a in affected["artifacts"]} == {
        ("open/app", "PYSEC-2019-217"),
        ("closed/app", "PYSEC-2018-28"),
    }
    assert {a["id"] for a in affected["advisories"]} == set(ids["advisory"])
    seen = client.get("/api/v1/vulnerabilities/affected", params=ids, auth=user("reader"))
    assert [a["repository"] for a in seen.json()["artifacts"]] == ["open/app"]
    problem(client.get("/api/v1/vulnerabilities/summary", auth=None), 401)


def test_who_may_read_and_request_scans(embedded: TestClient) -> None:
    client = embedded
    project(client, "team")
    add_user(client, "guest", "team", "guest")
    add_user(client, "dev", "team", "developer")
    add_user(client, "outsider")
    push_image(client, "team/app", python_image([("Jinja2", "2.10")]), "1")
    run_scans(client)
    for what in ("vulnerabilities", "packages", "sbom"):
        problem(client.get(_url("team/app", "1", what), auth=user("outsider")), 404)
        problem(client.get(_url("team/app", "1", what), auth=None), 404)
        assert client.get(_url("team/app", "1", what), auth=user("guest")).status_code == 200
    problem(client.post(_url("team/app", "1", "scan"), auth=None), 401)
    problem(client.post(_url("team/app", "1", "scan"), auth=user("outsider")), 404)
    problem(client.post(_url("team/app", "1", "scan"), auth=user("guest")), 403)
    problem(client.post(_url("team/app", "1", "sbom"), auth=user("guest")), 403)
    requested = client.post(_url("team/app", "1", "scan"), auth=user("dev"))
    assert requested.status_code == 202
    [scan] = requested.json()["scans"]
    assert (scan["state"], scan["reason"]) == ("queued", "manual")
    assert client.post(_url("team/app", "1", "sbom"), auth=user("dev")).status_code == 201


def test_mistakes_are_problems_that_say_what_to_do(embedded: TestClient) -> None:
    client = embedded
    image = python_image([("Jinja2", "2.10")])
    push_image(client, "team/app", image, "1")
    referrer = push_referrer(client, "team/app", image.manifest, "application/spdx+json")
    assert (
        "not been scanned" in problem(client.get(_url("team/app", "1", "packages")), 404)["detail"]
    )
    problem(client.get(_url("team/app", "nope", "vulnerabilities")), 404)
    problem(client.get(_url("Not_A_Name", "1", "vulnerabilities")), 404)
    assert "not an image" in problem(client.post(_url("team/app", referrer, "scan")), 422)["detail"]
    run_scans(client)
    bad_severity = client.get(_url("team/app", "1", "vulnerabilities"), params={"severity": "x"})
    assert "CRITICAL" in problem(bad_severity, 422)["detail"]
    bad_format = client.get(_url("team/app", "1", "sbom"), params={"format": "xml"})
    assert "cyclonedx" in problem(bad_format, 422)["detail"]
    assert "advisory" in problem(client.get("/api/v1/vulnerabilities/affected"), 422)["detail"]
    problem(client.put(_url("team/app", "1", "scan")), 405)


def test_a_report_goes_with_the_last_repository_holding_the_image(
    embedded: TestClient,
) -> None:
    client = embedded
    image = python_image([("Jinja2", "2.10")])
    push_image(client, "team/app", image, "1")
    push_image(client, "team/copy", image, "1")
    run_scans(client)
    gone = client.delete(f"/v2/team/app/manifests/{image.digest}")
    assert gone.status_code == 202, gone.text
    kept = client.get(_url("team/copy", "1", "vulnerabilities")).json()
    assert kept["report"] is not None and kept["report"]["findings"]

    assert client.delete(f"/v2/team/copy/manifests/{image.digest}").status_code == 202
    app: Any = client.app
    store = app.state.registry.store

    async def stored() -> tuple[object, list[object]]:
        async with store.transaction(readonly=True) as tx:
            return await tx.scans.report(image.digest), await tx.scans.findings(image.digest)

    assert client.portal is not None
    assert client.portal.call(stored) == (None, [])
    summary = client.get("/api/v1/vulnerabilities/summary").json()
    assert summary["artifacts"] == 0 and summary["findings"]["total"] == 0


def test_security_sums_up_scan_signatures_and_verdict_in_every_shape(shaped: TestClient) -> None:
    client = shaped
    image = python_image([("Jinja2", "2.10"), ("requests", "2.19.0")])
    push_image(client, "team/app", image, "1.0")
    policy = {"deny_unscanned": True}
    assert client.put("/api/v1/projects/team/policy", json=policy).status_code == 200
    waiting = client.get(_url("team/app", "1.0", "security")).json()
    [scan] = waiting["scans"]
    assert (scan["digest"], scan["state"], scan["summary"]) == (image.digest, "queued", None)
    assert waiting["policy"]["enforced"] and not waiting["policy"]["allowed"]
    assert "not scanned yet" in waiting["policy"]["message"]
    run_scans(client)
    # The scan ran in another worker: setting the policy again drops what this replica's pull
    # check remembered of the image's scan (it would follow on its own within seconds).
    assert client.put("/api/v1/projects/team/policy", json=policy).status_code == 200
    found = client.get(_url("team/app", "1.0", "security")).json()
    report = client.get(_url("team/app", "1.0", "vulnerabilities")).json()["report"]
    [scan] = found["scans"]
    assert scan["state"] == "done" and scan["summary"] == report["summary"]
    assert scan["summary"]["total"] == len(ADVISORIES) and scan["db_version"]
    assert found["scannable"] and found["policy"]["allowed"], found["policy"]
    signatures = found["signatures"]
    assert (signatures["state"], signatures["signatures"]) == ("unsigned", [])


def test_security_is_seen_by_those_who_may_pull(embedded: TestClient) -> None:
    client = embedded
    project(client, "team")
    add_user(client, "guest", "team", "guest")
    add_user(client, "outsider")
    image = python_image([("Jinja2", "2.10")])
    push_image(client, "team/app", image, "1")
    sbom = push_referrer(client, "team/app", image.manifest, SPDX)
    problem(client.get(_url("team/app", "1", "security"), auth=user("outsider")), 404)
    problem(client.get(_url("team/app", "1", "security"), auth=None), 404)
    problem(client.get(_url("team/app", "nope", "security")), 404)
    seen = client.get(_url("team/app", "1", "security"), auth=user("guest"))
    assert seen.status_code == 200 and seen.json()["digest"] == image.digest
    referrer = client.get(_url("team/app", sbom, "security")).json()
    assert (referrer["scannable"], referrer["scans"]) == (False, [])
