"""Supply-chain pull policies over HTTP, in every deployment shape: the management API for
policies and allow-lists (validation, access, audit), and what a manifest GET answers under a
policy: signed or not (cosign tag scheme and referrers, indexes and their images, the real
cosign fixtures), vulnerabilities with allow-lists, unscanned images."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.ext import base
from dockyard.ext.base import GROUP
from dockyard.ext.scanning.policies.openapi import OPERATIONS as POLICY_OPERATIONS
from dockyard.settings import RegistrySettings, Settings
from dockyard.testing.metadata_policies_suite import Finding, seed_advisory, seed_report
from tests.api.helpers import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    assert_error,
    descriptor,
    push_blob,
    push_children,
    push_image,
    put_manifest,
    sha256,
)
from tests.api.manage_helpers import add_user, assert_problem, audit, grant
from tests.api.test_openapi import AUTH, CHECKS, QUICK, _served
from tests.conftest import admin_client
from tests.e2e import policy_shim
from tests.e2e.cosign import (
    FIXTURES,
    SigningKey,
    cosign_tag,
    push_signatures,
    read_fixture_signature,
    sign_digest,
)

V1 = "/api/v1"
ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}"}
COSIGN_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"


@pytest.fixture
def with_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registries built in this test load the pull policies (see tests/e2e/policy_shim.py)."""
    points = [policy_shim.ENTRY_POINT]
    monkeypatch.setattr(base, "entry_points", lambda group: points if group == GROUP else [])


def without_scans(settings: Settings, **update: Any) -> Settings:
    """No scanner at work: the tests write the scan reports themselves, and a real scan must not
    replace them halfway (the policies are installed either way)."""
    extensions = {**settings.extensions, "scanning": {"enabled": False}}
    return settings.model_copy(update={"extensions": extensions, **update})


@pytest.fixture
def api(settings: Settings, with_policies: None) -> Iterator[TestClient]:
    app = create_app(without_scans(settings))
    with admin_client(app, base_url="http://registry.test") as client:
        yield client


@pytest.fixture
def lenient(settings: Settings, with_policies: None) -> Iterator[TestClient]:
    """A registry that takes manifests whose blobs it does not have (the cosign fixtures)."""
    registry = RegistrySettings(require_manifest_references=False)
    app = create_app(without_scans(settings, registry=registry))
    with admin_client(app, base_url="http://registry.test") as client:
        yield client


def new_project(client: TestClient, name: str = "team") -> None:
    response = client.post(f"{V1}/projects", json={"name": name})
    assert response.status_code == 201, response.text


def set_policy(client: TestClient, project: str = "team", **policy: Any) -> dict[str, Any]:
    response = client.put(f"{V1}/projects/{project}/policy", json=policy)
    assert response.status_code == 200, response.text
    return dict(response.json())


def pull(client: TestClient, repo: str, reference: str) -> httpx.Response:
    return client.get(f"/v2/{repo}/manifests/{reference}", headers=ACCEPT)


def refused(client: TestClient, repo: str, reference: str) -> str:
    error = assert_error(pull(client, repo, reference), 403, "DENIED")
    return str(error["message"])


def seed_scan(client: TestClient, digest: str, findings: Sequence[Finding]) -> None:
    store = client.app.state.registry.store  # type: ignore[attr-defined]

    async def write() -> None:
        async with store.transaction() as tx:
            for advisory in {f[0] for f in findings}:
                await seed_advisory(tx, advisory, [f"CVE-{advisory}"])
            await seed_report(tx, digest, findings)

    assert client.portal is not None
    client.portal.call(write)


# --- the policy and allow-list API -------------------------------------------------------------


def test_a_policy_is_read_set_validated_and_audited(api: TestClient) -> None:
    new_project(api)
    default = api.get(f"{V1}/projects/team/policy").json()
    assert default == {
        "project": "team",
        "configured": False,
        "scan_on_push": True,
        "require_signature": False,
        "max_severity": None,
        "deny_unscanned": False,
        "trusted_keys": [],
        "keys": [],
        "updated_at": None,
    }
    key = SigningKey.generate()
    stored = set_policy(
        api, require_signature=True, max_severity="high", trusted_keys=[key.public_pem]
    )
    assert stored["configured"] and stored["max_severity"] == "HIGH"
    assert stored["trusted_keys"] == [key.public_pem]
    assert stored["keys"][0]["algorithm"] == "ECDSA P-256"
    assert api.get(f"{V1}/projects/team/policy").json() == stored
    [entry] = audit(api, action="project.policy")
    assert entry["target"] == "team" and entry["detail"]["trusted_keys"] == [
        stored["keys"][0]["fingerprint"]
    ]

    url = f"{V1}/projects/team/policy"
    bad_key = api.put(url, json={"trusted_keys": [key.public_pem, "not a key"]})
    assert_problem(bad_key, 422, "trusted_keys[1]: not a PEM public key")
    assert_problem(api.put(url, json={"max_severity": "SEVERE"}), 422, "LOW, MEDIUM, HIGH")
    no_keys = api.put(url, json={"require_signature": True})
    assert_problem(no_keys, 422, "require_signature needs at least one trusted key")
    assert_problem(api.put(url, json={"enforce": True}), 422, "enforce")
    assert_problem(api.put(url, json={"deny_unscanned": "yes"}), 422, "deny_unscanned")
    assert api.get(url).json() == stored  # nothing changed
    assert_problem(api.put(f"{V1}/projects/nowhere/policy", json={}), 404)


