"""The dashboard's HTTP behaviour without a browser: access, CSRF, assets, htmx fragments,
and the extension switch."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dockyard.app import create_app
from dockyard.ext.base import ExtensionError
from dockyard.settings import Settings
from tests.conftest import ADMIN
from tests.e2e.images import OCI_INDEX, build_multiarch
from tests.ui.seed import SIGNATURE_TYPE, create_user, push_image, push_referrer, simple_image

BASE = "http://127.0.0.1:5000"
STATIC = Path(__file__).parents[2] / "src" / "dockyard" / "ext" / "ui" / "static"


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def browser(app_settings: Settings) -> Iterator[TestClient]:
    """A cookie-keeping client, as a browser is; seeded with one image by the admin."""
    with TestClient(create_app(app_settings), base_url=BASE) as client:
        client.auth = ADMIN
        push_image(client, "team/app", simple_image("app"), "v1")  # type: ignore[arg-type]
        create_user(client, "dev", "dev-long-password")  # type: ignore[arg-type]
        client.auth = None  # type: ignore[assignment]
        client.cookies.clear()
        yield client


def login_token(client: TestClient) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def log_in(client: TestClient, username: str = ADMIN[0], password: str = ADMIN[1]) -> None:
    answer = client.post(
        "/login",
        data={"csrf": login_token(client), "username": username, "password": password},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert "dockyard_session" in answer.headers["set-cookie"]


def csrf_of(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_anonymous_visitors_are_sent_to_log_in(browser: TestClient) -> None:
    for path in ("/", "/projects", "/repositories/team/app", "/admin/users", "/admin/audit"):
        answer = browser.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    fragment = browser.get("/projects", headers={"HX-Request": "true"}, follow_redirects=False)
    assert fragment.status_code == 204
    assert fragment.headers["hx-redirect"].startswith("/login?next=")
    # Nothing changes for the APIs: they keep their own answers.
    assert browser.get("/v2/").status_code == 401
    assert browser.get("/api/v1/users").status_code == 401


def test_login_form_needs_its_nonce_and_refuses_robots_and_strangers(
    browser: TestClient,
) -> None:
    forged = browser.post(
        "/login", data={"csrf": "forged", "username": "admin", "password": ADMIN[1]}
    )
    assert forged.status_code == 403
    assert "dockyard_session" not in forged.headers.get("set-cookie", "")
    wrong = browser.post(
        "/login",
        data={"csrf": login_token(browser), "username": "admin", "password": "nope"},
    )
    assert wrong.status_code == 401
    assert "Wrong user name or password" in wrong.text
    cross_site = browser.post(
        "/login",
        data={"csrf": login_token(browser), "username": "admin", "password": ADMIN[1]},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403


def test_next_is_only_ever_a_path_on_this_site(browser: TestClient) -> None:
    answer = browser.post(
        "/login?next=x",
        data={
            "csrf": login_token(browser),
            "username": "admin",
            "password": ADMIN[1],
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_every_post_needs_the_session_csrf_token(browser: TestClient) -> None:
    log_in(browser)
    body = {"op": "create", "username": "evelyn", "password": "a-long-password!"}
    assert browser.post("/admin/users", data=body).status_code == 403
    assert browser.post("/admin/users", data={**body, "csrf": "made-up"}).status_code == 403
    token = csrf_of(browser, "/admin/users")
    cross = browser.post(
        "/admin/users", data={**body, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert "<strong>evelyn</strong>" not in browser.get("/admin/users").text

    done = browser.post("/admin/users", data={**body, "csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    page = browser.get("/admin/users")
    assert "User evelyn created." in page.text
    assert "<strong>evelyn</strong>" in page.text
    assert "User evelyn created." not in browser.get("/admin/users").text  # shown once

    # A token belongs to one session: with anyone else's session it is refused.
    browser.cookies.clear()
    log_in(browser, "dev", "dev-long-password")
    other = browser.post("/projects/team/members", data={"op": "revoke", "csrf": token})
    assert other.status_code == 403
    assert "the form expired" in other.text


def test_mistakes_come_back_as_messages(browser: TestClient) -> None:
    log_in(browser)
    token = csrf_of(browser, "/admin/users")
    body = {"op": "create", "username": "shorty", "password": "short", "csrf": token}
    page = browser.post("/admin/users", data=body)
    assert page.status_code == 200
    assert "at least 12 characters" in page.text
    assert 'class="flash error"' in page.text


def test_non_admins_get_403_pages_and_no_admin_menu(browser: TestClient) -> None:
    log_in(browser, "dev", "dev-long-password")
    overview = browser.get("/")
    assert overview.status_code == 200
    assert "/admin/users" not in overview.text
    for path in ("/admin/users", "/admin/groups", "/admin/robots", "/admin/audit"):
        page = browser.get(path)
        assert page.status_code == 403, path
        assert "text/html" in page.headers["content-type"]
    assert browser.get("/repositories/team/app").status_code == 404  # private, not theirs
    assert browser.get("/projects/team/members").status_code == 404


def test_htmx_asks_for_fragments(browser: TestClient) -> None:
    log_in(browser)
    full = browser.get("/projects/team?q=app")
    assert full.text.startswith("<!doctype html>")
    fragment = browser.get("/projects/team?q=app", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert "team/app" in fragment.text
    assert (
        "No repository matches"
        in browser.get("/projects/team?q=zzz", headers={"HX-Request": "true"}).text
    )


def test_pages_carry_security_headers_and_only_local_assets(browser: TestClient) -> None:
    log_in(browser)
    referenced: set[str] = set()
    for path in ("/", "/projects", "/repositories/team/app", "/admin/audit", "/admin/robots"):
        page = browser.get(path)
        assert page.status_code == 200, path
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text), path
        assert "<script>" not in page.text  # no inline script: the CSP would block it
        referenced |= set(re.findall(r'(?:src|href)="(/static/[^"?]+)', page.text))
    assert {"/static/htmx.min.js", "/static/dockyard.js", "/static/dockyard.css"} <= referenced
    for asset in referenced | {"/static/uplot.min.js", "/static/uplot.min.css"}:
        answer = browser.get(asset)
        assert answer.status_code == 200, asset
        assert "max-age" in answer.headers["cache-control"]
        assert answer.headers.get("etag")


def test_every_shipped_asset_has_its_licence() -> None:
    names = {p.name for p in STATIC.iterdir()}
    assert {"htmx.min.js", "htmx.LICENSE", "uplot.min.js", "uplot.LICENSE"} <= names


def test_the_dashboard_can_be_switched_off(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, extensions={"ui": {"enabled": False}})
    with TestClient(create_app(settings), base_url=BASE) as client:
        assert client.get("/", follow_redirects=False).status_code == 404
        assert client.get("/static/htmx.min.js").status_code == 404
        assert client.get("/v2/", auth=ADMIN).status_code == 200


def test_a_misspelt_extension_setting_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ExtensionError, match="page_sise"):
        create_app(Settings(data_dir=tmp_path, extensions={"ui": {"page_sise": 10}}))
    with pytest.raises(ExtensionError, match="unknown extension"):
        create_app(Settings(data_dir=tmp_path, extensions={"iu": {"enabled": True}}))


def test_single_sign_on_buttons_appear_where_configured(tmp_path: Path) -> None:
    oidc = {
        "issuer": "http://127.0.0.1:9/",
        "client_id": "dockyard",
        "client_secret": "s3cret",
        "display_name": "Acme SSO",
    }
    settings = Settings(data_dir=tmp_path, auth={"oidc": oidc})
    with TestClient(create_app(settings), base_url=BASE) as client:
        page = client.get("/login?next=/projects")
        assert "Log in with Acme SSO" in page.text
        assert 'href="/auth/oidc/login?next=%2Fprojects"' in page.text
        assert "/auth/saml/login" not in page.text
    with TestClient(create_app(Settings(data_dir=tmp_path / "plain")), base_url=BASE) as client:
        assert "Log in with" not in client.get("/login").text


def test_every_kind_of_artifact_has_a_page(browser: TestClient) -> None:
    image = simple_image("app")
    browser.auth = ADMIN
    signature = push_referrer(browser, "team/app", image.manifest, SIGNATURE_TYPE, b"sig")  # type: ignore[arg-type]
    multi = build_multiarch("multi")
    for child in multi.images.values():
        push_image(browser, "team/multi", child, child.platform["architecture"])  # type: ignore[arg-type]
    browser.put(
        "/v2/team/multi/manifests/v1",
        content=multi.index,
        headers={"Content-Type": OCI_INDEX},
    ).raise_for_status()
    browser.auth = None  # type: ignore[assignment]
    log_in(browser)

    referrer = browser.get(f"/repositories/team/app/-/artifacts/{signature}")
    assert referrer.status_code == 200
    assert "Refers to" in referrer.text and image.digest[7:19] in referrer.text
    assert "oras pull" in referrer.text
    index = browser.get("/repositories/team/multi/-/artifacts/v1")
    assert index.status_code == 200
    assert "linux/amd64" in index.text and "linux/arm64" in index.text
    tags = browser.get("/repositories/team/multi/-/tags?q=arm")
    assert tags.status_code == 200
    assert ">arm64<" in tags.text and ">amd64<" not in tags.text
    missing = browser.get("/repositories/team/app/-/artifacts/nope")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]


def test_project_pages_show_storage_against_the_quota(browser: TestClient) -> None:
    log_in(browser)
    used = browser.get("/api/v1/projects/team").json()["usage_bytes"]
    assert used > 0
    page = browser.get("/projects/team").text
    assert "(no quota)" in page and 'id="quota-meter"' not in page
    patched = browser.patch("/api/v1/projects/team", json={"quota_bytes": used - 1}, auth=ADMIN)
    assert patched.status_code == 200, patched.text
    page = browser.get("/projects/team").text
    meter = re.search(r'<meter id="quota-meter"[^>]*value="(\d+)"', page)
    assert meter is not None and int(meter.group(1)) == used
    assert "over quota: pushes of new content are refused" in page
    rows = browser.get("/projects", headers={"HX-Request": "true"}).text
    assert re.search(r"<td>[\d.]+ (B|KiB) of [\d.]+ (B|KiB)</td>", rows)


def test_without_scanning_the_pages_show_no_security(tmp_path: Path) -> None:
    """The Security section, the scan column and the vulnerability overview come from the
    scanning extension; with it switched off every page still renders, without them."""
    pages = ("/", "/repositories/team/app", "/repositories/team/app/-/artifacts/v1")
    for scanning, shown in ((True, True), (False, False)):
        extensions = {"scanning": {"enabled": scanning, "run_scans": False}}
        settings = Settings(data_dir=tmp_path / str(scanning), extensions=extensions)
        with TestClient(create_app(settings), base_url=BASE) as client:
            client.auth = ADMIN
            push_image(client, "team/app", simple_image("app"), "v1")  # type: ignore[arg-type]
            client.auth = None  # type: ignore[assignment]
            log_in(client)
            overview, rows, artifact = (client.get(path) for path in pages)
            assert [p.status_code for p in (overview, rows, artifact)] == [200, 200, 200]
            assert ('id="breakdown-title"' in overview.text) is shown
            assert ('<th scope="col">Scan</th>' in rows.text) is shown
            assert ('id="security-title"' in artifact.text) is shown
