"""`GET /api/v1/repositories/{name}/artifacts/{reference}/security`: an artifact's scan status
and severity counts, signature state and pull-policy verdict in one answer (what the
dashboard's Security section shows), (described in ext/scanning/openapi.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.api.manage_common import principal
from dockyard.ext.scanning.api import ARTIFACT, repository_name
from dockyard.ext.scanning.reports import counts_view
from dockyard.ext.scanning.security import ArtifactSecurity, ImageScan, SecurityFacts


def scan_json(scan: ImageScan) -> dict[str, Any]:
    return {
        "digest": scan.digest,
        "platform": scan.platform,
        "state": scan.state,
        "progress": {"done": scan.progress_done, "total": scan.progress_total},
        "queued_at": scan.queued_at,
        "finished_at": scan.finished_at,
        "error": scan.error,
        "summary": counts_view(scan.counts) if scan.counts is not None else None,
        "scanner": scan.scanner,
        "db_version": scan.db_version,
        "scanned_at": scan.scanned_at,
    }


def security_json(found: ArtifactSecurity) -> dict[str, Any]:
    return {
        "repository": found.repository,
        "digest": found.digest,
        "scannable": found.scannable,
        "scans": [scan_json(s) for s in found.scans],
        "signatures": asdict(found.signatures),
        "policy": asdict(found.policy),
    }


def security_routes(facts: SecurityFacts) -> list[Route]:
    async def security(request: Request) -> Response:
        actor = await principal(request)
        found = await facts.artifact(
            actor, repository_name(request), str(request.path_params["reference"])
        )
        return JSONResponse(security_json(found))

    return [Route(f"{ARTIFACT}/security", security, methods=["GET"])]
