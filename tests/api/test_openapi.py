"""The OpenAPI document covers every management endpoint, its docs page works offline, and the
API keeps the document's promises under schemathesis: no 5xx, every response as described."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, find, given, settings
from jsonschema import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.routing import Route
from starlette.testclient import TestClient

from dockyard.api.openapi_paths import OPERATIONS
from dockyard.app import create_app
from dockyard.ext.scanning.openapi import OPERATIONS as SCANNING_OPERATIONS
from dockyard.settings import Settings
from tests.api.helpers import OCI_INDEX, OCI_MANIFEST, index_manifest, push_children, push_image
from tests.api.registry_helpers import add_user, project, push_referrer
from tests.conftest import ADMIN, admin_client
from tests.unit.ext.scanning.scan_images import run_scans

REPOSITORY_ROUTES = {
    ("get", "/api/v1/repositories/{name}"),
    ("delete", "/api/v1/repositories/{name}"),
    ("get", "/api/v1/repositories/{name}/artifacts"),
    ("get", "/api/v1/repositories/{name}/artifacts/{reference}"),
    ("delete", "/api/v1/repositories/{name}/artifacts/{reference}"),
    ("get", "/api/v1/repositories/{name}/tags"),
    ("delete", "/api/v1/repositories/{name}/tags/{tag}"),
}


def _served(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) of every management route the application serves."""
    found = set()
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        path = re.sub(r"{(\w+)(:\w+)?}", r"{\1}", route.path)
        if path == "/api/v1/repositories/{path}":
            found |= REPOSITORY_ROUTES
            continue
        if not (path.startswith("/api/v1/") or path in ("/auth/login", "/auth/logout")):
            continue
        if path.startswith("/api/v1/docs/"):  # the renderer's script, not an API
            continue
        found |= {(m.lower(), path) for m in route.methods or () if m != "HEAD"}
    return found


def test_the_document_lists_every_management_endpoint(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json", auth=None).json()
    assert document["openapi"].startswith("3.1")
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert documented == _served(client.app)
    for name, schema in document["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema), name
    text = str(document)
    assert "secret_hash" not in text and "password_hash" not in text
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["responses"]["default"]["content"]["application/problem+json"], (method, path)


def test_the_docs_page_loads_its_renderer_from_dockyard(client: TestClient) -> None:
    page = client.get("/api/v1/docs", auth=None)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href|spec-url)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources
    script = next(s for s in sources if s.endswith(".js"))
    asset = client.get(script, auth=None)
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith("text/javascript")
    assert b"RapiDoc" in asset.content[:100_000] or b"rapi-doc" in asset.content
    assert 'load-fonts="false"' in page.text  # else RapiDoc fetches fonts from Google


# --- schemathesis ----------------------------------------------------------------------------


def _seed(client: TestClient) -> None:
    """Something behind every documented example: library/app:latest and friends."""
    project(client, "library", public=True)
    image, _ = push_image(client, "library/app", "latest")
    push_referrer(client, "library/app", image, "application/spdx+json")
    index = index_manifest(push_children(client, "library/multi", OCI_MANIFEST))
    client.put(
        "/v2/library/multi/manifests/latest", content=index, headers={"Content-Type": OCI_INDEX}
    )
    add_user(client, "alice", "library", "developer")
    client.post("/api/v1/groups", json={"name": "team"})
    robot = {"name": "ci", "permissions": [{"repositories": "library/*", "actions": ["pull"]}]}
    client.post("/api/v1/projects/library/robots", json=robot)
    run_scans(client)  # reports, packages and SBOMs to read


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    data: Path = tmp_path_factory.mktemp("schemathesis")
    config = Settings(data_dir=data)
    with admin_client(create_app(config)) as client:
        _seed(client)
    # A fresh application for schemathesis, which runs its lifespan on its own event loop.
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(config))
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()


AUTH = {"Authorization": "Basic " + base64.b64encode(":".join(ADMIN).encode()).decode()}
CHECKS = [not_a_server_error, response_schema_conformance]
# Bounded: a handful of cases per operation, no shrinking, nothing saved between runs.
QUICK = settings(
    max_examples=1,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize(
    ("method", "path"),
    [(op.method, op.path) for op in [*OPERATIONS, *SCANNING_OPERATIONS]],
    ids=lambda v: v,
)
def test_the_api_keeps_the_documents_promises(api_schema, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    operation = api_schema[path][method]
    for example in api_schema.get_strategies_from_examples(operation):  # the seeded data
        find(example, lambda _case: True, settings=QUICK).call_and_validate(
            headers=AUTH, checks=CHECKS
        )

    @settings(QUICK, max_examples=15)
    @given(case=operation.as_strategy())
    def generated(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    generated()
