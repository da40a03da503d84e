"""The registry as people browse it: the overview, projects → repositories → artifacts.

Everything comes from `dockyard.registry.inventory.Inventory` (the same queries and the same
visibility rules as the management API); projects from `ProjectAdmin`; scans, signatures and
policy verdicts from the scanning extension when it is enabled (`ext.ui.security`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, get_args
from urllib.parse import urlencode

from starlette.responses import Response

from dockyard.ext.base import ExtensionContext
from dockyard.ext.ui.security import EXPOSED_SHOWN, FINDINGS_SHOWN, security_facts
from dockyard.ext.ui.web import View
from dockyard.meta.auth_records import ProjectRecord
from dockyard.registry.inventory import Inventory, RepositorySort, Statistics, pull_host

SORTS = {"name": "Name", "last_push": "Last push", "pulls": "Most pulled"}
PROJECT_BATCH = 200


def inventory(view: View) -> Inventory:
    found: Inventory = view.request.app.state.inventory
    return found


def query_string(**params: Any) -> str:
    """`?a=1&b=2` without the empty ones."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"?{urlencode(kept)}" if kept else ""


def chart_series(stats: Statistics) -> dict[str, list[float]]:
    """uPlot's columns: x as seconds since the epoch (UTC midnight), then pulls and pushes."""
    days = [dt.datetime.fromisoformat(d.day).replace(tzinfo=dt.UTC).timestamp() for d in stats.days]
    return {
        "x": days,
        "pulls": [d.pulls for d in stats.days],
        "pushes": [d.pushes for d in stats.days],
    }


class RegistryPages:
    def __init__(self, context: ExtensionContext, page_size: int) -> None:
        self.context = context
        self.page_size = page_size

    async def overview(self, view: View) -> Response:
        stats = await inventory(view).statistics(view.principal, days=30, top=8, recent=12)
        saved_share = stats.saved_bytes / stats.logical_bytes if stats.logical_bytes else 0.0
        facts = security_facts(self.context)
        security = await facts.registry(view.principal, EXPOSED_SHOWN) if facts else None
        return view.render(
            "overview.html",
            stats=stats,
            saved_share=saved_share,
            series=chart_series(stats),
            total_pulls=sum(d.pulls for d in stats.days),
            total_pushes=sum(d.pushes for d in stats.days),
            security=security,
        )

    async def _projects(
        self, view: View, q: str, last: str | None
    ) -> tuple[list[ProjectRecord], str | None]:
        """One page of the projects the viewer may see whose name contains `q`."""
        admin, found, cursor = self.context.project_admin, [], last
        while len(found) <= self.page_size:
            batch = await admin.list(view.principal, cursor, PROJECT_BATCH)
            found += [p for p in batch if q in p.name]
            if len(batch) < PROJECT_BATCH:
                break
            cursor = batch[-1].name
        if len(found) > self.page_size:
            found = found[: self.page_size]
            return found, found[-1].name
        return found, None

    async def projects(self, view: View) -> Response:
        params = view.request.query_params
        q, last = params.get("q", "").strip().lower(), params.get("last") or None
        found, next_last = await self._projects(view, q, last)
        return view.render(
            "projects.html",
            partial="_project_rows.html",
            projects=found,
            usage=await self.context.project_admin.usage([p.name for p in found]),
            q=q,
            last=last,
            next_url=query_string(q=q, last=next_last) if next_last else None,
            first_url=query_string(q=q) if last else None,
        )

    async def project(self, view: View) -> Response:
        name = view.path_params["project"]
        record = await self.context.project_admin.get(view.principal, name)
        params = view.request.query_params
        q, last = params.get("q", "").strip(), params.get("last") or None
        sort: RepositorySort = "name"
        for known in get_args(RepositorySort):
            if params.get("sort") == known:
                sort = known
        page = await inventory(view).repositories(
            view.principal, name, q=q or None, sort=sort, last=last, limit=self.page_size
        )
        usage = await self.context.project_admin.usage([name])
        return view.render(
            "project.html",
            partial="_repository_rows.html",
            project=record,
            used=usage[name],
            repositories=page.items,
            q=q,
            sort=sort,
            sorts=SORTS,
            last=last,
            next_url=query_string(q=q, sort=sort, last=page.next_last) if page.next_last else None,
            first_url=query_string(q=q, sort=sort) if last else None,
        )

    async def repository(self, view: View) -> Response:
        name = view.path_params["name"]
        found = inventory(view)
        summary = await found.repository(view.principal, name)
        last = view.request.query_params.get("last") or None
        page = await found.artifacts(view.principal, name, last=last, limit=self.page_size)
        facts = security_facts(self.context)
        digests = [a.digest for a in page.items]
        scans = await facts.rows(view.principal, name, digests) if facts else None
        return view.render(
            "repository.html",
            partial="_artifact_rows.html",
            repo=summary,
            artifacts=page.items,
            scans=scans,
            tab="artifacts",
            last=last,
            next_url=query_string(last=page.next_last) if page.next_last else None,
            first_url="?" if last else None,
        )

    async def tags(self, view: View) -> Response:
        name = view.path_params["name"]
        found = inventory(view)
        summary = await found.repository(view.principal, name)
        params = view.request.query_params
        q, last = params.get("q", "").strip(), params.get("last") or None
        page = await found.tags(view.principal, name, q=q or None, last=last, limit=self.page_size)
        return view.render(
            "repository.html",
            partial="_tag_rows.html",
            repo=summary,
            tag_list=page.items,
            tab="tags",
            q=q,
            last=last,
            next_url=query_string(q=q, last=page.next_last) if page.next_last else None,
            first_url=query_string(q=q) or "?" if last else None,
        )

    async def artifact(self, view: View) -> Response:
        name, reference = view.path_params["name"], view.path_params["reference"]
        public_url = self.context.gate.access.settings.public_url
        host = pull_host(public_url, str(view.request.base_url))
        detail = await inventory(view).artifact(view.principal, name, reference, host=host)
        facts = security_facts(self.context)
        security = (
            await facts.artifact(view.principal, name, detail.summary.digest, FINDINGS_SHOWN)
            if facts
            else None
        )
        return view.render(
            "artifact.html", repo_name=name, reference=reference, a=detail, security=security
        )
