"""JSON Schemas of what the management API reads and writes, for the OpenAPI document.

Request bodies are the API's own pydantic input models; responses are the dataclasses the
services return (through pydantic's TypeAdapter), minus the secrets the API never sends, plus
the few objects the handlers put together by hand.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from dockyard.api import manage_models as manage
from dockyard.meta.auth_records import (
    AccessTokenRecord,
    AuditRecord,
    GrantRecord,
    RobotRecord,
    RoleRecord,
)
from dockyard.registry import inventory_models as inv

REF = "#/components/schemas/{model}"
SECRETS = ("secret_hash", "password_hash")

INPUTS: list[type[BaseModel]] = [
    manage.NewUserIn,
    manage.UserPatch,
    manage.PasswordIn,
    manage.TokenIn,
    manage.GroupIn,
    manage.ProjectIn,
    manage.ProjectPatch,
    manage.GrantIn,
    manage.RoleIn,
    manage.RobotIn,
    manage.RobotPatch,
]

RECORDS: list[type] = [
    manage.ProjectView,
    GrantRecord,
    RoleRecord,
    RobotRecord,
    AccessTokenRecord,
    AuditRecord,
    inv.RepositorySummary,
    inv.ArtifactSummary,
    inv.ArtifactDetail,
    inv.TagSummary,
    inv.Statistics,
]


def _string(nullable: bool = False) -> dict[str, Any]:
    return {"type": ["string", "null"]} if nullable else {"type": "string"}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def listing(key: str, item: str, paged: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {key: {"type": "array", "items": ref(item)}}
    if paged:
        properties["next_last"] = {
            **_string(nullable=True),
            "description": "pass as `last` for the next page; null on the last page",
        }
    return _obj(list(properties), **properties)


_TIME = {"type": ["number", "null"]}

HAND_WRITTEN: dict[str, dict[str, Any]] = {
    "Problem": _obj(
        ["title", "status", "detail"],
        type=_string(),
        title=_string(),
        status={"type": "integer"},
        detail=_string(),
        checks={"type": "object", "additionalProperties": {"type": "string"}},
    ),
    "User": _obj(
        ["username", "source", "admin", "disabled", "created_at"],
        username=_string(),
        email=_string(True),
        display_name=_string(True),
        source=_string(),
        admin={"type": "boolean"},
        disabled={"type": "boolean"},
        created_at={"type": "number"},
        last_login_at=_TIME,
        groups={"type": "array", "items": _string()},
        kind=_string(),
    ),
    "Group": _obj(
        ["name"],
        name=_string(),
        description=_string(True),
        members={"type": "array", "items": _string()},
    ),
    "NewToken": {"allOf": [ref("AccessTokenRecord"), _obj(["token"], token=_string())]},
    "NewRobot": {"allOf": [ref("RobotRecord"), _obj(["secret"], secret=_string())]},
    "RobotSecret": _obj(["name", "secret"], name=_string(), secret=_string()),
    "LoginIn": _obj(["username", "password"], username=_string(), password=_string()),
    "LoginOut": _obj(["username", "admin"], username=_string(), admin={"type": "boolean"}),
    "KeyRotated": _obj(["kid"], kid=_string()),
    "RepositoryDeleted": _obj(
        ["name", "deleted_artifacts"], name=_string(), deleted_artifacts={"type": "integer"}
    ),
    "ArtifactDeleted": _obj(["deleted"], deleted={"type": "array", "items": _string()}),
    "Health": _obj(
        ["status"],
        status=_string(),
        checks={"type": "object", "additionalProperties": {"type": "string"}},
    ),
    "SystemInfo": _obj(
        ["version", "storage_driver", "database", "auth_sources"],
        version=_string(),
        python=_string(),
        platform=_string(),
        storage_driver={"enum": ["filesystem", "memory", "s3"]},
        database={"enum": ["sqlite", "postgresql"]},
        auth_sources={"type": "array", "items": {"enum": ["local", "ldap", "oidc", "saml"]}},
        token_service=_string(),
        public_url=_string(True),
        delete_enabled={"type": "boolean"},
        users_can_create_projects={"type": "boolean"},
    ),
    "Users": listing("users", "User"),
    "Tokens": listing("tokens", "AccessTokenRecord"),
    "Groups": listing("groups", "Group"),
    "Projects": listing("projects", "ProjectView"),
    "Members": listing("members", "GrantRecord"),
    "Roles": listing("roles", "RoleRecord"),
    "Robots": listing("robots", "RobotRecord"),
    "AuditEntries": listing("entries", "AuditRecord"),
    "Repositories": listing("repositories", "RepositorySummary", paged=True),
    "Artifacts": listing("artifacts", "ArtifactSummary", paged=True),
    "Tags": listing("tags", "TagSummary", paged=True),
}


def components() -> dict[str, dict[str, Any]]:
    """Every schema the document refers to, by name."""
    schemas: dict[str, dict[str, Any]] = {}
    for model in INPUTS:
        _add(schemas, model.__name__, model.model_json_schema(ref_template=REF))
    for record in RECORDS:
        _add(schemas, record.__name__, TypeAdapter(record).json_schema(ref_template=REF))
    for name, schema in schemas.items():
        if name in {r.__name__ for r in RECORDS}:
            _drop_secrets(schema)
    schemas.update(HAND_WRITTEN)
    return dict(sorted(schemas.items()))


def _add(schemas: dict[str, dict[str, Any]], name: str, schema: dict[str, Any]) -> None:
    for inner, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(inner, definition)
    schemas[name] = schema


def _drop_secrets(schema: dict[str, Any]) -> None:
    for secret in SECRETS:
        schema.get("properties", {}).pop(secret, None)
        if secret in schema.get("required", []):
            schema["required"].remove(secret)
