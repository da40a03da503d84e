"""Typed registry errors and the one table that maps them to OCI codes and HTTP statuses."""

from __future__ import annotations

from enum import Enum
from typing import Any


class Code(Enum):
    """OCI Distribution Spec error codes: (HTTP status, what the code means)."""

    BLOB_UNKNOWN = (404, "blob unknown to registry")
    BLOB_UPLOAD_INVALID = (400, "blob upload invalid")
    BLOB_UPLOAD_UNKNOWN = (404, "blob upload unknown to registry")
    DIGEST_INVALID = (400, "provided digest did not match uploaded content")
    MANIFEST_BLOB_UNKNOWN = (404, "manifest references a manifest or blob unknown to registry")
    MANIFEST_INVALID = (400, "manifest invalid")
    MANIFEST_UNKNOWN = (404, "manifest unknown to registry")
    NAME_INVALID = (400, "invalid repository name")
    NAME_UNKNOWN = (404, "repository name not known to registry")
    SIZE_INVALID = (400, "provided length did not match content length")
    PAGINATION_NUMBER_INVALID = (400, "invalid number of results requested")
    RANGE_INVALID = (416, "requested range not satisfiable")
    UNAUTHORIZED = (401, "authentication required")
    DENIED = (403, "requested access to the resource is denied")
    UNSUPPORTED = (405, "the operation is unsupported")
    TOOMANYREQUESTS = (429, "too many requests")
    UNAVAILABLE = (503, "service unavailable")
    NOT_FOUND = (404, "not found")
    UNKNOWN = (500, "unknown error")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def description(self) -> str:
        return self.value[1]


class RegistryError(Exception):
    """An error a client caused or must be told about; rendered as the spec's JSON body."""

    def __init__(
        self,
        code: Code,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.message = message or code.description
        self.detail = detail
        self.status = status or code.status
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        # Messages quote client input; keep a hostile 4 MiB value from coming back whole.
        message = self.message if len(self.message) <= 1000 else self.message[:997] + "..."
        error: dict[str, Any] = {"code": self.code.name, "message": message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}


class Problem(Exception):
    """A management API error, rendered as RFC 9457 problem+json."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        super().__init__(detail)

    def body(self) -> dict[str, Any]:
        return {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }


def not_found(detail: str) -> Problem:
    return Problem(404, "Not Found", detail)


def conflict(detail: str) -> Problem:
    return Problem(409, "Conflict", detail)


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail)


def invalid(detail: str) -> Problem:
    return Problem(422, "Unprocessable Content", detail)
