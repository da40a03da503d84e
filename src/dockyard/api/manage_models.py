"""The management API's request bodies: strict, bounded by the columns they end up in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request

from dockyard.errors import invalid

Body = TypeVar("Body", bound=BaseModel)


# Text longer than its database column, or with a NUL (PostgreSQL refuses it), is the
# client's mistake: a 422 here rather than a 500 from the database.
Name = Annotated[str, Field(max_length=255)]
Text = Annotated[str, Field(max_length=10_000)]


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class _In(BaseModel):
    # Strict: `"admin": "yes"` or `"disabled": "0"` is a mistake to report, not to guess at.
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _no_nul(self) -> _In:
        if any(_has_nul(v) for v in self.__dict__.values()):
            raise ValueError("text must not contain NUL characters")
        return self


class NewUserIn(_In):
    username: Name
    password: Text = Field(repr=False)
    email: Name | None = None
    admin: bool = False


class UserPatch(_In):
    email: Name | None = None
    admin: bool | None = None
    disabled: bool | None = None


class PasswordIn(_In):
    password: Text = Field(repr=False)
    current_password: Text | None = Field(None, repr=False)


class TokenIn(_In):
    name: str
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class GroupIn(_In):
    name: str
    description: Text | None = None


class ProjectIn(_In):
    name: Name
    public: bool = False


class ProjectPatch(_In):
    public: bool | None = None
    # Bytes; null removes the limit. Only system admins may set it.
    quota_bytes: Annotated[int | None, Field(ge=0)] = None

    @model_validator(mode="after")
    def _says_something(self) -> ProjectPatch:
        if not self.model_fields_set:
            raise ValueError("give `public` and/or `quota_bytes`")
        if "public" in self.model_fields_set and self.public is None:
            raise ValueError("`public` is true or false")
        return self


class GrantIn(_In):
    user: Name | None = None
    group: Name | None = None
    role: Annotated[str, Field(max_length=100)]
    repositories: Name = "*"


class RoleIn(_In):
    name: Annotated[str, Field(max_length=100)]
    actions: list[str]
    description: Text | None = None


class PermissionIn(_In):
    repositories: Name
    actions: list[str]


class RobotIn(_In):
    name: Name
    permissions: list[PermissionIn]
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    description: Text | None = None


class RobotPatch(_In):
    disabled: bool


async def body(request: Request, model: type[Body]) -> Body:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise invalid(problems) from None


@dataclass(frozen=True)
class ProjectView:
    """A project as the API shows it: its record and the storage its quota counts."""

    name: str
    public: bool
    created_at: float
    created_by: str | None
    quota_bytes: int | None
    usage_bytes: int
