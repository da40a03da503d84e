"""What every remote command shares: which registry it talks to (`--registry URL`, else the last
one logged in to), TLS (`--insecure`), confirmation before deleting, secrets read from the
terminal or stdin, lists fetched page by page, and failures printed as one line on stderr with
a documented exit code (dockyard.cli.client)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer

from dockyard.cli.client import FAILED, NOT_LOGGED_IN, USAGE, Api, RemoteError, not_logged_in
from dockyard.cli.credentials import (
    CredentialsError,
    CredentialStore,
    Login,
    default_path,
    normalize_url,
)
from dockyard.cli.output import Output, note

RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry", metavar="URL", help="registry to use (default: the last one logged in to)"
    ),
]
InsecureOption = Annotated[
    bool, typer.Option("--insecure", help="do not verify the registry's TLS certificate")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
LimitOption = Annotated[int, typer.Option("--limit", min=1, help="show at most this many")]

PAGE = 1000  # the management API's largest page


def fail(message: str, code: int = FAILED) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def credential_store() -> CredentialStore:
    return CredentialStore(default_path())


@contextmanager
def failures() -> Iterator[None]:
    """Turn the errors of a remote command into one line on stderr and its exit code."""
    try:
        yield
    except RemoteError as exc:
        fail(exc.message, exc.exit_code)
    except CredentialsError as exc:
        fail(str(exc))


def stored_login(registry: str | None) -> Login:
    with failures():
        login = credential_store().get(registry)
    if login is not None:
        return login
    if registry:
        fail(not_logged_in(normalize_url(registry)).message, NOT_LOGGED_IN)
    fail("not logged in to any registry, run `dockyard login URL`", NOT_LOGGED_IN)


@contextmanager
def connect(registry: str | None, insecure: bool) -> Iterator[Api]:
    """The management API of `registry` (or the current one) with the stored credentials."""
    login = stored_login(registry)
    auth = (login.username, login.secret)
    with failures(), Api(login.url, auth, insecure or login.insecure) as api:
        yield api


def confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} Pass --yes to confirm without a terminal.", USAGE)
    if not typer.confirm(question, default=False):
        fail("cancelled; nothing changed")


def delete_confirmed(what: str, path: str, yes: bool, registry: str | None, insecure: bool) -> None:
    """Ask (unless --yes), delete `path` on the API, and say so."""
    confirm(f"Delete {what}?", yes)
    with connect(registry, insecure) as api:
        api.delete(path)
    typer.echo(f"Deleted {what}.")


def read_secret(prompt: str, from_stdin: bool, twice: bool = False) -> str:
    """A password from the first line of stdin, or asked for on the terminal (never echoed)."""
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            fail("expected the password on stdin, found nothing", USAGE)
        return value
    if not sys.stdin.isatty():
        fail("no terminal to ask for the password on; pass --password-stdin", USAGE)
    value = getpass.getpass(f"{prompt}: ")
    if twice and value != getpass.getpass("Again: "):
        fail("the passwords differ; nothing changed", USAGE)
    if not value:
        fail("an empty password; nothing changed", USAGE)
    return value


def collect(
    api: Api,
    path: str,
    key: str,
    limit: int,
    params: dict[str, Any] | None = None,
    cursor: tuple[str, str] | None = ("last", "name"),
) -> tuple[dict[str, Any], bool]:
    """Up to `limit` items of a list the API answers as `{key: [...]}`, a page at a time.
    Returns the API's shape holding every page's items, and whether more remain.

    `cursor` names the query parameter that continues a list and the field of the last item it
    takes. None: the list answers `next_last` and continues from `last=<next_last>`; the result
    keeps the last `next_last`, so a script can carry on from there."""
    if cursor is None:
        return _collect_next_last(api, path, key, limit, params or {})
    param, field = cursor
    items: list[dict[str, Any]] = []
    want = limit + 1  # one item more than asked for tells whether more remain
    after: Any = None
    while len(items) < want:
        size = min(PAGE, want - len(items))
        page = api.get(path, {**(params or {}), "limit": size, param: after})[key]
        items += page
        if len(page) < size:
            break
        after = page[-1][field]
    return {key: items[:limit]}, len(items) > limit


def _collect_next_last(
    api: Api, path: str, key: str, limit: int, params: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        size = min(PAGE, limit - len(items))
        body = api.get(path, {**params, "limit": size, "last": after})
        items += body[key]
        after = body.get("next_last")
        if after is None or len(items) >= limit:
            return {key: items, "next_last": after}, after is not None


def more_note(output: Output, more: bool, limit: int) -> None:
    if more and output is Output.TABLE:
        note(f"showing the first {limit}; pass --limit for more")
