"""The /api/v1 operations on registry content (repositories, artifacts, tags) and the system."""

from __future__ import annotations

from dockyard.api.openapi_ops import PAGED, Op, Q, query

_R = "/api/v1/repositories/{name}"

REGISTRY_OPERATIONS: list[Op] = [
    # --- repositories, artifacts, tags ---
    Op("get", _R, "One repository", "repositories", {200: "RepositorySummary"}, auth="optional"),
    Op(
        "delete",
        _R,
        "Delete a repository: its artifacts, tags and blob links",
        "repositories",
        {200: "RepositoryDeleted"},
    ),
    Op(
        "get",
        f"{_R}/artifacts",
        "A repository's artifacts, newest first",
        "repositories",
        {200: "Artifacts"},
        auth="optional",
        params=(
            *PAGED,
            query("all", {"type": "boolean"}, "also referrers and the manifests an index lists"),
        ),
    ),
    Op(
        "get",
        f"{_R}/artifacts/{{reference}}",
        "One artifact in full",
        "repositories",
        {200: "ArtifactDetail"},
        auth="optional",
    ),
    Op(
        "delete",
        f"{_R}/artifacts/{{reference}}",
        "Delete an artifact, its tags and referrers",
        "repositories",
        {200: "ArtifactDeleted"},
    ),
    Op(
        "get",
        f"{_R}/tags",
        "A repository's tags, A→Z",
        "repositories",
        {200: "Tags"},
        auth="optional",
        params=(*PAGED, Q),
    ),
    Op(
        "delete",
        f"{_R}/tags/{{tag}}",
        "Remove a tag (the artifact stays)",
        "repositories",
        {204: None},
    ),
    # --- system ---
    Op(
        "get",
        "/api/v1/statistics",
        "Registry statistics",
        "system",
        {200: "Statistics"},
        params=(
            query("days", {"type": "integer", "minimum": 1, "maximum": 366}, "days of history"),
            query("top", {"type": "integer", "minimum": 1, "maximum": 100}, "most pulled"),
            query("recent", {"type": "integer", "minimum": 0, "maximum": 100}, "activity"),
        ),
    ),
    Op(
        "get",
        "/api/v1/system/info",
        "Version and configuration (no secrets)",
        "system",
        {200: "SystemInfo"},
    ),
    Op(
        "get",
        "/api/v1/healthz",
        "Liveness: the process answers",
        "system",
        {200: "Health"},
        auth="none",
    ),
    Op(
        "get",
        "/api/v1/readyz",
        "Readiness: database and storage answer",
        "system",
        {200: "Health", 503: "Problem"},
        auth="none",
    ),
    Op("get", "/api/v1/openapi.json", "This document", "system", {200: None}, auth="none"),
    Op(
        "get",
        "/api/v1/docs",
        "This document, rendered",
        "system",
        {200: None},
        auth="none",
        ok_media="text/html",
    ),
]
