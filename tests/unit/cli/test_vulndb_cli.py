"""`dockyard vulndb import|status` on a data directory, and the remote `dockyard scan`, `vulns`
and `sbom` against a registry (in process: the CLI's HTTP client talks to the application)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from dockyard.app import create_app
from dockyard.cli import commands_scan
from dockyard.cli.client import Api
from dockyard.cli.main import app
from dockyard.cli.remote import failures
from dockyard.settings import Settings
from tests.conftest import ADMIN, admin_client
from tests.e2e.images import push_image
from tests.unit.ext.scanning.scan_images import (
    ADVISORIES,
    JINJA2_ADVISORIES,
    advisories_dir,
    need_pypi,
    python_image,
)


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


class _InProcess(httpx.BaseTransport):
    """The CLI's httpx requests, answered by the application through its test client."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._client.request(
            request.method,
            str(request.url),
            headers=dict(request.headers),
            content=request.read(),
        )
        return httpx.Response(
            answer.status_code, headers=answer.headers.raw, content=answer.content
        )


def test_import_and_status_on_a_data_directory(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    empty = _run("vulndb", "status", "--data-dir", data)
    assert empty.exit_code == 1 and "vulndb import" in empty.stdout
    imported = _run("vulndb", "import", str(need_pypi()), "--data-dir", data)
    assert imported.exit_code == 0, imported.output
    found = re.search(r"PyPI: (\d+) advisories", imported.stdout)
    assert found and int(found[1]) > 1000
    version = re.search(r"database version ([0-9a-f]{64})", imported.stdout)
    assert version is not None
    status = _run("vulndb", "status", "--data-dir", data)
    assert status.exit_code == 0
    assert version[1] in status.stdout and re.search(r"PyPI\s+\d{4}", status.stdout)
    # Importing the same content again leaves the same version.
    again = _run(
        "vulndb", "import", str(advisories_dir(tmp_path / "osv", ADVISORIES)), "--data-dir", data
    )
    assert "PyPI: 4 advisories" in again.stdout
    missing = _run("vulndb", "import", str(tmp_path / "nope.zip"), "--data-dir", data)
    assert missing.exit_code == 1 and "nope.zip" in missing.stderr


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A registry whose own scan worker runs often, and the CLI pointed at it."""
    osv = advisories_dir(tmp_path / "osv", JINJA2_ADVISORIES)
    settings = Settings(data_dir=tmp_path / "data", extensions={"scanning": {"poll_seconds": 0.1}})
    with admin_client(create_app(settings), base_url="http://registry.test") as client:
        assert (
            _run("vulndb", "import", str(osv), "--data-dir", str(tmp_path / "data")).exit_code == 0
        )

        @contextmanager
        def connect(_registry: str | None, _insecure: bool) -> Iterator[Api]:
            transport = _InProcess(client)
            with failures(), Api("http://registry.test", ADMIN, transport=transport) as api:
                yield api

        monkeypatch.setattr(commands_scan, "connect", connect)
        monkeypatch.setenv("COLUMNS", "200")
        yield client


def test_scan_wait_then_vulns_and_sboms(registry: TestClient, tmp_path: Path) -> None:
    image = python_image([("Jinja2", "2.10")])
    push_image(registry, "team/app", image, "1.0")
    waited = _run("scan", "team/app:1.0", "--wait", "--timeout", "60", "--output", "json")
    assert waited.exit_code == 0, waited.output
    report = json.loads(waited.stdout)["report"]
    assert {f["id"] for f in report["findings"]} == JINJA2_ADVISORIES
    table = _run("vulns", f"team/app@{image.digest}")
    assert table.exit_code == 0, table.output
    assert "PYSEC-2019-217" in table.stdout and "2.10.1" in table.stdout
    assert "Jinja2" in table.stdout
    as_json = json.loads(_run("vulns", "team/app:1.0", "--output", "json").stdout)
    assert as_json["digest"] == image.digest
    none = _run("vulns", "team/app:1.0", "--severity", "critical")
    assert none.exit_code == 0 and "PYSEC" not in none.stdout
    out = tmp_path / "sbom.json"
    written = _run("sbom", "team/app:1.0", "--format", "spdx", "-o", str(out))
    assert written.exit_code == 0 and json.loads(out.read_bytes())["spdxVersion"] == "SPDX-2.3"
    printed = _run("sbom", "team/app:1.0")
    assert json.loads(printed.stdout)["bomFormat"] == "CycloneDX"
    attached = _run("sbom", "team/app:1.0", "--attach")
    assert attached.exit_code == 0 and "Attached cyclonedx SBOM sha256:" in attached.stderr
    referrers = registry.get(f"/v2/team/app/referrers/{image.digest}").json()["manifests"]
    assert [r["artifactType"] for r in referrers] == ["application/vnd.cyclonedx+json"]


def test_scan_without_wait_and_mistakes(registry: TestClient) -> None:
    push_image(registry, "team/app", python_image([("requests", "2.19.0")]), "1.0")
    queued = _run("scan", "team/app:1.0")
    assert queued.exit_code == 0 and "Queued 1 scan of team/app:1.0" in queued.stdout
    wrong = _run("vulns", "team/app:1.0", "--severity", "dire")
    assert wrong.exit_code == 2 and "--severity" in wrong.stderr
    unknown = _run("vulns", "team/nope:1")
    assert unknown.exit_code == 1 and "no artifact" in unknown.stderr
    bad = _run("scan", "team/app@")
    assert bad.exit_code == 2 and "REPOSITORY:TAG" in bad.stderr
