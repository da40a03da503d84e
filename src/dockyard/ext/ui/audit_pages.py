"""The audit log: the whole of it for system admins (/admin/audit), a project's for those who
may read it (/projects/{p}/audit). Filters and paging are the API's (`ProjectAdmin.audit`)."""

from __future__ import annotations

import datetime as dt

from starlette.datastructures import QueryParams
from starlette.responses import Response

from dockyard.errors import invalid
from dockyard.ext.base import ExtensionContext
from dockyard.ext.ui.registry_pages import query_string
from dockyard.ext.ui.web import View
from dockyard.meta.auth_records import AuditQuery

OUTCOMES = ("ok", "failed", "denied", "locked")
COMMON_ACTIONS = (
    "login",
    "token",
    "access",
    "push",
    "delete",
    "tag-delete",
    "mount",
    "user.",
    "group.",
    "project.",
    "member.",
    "robot.",
    "role.",
    "keys.rotate",
)
FILTERS = ("actor", "action", "outcome", "target", "since", "until")


def _day(text: str, name: str) -> float | None:
    """A date from <input type=date> (YYYY-MM-DD) as the UTC midnight that starts it."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise invalid(f"{name} must be a date (YYYY-MM-DD)") from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def _query(params: QueryParams, limit: int) -> AuditQuery:
    until = _day(params.get("until", ""), "until")
    before = params.get("before") or None
    try:
        before_id = int(before) if before else None
    except ValueError:
        raise invalid("before must be the id of an audit entry") from None
    return AuditQuery(
        actor=params.get("actor") or None,
        action=params.get("action") or None,
        outcome=params.get("outcome") or None,
        target_prefix=params.get("target") or None,
        since=_day(params.get("since", ""), "since"),
        until=until + 86400 if until is not None else None,  # the whole last day
        before_id=before_id,
        limit=limit,
    )


class AuditPages:
    def __init__(self, context: ExtensionContext, page_size: int) -> None:
        self.projects_admin = context.project_admin
        self.page_size = page_size

    async def audit(self, view: View) -> Response:
        project: str | None = view.path_params.get("project")
        params = view.request.query_params
        query = _query(params, self.page_size + 1)
        entries = await self.projects_admin.audit(view.principal, query, project)
        more = len(entries) > self.page_size
        entries = entries[: self.page_size]
        filters = {k: params.get(k, "") for k in FILTERS}
        next_before = entries[-1].id if more and entries else None
        record = await self.projects_admin.get(view.principal, project) if project else None
        return view.render(
            "audit.html",
            partial="_audit_rows.html",
            entries=entries,
            filters=filters,
            project=record,
            outcomes=OUTCOMES,
            common_actions=COMMON_ACTIONS,
            paged=bool(params.get("before")),
            next_url=query_string(**filters, before=next_before) if next_before else None,
            first_url=query_string(**filters) or "?",
        )
