"""LDAP and OIDC logins through the registry itself: real slapd and a real OpenID provider,
the groups they report mapped to project roles, and the personal access token an SSO user
needs for `docker login`."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.settings import Settings
from dockyard.testing.oidc_provider import Provider, authorize, oidc_provider
from dockyard.testing.saml_idp import SamlTestIdP
from dockyard.testing.slapd import LdapServer, slapd_binary, slapd_server
from tests.api.helpers import assert_error
from tests.conftest import ADMIN, service_missing

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    if slapd_binary() is None:
        service_missing("slapd (Debian package slapd)")
    with slapd_server(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oidc_provider() as running:
        yield running


def _grant_group(client: TestClient, project: str, group: str, role: str) -> None:
    created = client.post("/api/v1/projects", json={"name": project}, auth=ADMIN)
    assert created.status_code == 201, created.text
    granted = client.post(
        f"/api/v1/projects/{project}/members", json={"group": group, "role": role}, auth=ADMIN
    )
    assert granted.status_code == 201, granted.text


def _token(client: TestClient, auth: tuple[str, str], scope: str) -> httpx.Response:
    return client.get("/token", params={"service": "dockyard", "scope": scope}, auth=auth)


def test_ldap_user_pushes_through_a_group_role(tmp_path: Path, ldap_server: LdapServer) -> None:
    ldap = {
        "url": ldap_server.url,
        "mode": "search",
        "bind_dn": ldap_server.service_dn,
        "bind_password": ldap_server.service_password,
        "user_base_dn": ldap_server.people_dn,
        "group_base_dn": ldap_server.groups_dn,
        "timeout_seconds": 2,
    }
    settings = Settings(data_dir=tmp_path, auth={"ldap": ldap})
    alice = ("alice", ldap_server.users["alice"].password)
    carol = ("carol", ldap_server.users["carol"].password)
    with TestClient(create_app(settings)) as client:
        _grant_group(client, "team", "developers", "developer")
        # alice is in LDAP's "developers": she may push; carol is not: pull is refused too.
        token = _token(client, alice, "repository:team/app:pull,push")
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "repository:team/app:pull,push"
        bearer = {"Authorization": f"Bearer {token.json()['token']}"}
        assert client.post("/v2/team/app/blobs/uploads/", headers=bearer).status_code == 202
        assert _token(client, carol, "repository:team/app:pull").json()["scope"] == ""
        wrong = _token(client, ("alice", "not-her-password"), "repository:team/app:pull")
        assert_error(wrong, 401, "UNAUTHORIZED")
        me = client.get("/api/v1/me", auth=alice).json()
        assert me["source"] == "ldap" and me["email"] == "alice@example.org"
        assert "developers" in me["groups"]


def test_ldap_outage_is_503_not_a_wrong_password(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        auth={
            "ldap": {
                "url": "ldap://127.0.0.1:9",
                "mode": "bind",
                "user_dn_template": "uid={username},dc=x",
                "timeout_seconds": 1,
            }
        },
    )
    with TestClient(create_app(settings)) as client:
        response = _token(client, ("someone", "password"), "repository:team/app:pull")
        assert_error(response, 503, "UNAVAILABLE")
        assert "ldap" in response.json()["errors"][0]["message"]


def _oidc_settings(tmp_path: Path, provider: Provider) -> Settings:
    client_id, secret = provider.register_client(f"{BASE}/auth/oidc/callback")
    oidc = {"issuer": provider.issuer, "client_id": client_id, "client_secret": secret}
    return Settings(data_dir=tmp_path, auth={"public_url": BASE, "oidc": oidc})


def _sso_login(client: TestClient, claims: dict[str, object]) -> httpx.Response:
    started = client.get("/auth/oidc/login", params={"next": "/projects/team"})
    assert started.status_code == 302, started.text

    async def at_provider() -> str:
        async with httpx.AsyncClient(timeout=10) as browser:
            return await authorize(browser, started.headers["location"], "alice-sub", claims)

    callback = urlsplit(asyncio.run(at_provider()))
    return client.get(f"{callback.path}?{callback.query}")


def test_oidc_login_then_a_personal_access_token_pushes(
    tmp_path: Path, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    claims = {"preferred_username": "alice", "email": "alice@example.org", "groups": ["devs"]}
    with TestClient(
        create_app(_oidc_settings(tmp_path, provider)), base_url=BASE, follow_redirects=False
    ) as client:
        _grant_group(client, "team", "devs", "developer")
        finished = _sso_login(client, claims)
        assert finished.status_code == 303, finished.text
        assert finished.headers["location"] == "/projects/team"
        code = dict(parse_qsl(urlsplit(str(finished.request.url)).query))["code"]
        # The callback is logged, but not the code (the test's own browser may log it).
        ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("dockyard"))
        assert "/auth/oidc/callback?code=***" in ours
        assert code not in ours
        me = client.get("/api/v1/me").json()
        assert (me["username"], me["source"], me["groups"]) == ("alice", "oidc", ["devs"])
        created = client.post("/api/v1/me/tokens", json={"name": "laptop"})
        assert created.status_code == 201, created.text
        pat = created.json()["token"]
        revoked = client.post("/api/v1/me/tokens", json={"name": "old"}).json()
        assert client.delete(f"/api/v1/me/tokens/{revoked['id']}").status_code == 204
        client.cookies.clear()
        # docker login alice / <token>, then the token flow docker uses for a push
        token = _token(client, ("alice", pat), "repository:team/app:pull,push")
        assert token.json()["scope"] == "repository:team/app:pull,push"
        bearer = {"Authorization": f"Bearer {token.json()['token']}"}
        assert client.post("/v2/team/app/blobs/uploads/", headers=bearer).status_code == 202
        # A revoked token stops working at once.
        gone = _token(client, ("alice", revoked["token"]), "repository:team/app:pull")
        assert_error(gone, 401, "UNAUTHORIZED")
        # An SSO user has no password Dockyard could check.
        wrong = _token(client, ("alice", "anything"), "repository:team/app:pull")
        assert_error(wrong, 401, "UNAUTHORIZED")
        assert pat not in "\n".join(r.getMessage() for r in caplog.records)


def test_oidc_callback_with_a_forged_state_is_refused(tmp_path: Path, provider: Provider) -> None:
    with TestClient(
        create_app(_oidc_settings(tmp_path, provider)), base_url=BASE, follow_redirects=False
    ) as client:
        started = client.get("/auth/oidc/login")
        assert started.status_code == 302
        response = client.get("/auth/oidc/callback", params={"code": "x", "state": "forged"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert client.get("/api/v1/me").status_code == 401
        # without the flow cookie at all
        client.cookies.clear()
        assert (
            client.get("/auth/oidc/callback", params={"code": "x", "state": "y"}).status_code == 400
        )


def test_login_redirect_never_leaves_the_site(tmp_path: Path, provider: Provider) -> None:
    claims = {"preferred_username": "bob", "email": "bob@example.org", "groups": []}
    with TestClient(
        create_app(_oidc_settings(tmp_path, provider)), base_url=BASE, follow_redirects=False
    ) as client:
        started = client.get("/auth/oidc/login", params={"next": "//evil.example/steal"})

        async def at_provider() -> str:
            async with httpx.AsyncClient(timeout=10) as browser:
                return await authorize(browser, started.headers["location"], "bob-sub", claims)

        callback = urlsplit(asyncio.run(at_provider()))
        finished = client.get(f"{callback.path}?{callback.query}")
        assert finished.status_code == 303
        assert finished.headers["location"] == "/"


@pytest.fixture(scope="module")
def saml_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlTestIdP]:
    if shutil.which("xmlsec1") is None:
        service_missing("xmlsec1 (Debian package xmlsec1)")
    with SamlTestIdP(tmp_path_factory.mktemp("idp")) as idp:
        yield idp


def _saml_app(tmp_path: Path, idp: SamlTestIdP) -> TestClient:
    saml = {
        "entity_id": f"{BASE}/auth/saml/metadata",
        "acs_url": f"{BASE}/auth/saml/acs",
        "idp_metadata_xml": idp.idp_metadata(),
    }
    app = create_app(Settings(data_dir=tmp_path, auth={"public_url": BASE, "saml": saml}))
    return TestClient(app, base_url=BASE, follow_redirects=False)


def _saml_round_trip(
    client: TestClient, idp: SamlTestIdP, user: dict[str, object]
) -> dict[str, str]:
    metadata = client.get("/auth/saml/metadata")
    assert metadata.status_code == 200
    idp.trust_sp(metadata.text)
    started = client.get("/auth/saml/login", params={"next": "/projects/team"})
    assert started.status_code == 302, started.text
    acs_url, saml_response, relay = idp.respond(started.headers["location"], user)
    assert urlsplit(acs_url).path == "/auth/saml/acs"
    return {"SAMLResponse": saml_response, "RelayState": relay}


def test_saml_login_maps_groups_to_roles(tmp_path: Path, saml_idp: SamlTestIdP) -> None:
    user = {"uid": "dana", "mail": "dana@example.org", "displayName": "Dana", "groups": ["ops"]}
    with _saml_app(tmp_path, saml_idp) as client:
        _grant_group(client, "team", "ops", "maintainer")
        form = _saml_round_trip(client, saml_idp, user)
        finished = client.post("/auth/saml/acs", data=form)
        assert finished.status_code == 303, finished.text
        assert finished.headers["location"] == "/projects/team"
        me = client.get("/api/v1/me").json()
        assert (me["username"], me["source"], me["groups"]) == ("dana", "saml", ["ops"])
        members = client.get("/api/v1/projects/team/members")
        assert members.status_code == 200  # maintainers may read the project's members
        # The same response again is a replay.
        client.cookies.clear()
        replay = client.post("/auth/saml/acs", data=form)
        assert replay.status_code == 401
        assert client.get("/api/v1/me").status_code == 401


def test_saml_response_with_a_forged_relay_state_is_refused(
    tmp_path: Path, saml_idp: SamlTestIdP
) -> None:
    user = {"uid": "eve", "mail": "eve@example.org", "groups": ["admins"]}
    with _saml_app(tmp_path, saml_idp) as client:
        form = _saml_round_trip(client, saml_idp, user)
        forged = client.post("/auth/saml/acs", data={**form, "RelayState": "/"})
        assert forged.status_code == 400
        assert forged.headers["content-type"] == "application/problem+json"
        assert client.get("/api/v1/me").status_code == 401