def test_reading_needs_read_project_and_changing_manage_policies(api: TestClient) -> None:
    new_project(api)
    people = {role: add_user(api, role) for role in ("maintainer", "developer", "guest")}
    for role in people:
        grant(api, "team", role, user=role)
    stranger = add_user(api, "stranger")
    url = f"{V1}/projects/team/policy"
    for role, creds in people.items():
        assert api.get(url, auth=creds).status_code == 200, role
    assert_problem(api.get(url, auth=stranger), 404)
    assert_problem(api.get(url, auth=None), 404)
    assert_problem(api.put(url, json={}, auth=people["developer"]), 403)
    assert_problem(api.put(url, json={}, auth=people["guest"]), 403)
    assert api.put(url, json={"deny_unscanned": True}, auth=people["maintainer"]).status_code == 200
    entry = {"advisory_id": "GHSA-aaaa-bbbb-cccc"}
    allowlist = f"{V1}/projects/team/allowlist"
    assert_problem(api.post(allowlist, json=entry, auth=people["developer"]), 403)
    assert api.post(allowlist, json=entry, auth=people["maintainer"]).status_code == 201
    assert api.get(allowlist, auth=people["guest"]).status_code == 200
    assert_problem(api.post(f"{V1}/allowlist", json=entry, auth=people["maintainer"]), 403)
    assert api.get(f"{V1}/allowlist", auth=people["guest"]).status_code == 200
    assert_problem(api.get(f"{V1}/allowlist", auth=None), 401)


def test_allow_lists_of_a_project_and_of_the_registry(api: TestClient) -> None:
    new_project(api)
    url = f"{V1}/projects/team/allowlist"
    later = time.time() + 3600
    created = api.post(url, json={"advisory_id": "CVE-2024-1", "expires_at": later, "reason": "x"})
    assert created.status_code == 201, created.text
    assert created.json() | {"created_at": 0} == {
        "project": "team",
        "advisory_id": "CVE-2024-1",
        "expires_at": later,
        "reason": "x",
        "created_by": "admin",
        "created_at": 0,
        "expired": False,
    }
    assert api.post(url, json={"advisory_id": "GHSA-2"}).status_code == 201
    listed = api.get(url).json()["entries"]
    assert [e["advisory_id"] for e in listed] == ["CVE-2024-1", "GHSA-2"]
    assert_problem(api.post(url, json={"advisory_id": "two words"}), 422, "not an advisory id")
    past = {"advisory_id": "GHSA-3", "expires_at": time.time() - 1}
    assert_problem(api.post(url, json=past), 422, "in the future")
    assert api.delete(f"{url}/GHSA-2").status_code == 204
    assert_problem(api.delete(f"{url}/GHSA-2"), 404, "not on the allow-list")
    assert [e["advisory_id"] for e in api.get(url).json()["entries"]] == ["CVE-2024-1"]

    system = api.post(f"{V1}/allowlist", json={"advisory_id": "GHSA-sys"})
    assert system.status_code == 201 and system.json()["project"] == ""
    assert [e["advisory_id"] for e in api.get(f"{V1}/allowlist").json()["entries"]] == ["GHSA-sys"]
    assert api.delete(f"{V1}/allowlist/GHSA-sys").status_code == 204
    assert api.get(f"{V1}/allowlist").json()["entries"] == []
    actions = [(e["action"], e["detail"]) for e in audit(api) if "allowlist" in e["action"]]
    assert ("system.allowlist", {"removed": "GHSA-sys"}) in actions
    assert ("project.allowlist", {"removed": "GHSA-2"}) in actions


# --- signatures --------------------------------------------------------------------------------


