"""The dashboard's URL map. Repository names contain slashes; a `/-/` segment (which no name
component can be) separates a repository from what follows it."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route

from dockyard.ext.base import ExtensionContext
from dockyard.ext.ui import admin_pages, audit_pages, auth_pages, registry_pages, security
from dockyard.ext.ui.assets import CachedStatic
from dockyard.ext.ui.web import Pages


def build_routes(
    pages: Pages, context: ExtensionContext, page_size: int, static_dir: Path
) -> list[BaseRoute]:
    auth = auth_pages.AuthPages(context)
    registry = registry_pages.RegistryPages(context, page_size)
    admin = admin_pages.AdminPages(context, page_size)
    audit = audit_pages.AuditPages(context, page_size)
    scans = security.SecurityPages(context)
    get, both = ["GET"], ["GET", "POST"]
    p = pages.page

    return [
        Route("/", p(registry.overview), methods=get),
        Route("/login", p(auth.login, login=False), methods=both),
        Route("/logout", p(auth.logout), methods=["POST"]),
        Route("/projects", p(registry.projects), methods=get),
        Route("/projects/{project}", p(registry.project), methods=get),
        Route("/projects/{project}/members", p(admin.members), methods=both),
        Route("/projects/{project}/robots", p(admin.robots), methods=both),
        Route("/projects/{project}/audit", p(audit.audit), methods=get),
        Route(
            "/repositories/{name:path}/-/artifacts/{reference}", p(registry.artifact), methods=get
        ),
        Route(
            "/repositories/{name:path}/-/artifacts/{reference}/scan",
            p(scans.scan),
            methods=["POST"],
        ),
        Route("/repositories/{name:path}/-/tags", p(registry.tags), methods=get),
        Route("/repositories/{name:path}", p(registry.repository), methods=get),
        Route("/admin/users", p(admin.users), methods=both),
        Route("/admin/groups", p(admin.groups), methods=both),
        Route("/admin/robots", p(admin.robots), methods=both),
        Route("/admin/audit", p(audit.audit), methods=get),
        Mount("/static", app=CachedStatic(directory=static_dir), name="static"),
    ]
