"""The management REST API under /api/v1: users, groups, projects, members, roles, robots,
personal access tokens and the audit log. Errors are problem+json (RFC 9457).

The handlers live by resource in api/manage_users.py and api/manage_projects.py, on what
api/manage_common.py gives them; this module lists their routes in one table for the app.
"""

from __future__ import annotations

from dockyard.api import manage_projects, manage_users

routes = [*manage_users.routes, *manage_projects.routes]
