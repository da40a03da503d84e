"""The management API client: every failure becomes one line that names the registry and
says what to do, with the exit code docs/cli.md lists."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable

import httpx
import pytest

from dockyard.cli.client import (
    FAILED,
    NOT_LOGGED_IN,
    UNREACHABLE,
    Api,
    RemoteError,
    _reason,
    segment,
)

URL = "https://registry.test"
Handler = Callable[[httpx.Request], httpx.Response]


def problem(status: int, detail: str, **headers: str) -> httpx.Response:
    body = {"type": "about:blank", "title": "t", "status": status, "detail": detail}
    return httpx.Response(
        status, json=body, headers={"content-type": "application/problem+json", **headers}
    )


def client(handler: Handler, explain_401: bool = True) -> Api:
    transport = httpx.MockTransport(handler)
    return Api(URL, ("alice", "dyp_x"), explain_401=explain_401, transport=transport)


def failure(answer: httpx.Response, explain_401: bool = True) -> RemoteError:
    """What `GET /api/v1/projects` raises when the registry answers `answer`."""
    with client(lambda _: answer, explain_401) as api, pytest.raises(RemoteError) as caught:
        api.get("/projects")
    return caught.value


def test_requests_go_to_api_v1_with_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    with client(handler) as api:
        assert api.get("/projects", {"last": None, "limit": 5}) == {"ok": True}
    assert str(seen[0].url) == f"{URL}/api/v1/projects?limit=5"
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_a_401_means_log_in_again() -> None:
    error = failure(problem(401, "invalid username or password"))
    assert error.exit_code == NOT_LOGGED_IN
    assert error.message == f"not logged in to {URL}, run `dockyard login {URL}`"


def test_login_reports_the_401_itself() -> None:
    error = failure(problem(401, "invalid username or password"), explain_401=False)
    assert error.message == "invalid username or password (401 Unauthorized)"
    assert error.status == 401


@pytest.mark.parametrize("status", [403, 404, 409, 422, 500])
def test_refusals_show_the_problem_detail(status: int) -> None:
    error = failure(problem(status, "what went wrong"))
    assert error.message.startswith("what went wrong (")
    assert str(status) in error.message
    assert (error.exit_code, error.status) == (FAILED, status)


def test_oci_errors_and_plain_text_are_shown_too() -> None:
    oci = {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]}
    assert failure(httpx.Response(404, json=oci)).message == "no such endpoint (404 Not Found)"
    plain = failure(httpx.Response(502, text="Bad gateway\n"))
    assert plain.message == "Bad gateway (502 Bad Gateway)"


def test_a_lockout_says_when_to_try_again() -> None:
    error = failure(problem(429, "too many failed logins", **{"retry-after": "60"}))
    assert error.message == "too many failed logins; try again in 60 s (429 Too Many Requests)"


def test_an_unreachable_registry_is_named_with_the_reason() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with Api(url, None) as api, pytest.raises(RemoteError) as caught:
        api.get("/projects")
    assert caught.value.message == f"cannot reach {url}: connection refused"
    assert caught.value.exit_code == UNREACHABLE


def test_an_untrusted_certificate_suggests_insecure() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate"
    error = httpx.ConnectError("handshake failed")
    error.__cause__ = cause
    assert _reason(error) == (
        "TLS certificate not trusted (self-signed certificate); pass --insecure to skip "
        "verification"
    )


def test_json_lines_stream() -> None:
    lines = [json.dumps({"id": n}) for n in (3, 2, 1)]
    body = "\n".join(lines) + "\n"
    handler: Handler = lambda _: httpx.Response(200, text=body)  # noqa: E731
    with client(handler) as api, api.stream("/audit/export") as got:
        assert list(got) == lines


def test_names_travel_as_one_path_segment() -> None:
    assert segment("robot$team+ci") == "robot%24team%2Bci"
    assert segment("team/app") == "team%2Fapp"


def test_something_other_than_json_is_named() -> None:
    handler: Handler = lambda _: httpx.Response(200, text="<html>a proxy</html>")  # noqa: E731
    with client(handler) as api, pytest.raises(RemoteError) as caught:
        api.get("/me")
    assert caught.value.message == (
        f"{URL} answered /api/v1/me with something other than JSON; is it a Dockyard registry?"
    )


def test_tls_to_a_plain_http_server_suggests_http() -> None:
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    cause.reason = "WRONG_VERSION_NUMBER"
    error = httpx.ConnectError("handshake failed")
    error.__context__ = cause
    assert _reason(error) == "it does not speak TLS there (a plain-HTTP registry? use http://)"