def test_only_signed_images_are_served_once_a_policy_requires_it(api: TestClient) -> None:
    new_project(api)
    key, stranger = SigningKey.generate(), SigningKey.generate()
    _, signed = push_image(api, "team/app", "signed", seed="signed")
    unsigned_body, unsigned = push_image(api, "team/app", "unsigned", seed="unsigned")
    _, foreign = push_image(api, "team/app", "foreign", seed="foreign")
    push_signatures(api, "team/app", signed, [sign_digest(key, signed)])
    push_signatures(api, "team/app", foreign, [sign_digest(stranger, foreign)])
    assert pull(api, "team/app", "unsigned").status_code == 200  # no policy yet
    set_policy(api, require_signature=True, trusted_keys=[key.public_pem])

    assert pull(api, "team/app", "signed").status_code == 200
    assert pull(api, "team/app", signed).status_code == 200
    assert refused(api, "team/app", "unsigned") == (
        'pull refused by project team\'s policy "only signed images": '
        f"{unsigned} has no signature by a trusted key (no cosign signature present)"
    )
    assert refused(api, "team/app", foreign).endswith(
        "has no signature by a trusted key (1 signature present, by an unknown key)"
    )
    # HEAD is not refused (no content; clients resolve and check with it), blobs neither.
    assert api.head("/v2/team/app/manifests/unsigned", headers=ACCEPT).status_code == 200
    layer = json.loads(unsigned_body)["layers"][0]["digest"]
    assert api.get(f"/v2/team/app/blobs/{layer}").status_code == 200
    # The signatures themselves stay readable: clients fetch them to verify.
    assert pull(api, "team/app", cosign_tag(foreign)).status_code == 200

    # A signature pushed now counts from the next pull.
    push_signatures(api, "team/app", unsigned, [sign_digest(key, unsigned)])
    assert pull(api, "team/app", "unsigned").status_code == 200
    # Other projects are not concerned.
    new_project(api, "other")
    push_image(api, "other/app", "v1")
    assert pull(api, "other/app", "v1").status_code == 200


def test_a_signature_attached_as_a_referrer_counts(api: TestClient) -> None:
    new_project(api)
    key = SigningKey.generate()
    image, digest = push_image(api, "team/app", "v1")
    set_policy(api, require_signature=True, trusted_keys=[key.public_pem])
    assert pull(api, "team/app", "v1").status_code == 403
    signature = sign_digest(key, digest)
    empty = b"{}"
    push_blob(api, "team/app", empty)
    push_blob(api, "team/app", signature.payload)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": COSIGN_ARTIFACT,
        "config": descriptor("application/vnd.oci.empty.v1+json", empty),
        "layers": [
            descriptor(
                "application/vnd.dev.cosign.simplesigning.v1+json",
                signature.payload,
                annotations={"dev.cosignproject.cosign/signature": signature.signature},
            )
        ],
        "subject": descriptor(OCI_MANIFEST, image),
    }
    body = json.dumps(doc).encode()
    assert put_manifest(api, "team/app", sha256(body), body, OCI_MANIFEST).status_code == 201
    assert pull(api, "team/app", "v1").status_code == 200
    status = api.get(f"{V1}/repositories/team/app/artifacts/v1/signatures").json()
    assert status["state"] == "signed"
    assert [(s["via"], s["verified"]) for s in status["signatures"]] == [("referrer", True)]


def test_an_image_of_a_signed_index_is_signed_through_it(api: TestClient) -> None:
    new_project(api)
    key = SigningKey.generate()
    children = push_children(api, "team/multi", OCI_MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, body) for _, body in children],
        }
    ).encode()
    assert put_manifest(api, "team/multi", "v1", index, OCI_INDEX).status_code == 201
    child = sha256(children[0][1])
    set_policy(api, require_signature=True, trusted_keys=[key.public_pem])
    message = refused(api, "team/multi", child)
    assert f"the index holding it, {sha256(index)}, is not signed either" in message
    push_signatures(api, "team/multi", sha256(index), [sign_digest(key, sha256(index))])
    assert pull(api, "team/multi", "v1").status_code == 200
    assert pull(api, "team/multi", child).status_code == 200
    check = api.get(f"{V1}/repositories/team/multi/artifacts/{child}/policy-check").json()
    assert check["allowed"] and sha256(index) in check["rules"][0]["reason"]
    signatures = api.get(f"{V1}/repositories/team/multi/artifacts/{child}/signatures").json()
    assert signatures["state"] == "unsigned"
    assert [(i["digest"], i["state"]) for i in signatures["indexes"]] == [(sha256(index), "signed")]


