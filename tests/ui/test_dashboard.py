"""The dashboard as a person uses it: headless Chromium against a real `dockyard serve`."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.e2e.images import sha256
from tests.ui.conftest import Dashboard, Traffic, log_in
from tests.ui.seed import create_user

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the browser fixture says so: a skip on a laptop, a failure in CI
    Page = Any  # type: ignore[misc,assignment]
    expect = None  # type: ignore[assignment]


def test_anonymous_visitor_logs_in_and_sees_the_overview(
    page: Page, dashboard: Dashboard, traffic: Traffic
) -> None:
    check = expect
    page.goto("/repositories/team/app")
    check(page).to_have_url(re.compile(r"/login\?next=%2Frepositories%2Fteam%2Fapp$"))

    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    check(page.get_by_role("alert")).to_contain_text("Wrong user name or password")

    page.get_by_label("Password").fill(dashboard.server.credentials[1])
    page.get_by_role("button", name="Log in").click()
    check(page).to_have_url(f"{dashboard.url}/repositories/team/app")  # back where they were

    page.get_by_role("link", name="Overview").click()
    check(page.get_by_role("heading", level=1)).to_have_text("Overview")
    totals = page.get_by_role("region", name="Totals")
    check(totals).to_contain_text("Storage used")
    check(totals).to_contain_text("Saved by deduplication")
    check(totals.locator(".tile", has_text="Repositories")).to_contain_text("2")
    # The chart is drawn (uPlot renders a canvas); a table carries the same numbers.
    check(page.locator("#usage-chart canvas")).to_have_count(1)
    most_pulled = page.get_by_role("region", name="Most pulled")
    check(most_pulled.get_by_role("link").first).to_have_text("team/app")
    check(page.get_by_role("region", name="Recent activity")).to_contain_text("push")
    assert any(u.endswith("/static/uplot.min.js?v=1.6.32") for u in traffic.urls)

    page.get_by_role("button", name="Log out").click()
    check(page.get_by_role("status")).to_contain_text("You are logged out")
    page.goto("/")
    check(page).to_have_url(re.compile(r"/login\?next=%2F$"))


def test_browse_project_repository_artifact(page: Page, dashboard: Dashboard) -> None:
    check, seeded = expect, dashboard.seeded
    log_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="team", exact=True).click()
    check(page.get_by_role("heading", level=1)).to_contain_text("team")
    page.get_by_role("link", name="team/app", exact=True).click()
    check(page.get_by_role("heading", level=1)).to_have_text("team/app")

    # Newest first: the SBOM and signature are referrers, not listed at the top level.
    rows = page.locator("#rows tbody tr")
    check(rows).to_have_count(1)
    check(rows.first).to_contain_text("v1")
    rows.first.get_by_role("link").click()
    check(page).to_have_url(re.compile(rf"/-/artifacts/{seeded.app.digest}$"))

    layers = page.locator("#layers tbody tr")
    check(layers).to_have_count(2)
    shared = layers.filter(has_text=seeded.shared_layer.split(":")[1][:12])
    check(shared).to_contain_text("shared")
    check(shared.get_by_role("link", name="team/worker")).to_be_visible()
    own = layers.filter(has_text=seeded.own_layer.split(":")[1][:12])
    check(own).to_contain_text("only here")
    for index, layer in enumerate(seeded.app.layers):
        size = layers.nth(index).locator(".layer-size")
        check(size).to_have_text(re.compile(r"^\d+(\.\d)? (B|KiB|MiB)$"))
        assert sha256(layer)[7:19] in layers.nth(index).inner_text()

    config = page.get_by_role("region", name="Configuration")
    check(config).to_contain_text("2024-01-01")
    check(config).to_contain_text('["/bin/app"]')
    check(config).to_contain_text("PATH=/usr/bin:/bin")
    referrers = page.get_by_role("region", name=re.compile("Referrers"))
    check(referrers.locator("tbody tr")).to_have_count(2)
    check(referrers).to_contain_text("signature")
    check(referrers).to_contain_text("sbom")

    command = f"docker pull {dashboard.server.address}/team/app@{seeded.app.digest}"
    pull = page.get_by_role("region", name="Pull")
    check(pull).to_contain_text(command)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = pull.get_by_role("button", name="Copy docker command by digest")
    copy.click()
    check(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == command


def test_search_as_you_type_and_paging_keep_the_url(page: Page, dashboard: Dashboard) -> None:
    check = expect
    log_in(page, path="/projects/team")
    rows = page.locator("#rows tbody tr")
    check(rows).to_have_count(2)
    page.get_by_label("Search repositories").press_sequentially("work", delay=30)
    check(rows).to_have_count(1)
    check(rows.first).to_contain_text("team/worker")
    check(page).to_have_url(re.compile(r"/projects/team\?q=work"))
    page.reload()
    check(page.locator("#rows tbody tr")).to_have_count(1)
    page.get_by_label("Search repositories").fill("nothing-like-this")
    check(page.locator("#rows")).to_contain_text("No repository matches")


def test_robot_secret_is_shown_once(page: Page, dashboard: Dashboard) -> None:
    check = expect
    log_in(page, path="/admin/robots")
    form = page.get_by_role("region", name="New robot account")
    form.get_by_label("Name").fill("uploader")
    form.get_by_label("push").check()
    form.get_by_role("button", name="Create robot").click()

    check(page.get_by_role("status")).to_contain_text("Robot robot$uploader created")
    secret_box = page.get_by_role("region", name="Secret of robot$uploader")
    check(secret_box).to_contain_text("shown only this once")
    secret = page.locator("#secret-value").inner_text().strip()
    assert len(secret) >= 32
    with httpx.Client(base_url=dashboard.url, auth=("robot$uploader", secret)) as robot:
        assert robot.get("/v2/").status_code == 200
    check(page.get_by_role("row", name=re.compile(r"robot\$uploader"))).to_contain_text("push")

    page.reload()
    check(page.locator("#robot-secret")).to_have_count(0)
    assert secret not in page.content()
    page.goto("/admin/robots")
    assert secret not in page.content()


def test_audit_log_filters(page: Page, dashboard: Dashboard) -> None:
    check = expect
    with httpx.Client(base_url=dashboard.url) as anonymous:
        anonymous.post("/auth/login", json={"username": "mallory", "password": "guessing"})
    log_in(page, path="/admin/audit")
    check(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    entries = page.locator("#rows tbody tr")
    check(entries.first).to_be_visible()

    page.get_by_label("Outcome").select_option("failed")
    check(page).to_have_url(re.compile(r"outcome=failed"))
    check(entries.filter(has_text="mallory")).to_have_count(1)
    for outcome in entries.locator(".outcome").all_inner_texts():
        assert outcome == "failed"

    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Action").fill("push")
    page.get_by_label("Actor").fill("admin")
    page.get_by_role("button", name="Filter").click()
    check(page).to_have_url(re.compile(r"action=push"))
    actions = entries.locator(".audit-action").all_inner_texts()
    assert actions and set(actions) == {"push"}
    check(entries.filter(has_text="team/worker@")).to_have_count(1)

    page.get_by_label("Actor").fill("nobody-did-this")
    page.get_by_role("button", name="Filter").click()
    check(page.locator("#rows")).to_contain_text("No entries match")


def test_main_menu_works_with_the_keyboard_alone(page: Page, dashboard: Dashboard) -> None:
    check = expect
    log_in(page)
    check(page.get_by_role("heading", level=1)).to_have_text("Overview")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    check(skip).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"

    menu = page.get_by_role("navigation", name="Main")
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        name = page.evaluate("document.activeElement.textContent.trim()")
        reached.append(name)
        if name == "Audit log":
            break
    assert reached[-1] == "Audit log", reached
    assert reached[-6:-1] == ["Overview", "Projects", "Users", "Groups", "Robots"]
    focused = menu.get_by_role("link", name="Audit log")
    check(focused).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "focus must be visible"
    page.keyboard.press("Enter")
    check(page).to_have_url(f"{dashboard.url}/admin/audit")
    check(menu.get_by_role("link", name="Audit log")).to_have_attribute("aria-current", "page")


def test_a_non_admin_sees_no_admin_pages(page: Page, dashboard: Dashboard) -> None:
    check = expect
    with dashboard.api() as admin:
        create_user(admin, "viewer", "viewer-long-password")
    log_in(page, "viewer", "viewer-long-password")
    menu = page.get_by_role("navigation", name="Main")
    check(menu.get_by_role("link")).to_have_count(2)  # Overview, Projects
    for path in ("/admin/users", "/admin/robots", "/admin/audit", "/admin/groups"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        check(page.get_by_role("heading", level=1)).to_contain_text("403")
    # Private project team is not theirs: it does not exist for them.
    response = page.goto("/projects/team")
    assert response is not None and response.status == 404
    page.goto("/projects")
    check(page.locator("#rows")).not_to_contain_text("team")
