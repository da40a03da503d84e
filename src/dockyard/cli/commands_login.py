"""`dockyard login URL` and `dockyard logout`.

A password login is checked against GET /api/v1/me and then traded for a personal access token
named `dockyard-cli@<hostname>`, which is what the credentials file keeps: the password is never
stored, and `dockyard logout` revokes the token. A personal access token or a robot secret given
as the password is stored as it is (and not revoked at logout: the CLI did not create it)."""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from typing import Annotated, Any

import typer

from dockyard.auth.secrets import split_access_token
from dockyard.cli.client import USAGE, Api, RemoteError, segment
from dockyard.cli.credentials import CredentialsError, Login, normalize_url
from dockyard.cli.output import note
from dockyard.cli.remote import (
    InsecureOption,
    RegistryOption,
    credential_store,
    fail,
    failures,
    read_secret,
)


def token_name() -> str:
    return f"dockyard-cli@{socket.gethostname()}"[:100]


def _ask_username(username: str | None, password_stdin: bool) -> str:
    if username:
        return username
    if password_stdin or not sys.stdin.isatty():
        fail("give --username (there is no terminal to ask on)", USAGE)
    return str(typer.prompt("Username"))


def _credential(api: Api, url: str, me: dict[str, Any], password: str, insecure: bool) -> Login:
    """What to keep for this login: a new personal access token whenever the registry gives
    one, else what the user typed."""
    username = str(me["username"])
    base = {"url": url, "username": username, "insecure": insecure, "logged_in_at": time.time()}
    if me.get("kind") != "user":
        return Login(kind="robot", secret=password, **base)
    if (given := split_access_token(password)) is not None:
        return Login(kind="token", secret=password, token_id=given[0], **base)
    try:
        token = api.post("/me/tokens", {"name": token_name()})
    except RemoteError as exc:
        if exc.status is None:
            raise
        note(
            f"warning: {url} did not issue a personal access token ({exc.message}); "
            "keeping the password in the credentials file instead"
        )
        return Login(kind="password", secret=password, **base)
    return Login(
        kind="token", secret=token["token"], token_id=token["id"], revoke_on_logout=True, **base
    )


def _revoke(login: Login | None) -> None:
    """Revoke a token the CLI made, with itself, when it is no longer kept (best effort: gone
    already, or expired, is just as good)."""
    if login is None or not login.revoke_on_logout or login.token_id is None:
        return
    auth = (login.username, login.secret)
    with Api(login.url, auth, login.insecure, False) as api, contextlib.suppress(RemoteError):
        api.delete(f"/me/tokens/{segment(login.token_id)}")


def login(
    url: Annotated[str, typer.Argument(help="the registry, e.g. https://registry.example.com")],
    username: Annotated[str | None, typer.Option("--username", "-u")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    insecure: InsecureOption = False,
) -> None:
    """Log in to a registry; later commands use it.

    The password is checked, then traded for a personal access token, which is what the
    credentials file keeps (docs/cli.md)."""
    with failures():
        url = normalize_url(url)
        store = credential_store()
        previous = store.get(url)  # and a broken credentials file shows before any prompt
        user = _ask_username(username, password_stdin)
        password = read_secret("Password", password_stdin)
        with Api(url, (user, password), insecure, explain_401=False) as api:
            try:
                me = api.get("/me")
            except RemoteError as exc:
                if exc.status is None:
                    raise
                fail(f"login to {url} failed: {exc.message}")
            found = _credential(api, url, me, password, insecure)
        try:
            store.put(found)
        except CredentialsError:
            _revoke(found)  # a token nobody keeps must not stay valid
            raise
        if previous is not None and previous.token_id != found.token_id:
            _revoke(previous)  # the token this login replaces
    kept = {"token": "a personal access token", "robot": "the robot secret"}
    typer.echo(f"Logged in to {url} as {found.username}.")
    note(f"Kept {kept.get(found.kind, 'the password')} in {store.path}.")


def logout(registry: RegistryOption = None, insecure: InsecureOption = False) -> None:
    """Forget a registry and revoke the token `dockyard login` made for it.

    Without --registry: the current registry."""
    with failures():
        store = credential_store()
        found = store.get(registry)
        if found is None:
            where = normalize_url(registry) if registry else "any registry"
            note(f"not logged in to {where}")
            return
        problem = None
        if found.revoke_on_logout and found.token_id:
            auth = (found.username, found.secret)
            with Api(found.url, auth, insecure or found.insecure, explain_401=False) as api:
                try:
                    api.delete(f"/me/tokens/{segment(found.token_id)}")
                except RemoteError as exc:
                    if exc.status not in (401, 404):  # 401/404: the token is gone already
                        problem = exc.message
        store.remove(found.url)
    typer.echo(f"Logged out of {found.url}.")
    if problem:
        fail(
            f"could not revoke the access token {found.token_id}: {problem}; revoke it with "
            f"`dockyard token revoke {found.token_id}` once logged in again"
        )