def test_the_real_cosign_fixtures_verify_with_cosign_pub_only(lenient: TestClient) -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"the cosign fixtures are not at {FIXTURES}")
    api = lenient
    new_project(api)
    image = (FIXTURES / "dir-img-cosign-valid" / "manifest.json").read_bytes()
    digest = sha256(image)
    assert put_manifest(api, "team/fixture", "v1", image, DOCKER_MANIFEST).status_code == 201
    signature = read_fixture_signature(FIXTURES / "dir-img-cosign-valid" / "signature-1")
    push_signatures(api, "team/fixture", digest, [signature])

    set_policy(api, require_signature=True, trusted_keys=[(FIXTURES / "cosign.pub").read_text()])
    assert pull(api, "team/fixture", "v1").status_code == 200
    status = api.get(f"{V1}/repositories/team/fixture/artifacts/v1/signatures").json()
    assert status["state"] == "signed" and status["digest"] == digest
    [found] = status["signatures"]
    assert found["verified"] and found["outcome"] == "valid" and found["via"] == "tag"
    assert found["key_fingerprint"] == status["trusted_keys"][0]["fingerprint"]
    assert found["signed_digest"] == digest and not status["notation_present"]

    set_policy(api, require_signature=True, trusted_keys=[(FIXTURES / "cosign2.pub").read_text()])
    assert refused(api, "team/fixture", "v1").endswith("(1 signature present, by an unknown key)")
    check = api.get(f"{V1}/repositories/team/fixture/artifacts/v1/policy-check").json()
    assert check["enforced"] and not check["allowed"]
    assert check["message"].startswith("pull refused by project team's policy")
    status = api.get(f"{V1}/repositories/team/fixture/artifacts/v1/signatures").json()
    assert status["state"] == "invalid" and status["signatures"][0]["outcome"] == "unknown-key"


# --- vulnerabilities and scans -----------------------------------------------------------------


def test_vulnerabilities_refuse_until_allow_listed(api: TestClient) -> None:
    new_project(api)
    _, digest = push_image(api, "team/app", "v1")
    _, clean = push_image(api, "team/app", "clean", seed="clean")
    seed_scan(api, digest, [("GHSA-crit", 5, "jinja2", "2.10"), ("GHSA-low", 2, "six", "1.0")])
    seed_scan(api, clean, [])
    set_policy(api, max_severity="HIGH")
    assert refused(api, "team/app", "v1") == (
        'pull refused by project team\'s policy "no vulnerabilities at or above HIGH": '
        "1 finding: GHSA-crit (CRITICAL, jinja2 2.10)"
    )
    assert pull(api, "team/app", "clean").status_code == 200
    entry = {"advisory_id": "CVE-GHSA-crit", "reason": "not reachable"}  # by its alias
    assert api.post(f"{V1}/projects/team/allowlist", json=entry).status_code == 201
    assert pull(api, "team/app", "v1").status_code == 200
    check = api.get(f"{V1}/repositories/team/app/artifacts/v1/policy-check").json()
    assert check["allowed"] and "(allow-listed: GHSA-crit)" in check["rules"][0]["reason"]
    assert api.delete(f"{V1}/projects/team/allowlist/CVE-GHSA-crit").status_code == 204
    assert pull(api, "team/app", "v1").status_code == 403
    # The system-wide list applies to every project.
    assert api.post(f"{V1}/allowlist", json={"advisory_id": "GHSA-crit"}).status_code == 201
    assert pull(api, "team/app", "v1").status_code == 200


def test_unscanned_images_are_refused_when_the_policy_says_so(api: TestClient) -> None:
    new_project(api)
    _, digest = push_image(api, "team/app", "v1")
    set_policy(api, deny_unscanned=True)
    assert refused(api, "team/app", "v1") == (
        'pull refused by project team\'s policy "scanned images only": not scanned yet '
        "(no scan was asked for)"
    )
    seed_scan(api, digest, [])
    # Scan facts are kept for a few seconds; a policy change weighs pulls afresh.
    set_policy(api, deny_unscanned=True, scan_on_push=False)
    assert pull(api, "team/app", "v1").status_code == 200
    # Scans are of images: a Helm chart is not held back by the scan rules.
    helm = "application/vnd.cncf.helm.config.v1+json"
    push_image(api, "team/chart", "1.0", config_type=helm, layer_type="application/tar+gzip")
    set_policy(api, deny_unscanned=True, max_severity="LOW")
    assert pull(api, "team/chart", "1.0").status_code == 200
    check = api.get(f"{V1}/repositories/team/chart/artifacts/1.0/policy-check").json()
    assert [r["reason"] for r in check["rules"]] == [
        f"an artifact of type {helm}, not an image: scans do not apply"
    ] * 2


# --- explaining --------------------------------------------------------------------------------


