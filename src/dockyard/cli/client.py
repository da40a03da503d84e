"""A small synchronous client for the management API (`/api/v1`), with errors a person can act
on: every failure becomes a `RemoteError` whose message names the registry and says what went
wrong (the problem+json `detail` of a refusal, the reason a connection failed)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx

# Exit codes (docs/cli.md): the registry refused or failed; usage; not logged in; unreachable.
FAILED = 1
USAGE = 2
NOT_LOGGED_IN = 3
UNREACHABLE = 4

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class RemoteError(Exception):
    def __init__(self, message: str, exit_code: int = FAILED, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status


def segment(value: str) -> str:
    """One path segment: `robot$team+ci` or `team/app` travel escaped."""
    return quote(value, safe="")


def not_logged_in(url: str) -> RemoteError:
    return RemoteError(
        f"not logged in to {url}, run `dockyard login {url}`", NOT_LOGGED_IN, status=401
    )


def _reason(exc: BaseException) -> str:
    """What went wrong under an httpx transport error, in a few lower-case words."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate not trusted ({current.verify_message}); "
                "pass --insecure to skip verification"
            )
        if isinstance(current, ssl.SSLError):
            if current.reason == "WRONG_VERSION_NUMBER":
                return "it does not speak TLS there (a plain-HTTP registry? use http://)"
            return f"TLS handshake failed ({(current.reason or 'unknown').replace('_', ' ')})"
        if isinstance(current, OSError) and current.strerror:
            return current.strerror[:1].lower() + current.strerror[1:]
        current = current.__cause__ or current.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def _detail(response: httpx.Response) -> str:
    """The problem+json `detail`, an OCI error's message, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str) and body["detail"]:
            return str(body["detail"])
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("code"))
    return response.text.strip()[:300]


def refusal(response: httpx.Response) -> RemoteError:
    detail = _detail(response)
    status = f"{response.status_code} {response.reason_phrase}".strip()
    retry = response.headers.get("retry-after")
    if retry:
        detail += f"; try again in {retry} s"
    return RemoteError(f"{detail} ({status})", FAILED, response.status_code)


class Api:
    """`GET /api/v1/projects` is `api.get("/projects")`: JSON in, JSON out.

    `auth` is (username, secret) sent as basic auth. A 401 means the stored login no longer
    works, so it reads "not logged in … run dockyard login" unless `explain_401` is False (the
    login command reports its own failures)."""

    def __init__(
        self,
        url: str,
        auth: tuple[str, str] | None,
        insecure: bool = False,
        explain_401: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.explain_401 = explain_401
        self._http = httpx.Client(
            base_url=f"{url}/api/v1",
            auth=auth,
            verify=not insecure,
            timeout=TIMEOUT,
            transport=transport,
            headers={"accept": "application/json"},
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.is_success:
            return response
        if response.status_code == 401 and self.explain_401:
            raise not_logged_in(self.url)
        raise refusal(response)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self._check(self._http.request(method, path, **options))
        except httpx.TransportError as exc:
            raise RemoteError(f"cannot reach {self.url}: {_reason(exc)}", UNREACHABLE) from None

    def _json(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise RemoteError(
                f"{self.url} answered {response.request.url.path} with something other than "
                "JSON; is it a Dockyard registry?"
            ) from None

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._json(self.request("GET", path, params=_clean(params)))

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._json(self.request("POST", path, json=body or {}))

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self._json(self.request("PATCH", path, json=body))

    def put(self, path: str, body: dict[str, Any] | None = None) -> None:
        self.request("PUT", path, **({} if body is None else {"json": body}))

    def delete(self, path: str) -> Any:
        """The answer's JSON, if any (most deletes answer 204 with none)."""
        return self._json(self.request("DELETE", path))

    @contextmanager
    def stream(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Iterator[str]]:
        """The lines of a long answer (JSON lines), read as they arrive."""
        try:
            with self._http.stream("GET", path, params=_clean(params)) as response:
                if not response.is_success:
                    response.read()
                    self._check(response)
                yield _lines(response, self.url)
        except httpx.TransportError as exc:
            raise RemoteError(f"cannot reach {self.url}: {_reason(exc)}", UNREACHABLE) from None


def _lines(response: httpx.Response, url: str) -> Iterator[str]:
    try:
        yield from (line for line in response.iter_lines() if line)
    except httpx.TransportError as exc:
        raise RemoteError(f"lost the connection to {url}: {_reason(exc)}", UNREACHABLE) from None


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in params.items() if v is not None} if params else None
