"""The one place errors become HTTP responses."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard.errors import Code, Problem, RegistryError
from dockyard.meta.base import MetadataUnavailable
from dockyard.storage.base import StorageUnavailable

log = logging.getLogger("dockyard.api")


def render(error: RegistryError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _is_management(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/auth/"))


def render_problem(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        problem.body(),
        status_code=problem.status,
        headers=headers,
        media_type="application/problem+json",
    )


async def problem_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return render_problem(exc)


async def registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    if _is_management(request):
        # The management API speaks problem+json; the registry's own errors (a bad login, a
        # lockout, an outage) keep their status and headers.
        title = exc.code.name.replace("_", " ").title()
        return render_problem(Problem(exc.status, title, exc.message), exc.headers)
    return render(exc)


def _unavailable(what: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A 503 for an outage of one backing service; the client is told when to retry."""

    async def handler(request: Request, exc: Exception) -> Response:
        log.error("%s unavailable: %s", what, exc)
        message = f"the registry's {what} is unavailable; try again shortly"
        error = RegistryError(Code.UNAVAILABLE, message, headers={"Retry-After": "5"})
        return await registry_error(request, error)

    return handler


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _is_management(request):
        titles = {404: "Not Found", 405: "Method Not Allowed"}
        detail = (
            "no such endpoint; see /api/v1/openapi.json"
            if exc.status_code == 404
            else ("this method is not supported on this URL")
        )
        title = titles.get(exc.status_code, "Error")
        return render_problem(Problem(exc.status_code, title, detail), exc.headers)
    if exc.status_code == 405:
        error = RegistryError(
            Code.UNSUPPORTED, "this method is not supported on this URL", headers=exc.headers
        )
    elif exc.status_code == 404:
        error = RegistryError(
            Code.NOT_FOUND, "no such endpoint; see the OCI Distribution Spec", status=404
        )
    else:
        error = RegistryError(Code.UNSUPPORTED, exc.detail, status=exc.status_code)
    return render(error)


async def unexpected(request: Request, _exc: Exception) -> Response:
    # Starlette re-raises after this handler, so the server logs the traceback once.
    message = "internal error; the server log has the details"
    error = RegistryError(Code.UNKNOWN, message, status=500)
    return await registry_error(request, error)


EXCEPTION_HANDLERS = {
    RegistryError: registry_error,
    Problem: problem_error,
    MetadataUnavailable: _unavailable("database"),
    StorageUnavailable: _unavailable("blob storage"),
    HTTPException: http_error,
    Exception: unexpected,
}