def test_signature_status_and_policy_check_are_for_those_who_may_pull(api: TestClient) -> None:
    new_project(api)
    push_image(api, "team/app", "v1")
    stranger = add_user(api, "stranger")
    for what in ("signatures", "policy-check"):
        url = f"{V1}/repositories/team/app/artifacts/v1/{what}"
        assert api.get(url).status_code == 200
        assert_problem(api.get(url, auth=stranger), 404)
        assert_problem(api.get(f"{V1}/repositories/team/app/artifacts/nope/{what}"), 404)
        assert_problem(api.get(f"{V1}/repositories/team/none/artifacts/v1/{what}"), 404)
    check = api.get(f"{V1}/repositories/team/app/artifacts/v1/policy-check").json()
    assert check == {
        "repository": "team/app",
        "digest": check["digest"],
        "project": "team",
        "enforced": False,
        "allowed": True,
        "message": None,
        "exempt": None,
        "rules": [],
    }
    status = api.get(f"{V1}/repositories/team/app/artifacts/v1/signatures").json()
    assert status["state"] == "unsigned" and status["signatures"] == []
    assert status["trusted_keys"] == [] and status["summary"] == "unsigned: no cosign signature"
    # Other sub-resources of an artifact are nobody's: 404, not the repository.
    assert_problem(api.get(f"{V1}/repositories/team/app/artifacts/v1/nothing"), 404)
    assert api.get(f"{V1}/repositories/team/app/artifacts/v1").status_code == 200


def test_the_audit_of_a_policy_change_carries_no_pem(api: TestClient) -> None:
    new_project(api)
    key = SigningKey.generate()
    set_policy(api, require_signature=True, trusted_keys=[key.public_pem])
    assert "BEGIN PUBLIC KEY" not in json.dumps(audit(api, action="project.policy"))


# --- the OpenAPI document ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import schemathesis

    config = without_scans(Settings(data_dir=tmp_path_factory.mktemp("policy-schemathesis")))
    with pytest.MonkeyPatch.context() as patch:
        points = [policy_shim.ENTRY_POINT]
        patch.setattr(base, "entry_points", lambda group: points if group == GROUP else [])
        with admin_client(create_app(config)) as client:
            assert client.post(f"{V1}/projects", json={"name": "library"}).status_code == 201
            push_image(client, "library/app", "latest")
            key = SigningKey.generate()
            set_policy(client, "library", require_signature=True, trusted_keys=[key.public_pem])
            for url in (f"{V1}/projects/library/allowlist", f"{V1}/allowlist"):
                client.post(url, json={"advisory_id": "GHSA-h75v-3vvj-5mfj"})
            served = _served(client.app)
            document = client.get(f"{V1}/openapi.json").json()
        # A fresh application for schemathesis, which runs its lifespan on its own event loop.
        app = create_app(config)
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app), served, documented
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()


def test_the_document_lists_the_policy_endpoints(policy_schema: Any) -> None:
    _, served, documented = policy_schema
    assert {(op.method, op.path) for op in POLICY_OPERATIONS} <= documented
    assert documented == served


@pytest.mark.parametrize(
    ("method", "path"), [(op.method, op.path) for op in POLICY_OPERATIONS], ids=lambda v: v
)
def test_the_policy_api_keeps_the_documents_promises(
    policy_schema: Any, method: str, path: str
) -> None:
    from hypothesis import find, given, settings

    schema, _, _ = policy_schema
    operation = schema[path][method]
    for example in schema.get_strategies_from_examples(operation):
        find(example, lambda _case: True, settings=QUICK).call_and_validate(
            headers=AUTH, checks=CHECKS
        )

    @settings(QUICK, max_examples=15)
    @given(case=operation.as_strategy())
    def generated(case: Any) -> None:
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    generated()


def test_a_deleted_project_takes_its_policy_and_allow_list_along(api: TestClient) -> None:
    new_project(api)
    set_policy(api, max_severity="HIGH")
    url = f"{V1}/projects/team/allowlist"
    assert api.post(url, json={"advisory_id": "CVE-2024-1"}).status_code == 201
    assert api.post(f"{V1}/allowlist", json={"advisory_id": "GHSA-sys"}).status_code == 201
    assert api.delete(f"{V1}/projects/team").status_code == 204

    new_project(api)  # the same name again: a new project, with nothing of the old one
    assert api.get(url).json()["entries"] == []
    assert api.get(f"{V1}/projects/team/policy").json()["max_severity"] is None
    system = api.get(f"{V1}/allowlist").json()["entries"]
    assert [e["advisory_id"] for e in system] == ["GHSA-sys"]
