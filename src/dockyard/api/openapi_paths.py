"""Every /api/v1 operation (and /auth/login, /auth/logout), described once for the OpenAPI
document. A test checks that this table and the application's routes list the same paths.

The operations are kept by resource in api/openapi_paths_users.py, openapi_paths_projects.py
and openapi_paths_registry.py, built from api/openapi_ops.py; this module puts them in one
table and keeps the names extensions and the document import from here.
"""

from __future__ import annotations

from dockyard.api.openapi_ops import PATH_PARAMETERS, ApiAddition, Op, query
from dockyard.api.openapi_paths_projects import PROJECT_OPERATIONS
from dockyard.api.openapi_paths_registry import REGISTRY_OPERATIONS
from dockyard.api.openapi_paths_users import USER_OPERATIONS

__all__ = ["OPERATIONS", "PATH_PARAMETERS", "ApiAddition", "Op", "query"]

OPERATIONS: list[Op] = [*USER_OPERATIONS, *PROJECT_OPERATIONS, *REGISTRY_OPERATIONS]
