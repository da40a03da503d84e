"""LDAP logins against a real OpenLDAP slapd: both modes, groups, TLS, injection, outages."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from dockyard.auth.identity import IdentitySourceUnavailable
from dockyard.auth.ldap import LdapAuthenticator, LdapConfig
from dockyard.testing.slapd import LdapServer, free_port, slapd_binary, slapd_server
from tests.conftest import service_missing

pytestmark = pytest.mark.anyio

MODES = ["bind", "search"]
INJECTIONS = [
    "*",
    "a*",
    "alice*",
    "alice)(uid=*",
    "*)(|(uid=*",
    "*)(uid=*))(|(uid=*",
    "alice)(|(objectClass=*)",
    "alice\x00",
    "alice,ou=people,dc=example,dc=org",
    "alice+cn=Alice A.",
    "*,ou=people,dc=example,dc=org",
    "uid=alice,ou=people,dc=example,dc=org",
]


@pytest.fixture(scope="module")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    if slapd_binary() is None:
        service_missing("slapd (Debian package slapd)")
    with slapd_server(tmp_path_factory.mktemp("slapd")) as server:
        yield server


def config(server: LdapServer, mode: str = "search", **overrides: Any) -> LdapConfig:
    values: dict[str, Any] = {
        "url": server.url,
        "mode": mode,
        "group_base_dn": server.groups_dn,
        "timeout_seconds": 2,
    }
    if mode == "bind":
        values["user_dn_template"] = f"uid={{username}},{server.people_dn}"
    else:
        values |= {
            "bind_dn": server.service_dn,
            "bind_password": server.service_password,
            "user_base_dn": server.people_dn,
        }
    return LdapConfig(**(values | overrides))


def authenticator(server: LdapServer, mode: str = "search", **overrides: Any) -> LdapAuthenticator:
    return LdapAuthenticator(config(server, mode, **overrides))


@pytest.mark.parametrize("mode", MODES)
async def test_login_maps_subject_email_display_name_and_groups(
    ldap_server: LdapServer, mode: str
) -> None:
    alice = ldap_server.users["alice"]
    identity = await authenticator(ldap_server, mode).authenticate("alice", alice.password)
    assert identity is not None
    assert identity.source == "ldap"
    assert identity.subject == alice.dn
    assert identity.username == "alice"
    assert identity.email == "alice@example.org"
    assert identity.display_name == "Alice A."
    assert identity.groups == ("developers",)


@pytest.mark.parametrize("mode", MODES)
async def test_groups_by_member_dn_and_by_member_uid(ldap_server: LdapServer, mode: str) -> None:
    ldap = authenticator(ldap_server, mode)
    bob = await ldap.authenticate("bob", ldap_server.users["bob"].password)
    carol = await ldap.authenticate("carol", ldap_server.users["carol"].password)
    assert bob is not None and bob.groups == ("developers", "ops")  # ops is a posixGroup
    assert carol is not None and carol.groups == ("admins", "qa, europe")


async def test_groups_from_member_of_alone(ldap_server: LdapServer) -> None:
    ldap = authenticator(ldap_server, group_base_dn=None)
    bob = await ldap.authenticate("bob", ldap_server.users["bob"].password)
    carol = await ldap.authenticate("carol", ldap_server.users["carol"].password)
    # The memberof overlay only tracks groupOfNames, so the posixGroup is not there.
    assert bob is not None and bob.groups == ("developers",)
    assert carol is not None and carol.groups == ("admins", "qa, europe")  # DN unescaped


async def test_groups_from_search_alone(ldap_server: LdapServer) -> None:
    ldap = authenticator(ldap_server, member_of_attribute=None)
    bob = await ldap.authenticate("bob", ldap_server.users["bob"].password)
    assert bob is not None and bob.groups == ("developers", "ops")


async def test_member_of_outside_group_base_dn_is_ignored(ldap_server: LdapServer) -> None:
    ldap = authenticator(ldap_server, group_base_dn=f"ou=elsewhere,{ldap_server.base_dn}")
    alice = await ldap.authenticate("alice", ldap_server.users["alice"].password)
    assert alice is not None and alice.groups == ()


async def test_username_is_the_directory_spelling(ldap_server: LdapServer) -> None:
    identity = await authenticator(ldap_server).authenticate("ALICE", "alice-pw")
    assert identity is not None
    assert identity.username == "alice"
    assert identity.subject == ldap_server.users["alice"].dn


@pytest.mark.parametrize("mode", MODES)
async def test_wrong_password_is_refused(ldap_server: LdapServer, mode: str) -> None:
    ldap = authenticator(ldap_server, mode)
    assert await ldap.authenticate("alice", "wrong") is None
    assert await ldap.authenticate("alice", ldap_server.users["bob"].password) is None


@pytest.mark.parametrize("mode", MODES)
async def test_unknown_user_is_refused(ldap_server: LdapServer, mode: str) -> None:
    assert await authenticator(ldap_server, mode).authenticate("mallory", "alice-pw") is None


def test_the_server_accepts_unauthenticated_binds(ldap_server: LdapServer) -> None:
    """The premise of the next test: an empty password would "succeed" on this server (ldap3
    refuses to send one itself, so ask ldapwhoami)."""
    if shutil.which("ldapwhoami") is None:
        pytest.skip("ldapwhoami (Debian package ldap-utils) is not installed")
    dn = ldap_server.users["alice"].dn
    whoami = ["ldapwhoami", "-x", "-H", ldap_server.url, "-D", dn, "-w", ""]
    result = subprocess.run(whoami, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "anonymous"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("username", ["alice", "", "mallory"])
async def test_empty_password_never_succeeds(
    ldap_server: LdapServer, mode: str, username: str
) -> None:
    assert await authenticator(ldap_server, mode).authenticate(username, "") is None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("username", INJECTIONS)
async def test_injection_never_logs_anyone_in(
    ldap_server: LdapServer, mode: str, username: str
) -> None:
    ldap = authenticator(ldap_server, mode)
    for user in ldap_server.users.values():
        assert await ldap.authenticate(username, user.password) is None


async def test_ambiguous_user_filter_logs_no_one_in(ldap_server: LdapServer) -> None:
    ldap = authenticator(ldap_server, user_filter="(|(uid={username})(objectClass=person))")
    assert await ldap.authenticate("alice", "alice-pw") is None


async def test_anonymous_search_sees_nothing_here(ldap_server: LdapServer) -> None:
    # This server's ACLs hide entries from anonymous searches: unknown user, not an outage.
    ldap = authenticator(ldap_server, bind_dn=None, bind_password=None)
    assert await ldap.authenticate("alice", "alice-pw") is None


async def test_refused_service_account_is_an_outage_not_a_wrong_password(
    ldap_server: LdapServer,
) -> None:
    ldap = authenticator(ldap_server, bind_password="not-the-service-password")
    with pytest.raises(IdentitySourceUnavailable, match="service account"):
        await ldap.authenticate("alice", "alice-pw")


@pytest.mark.parametrize("mode", MODES)
async def test_closed_port_is_unavailable(ldap_server: LdapServer, mode: str) -> None:
    ldap = authenticator(ldap_server, mode, url=f"ldap://127.0.0.1:{free_port()}")
    with pytest.raises(IdentitySourceUnavailable):
        await ldap.authenticate("alice", "alice-pw")


async def test_server_that_never_answers_times_out(ldap_server: LdapServer) -> None:
    with socket.socket() as silent:  # the kernel completes the handshake; no one ever reads
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        ldap = authenticator(ldap_server, url=url, timeout_seconds=1)
        started = time.monotonic()
        with pytest.raises(IdentitySourceUnavailable):
            await ldap.authenticate("alice", "alice-pw")
    assert time.monotonic() - started < 5  # generous: the point is "not ldap3's default"


async def test_stopped_server_is_unavailable_until_it_is_back(tmp_path: Path) -> None:
    if slapd_binary() is None:
        service_missing("slapd (Debian package slapd)")
    with slapd_server(tmp_path) as server:
        ldap = authenticator(server)
        assert await ldap.authenticate("alice", "alice-pw") is not None
        server.stop()
        with pytest.raises(IdentitySourceUnavailable):
            await ldap.authenticate("alice", "alice-pw")
        server.start()
        assert await ldap.authenticate("alice", "alice-pw") is not None


@pytest.mark.parametrize("mode", MODES)
async def test_start_tls(ldap_server: LdapServer, mode: str) -> None:
    ldap = authenticator(ldap_server, mode, start_tls=True, ca_file=ldap_server.ca_file)
    assert await ldap.authenticate("alice", "alice-pw") is not None


async def test_ldaps(ldap_server: LdapServer) -> None:
    ldap = authenticator(ldap_server, url=ldap_server.ldaps_url, ca_file=ldap_server.ca_file)
    assert await ldap.authenticate("alice", "alice-pw") is not None


@pytest.mark.parametrize("tls", ["ldaps", "start_tls"])
async def test_untrusted_certificate_is_unavailable(ldap_server: LdapServer, tls: str) -> None:
    ldap = (
        authenticator(ldap_server, url=ldap_server.ldaps_url)
        if tls == "ldaps"
        else authenticator(ldap_server, start_tls=True)
    )
    with pytest.raises(IdentitySourceUnavailable):
        await ldap.authenticate("alice", "alice-pw")


async def test_unverified_tls_when_asked(ldap_server: LdapServer) -> None:
    ldap = authenticator(ldap_server, url=ldap_server.ldaps_url, verify_tls=False)
    assert await ldap.authenticate("alice", "alice-pw") is not None


async def test_passwords_are_never_logged(
    ldap_server: LdapServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ldap = authenticator(ldap_server, user_filter="(|(uid={username})(objectClass=person))")
    await ldap.authenticate("alice", "alice-pw")
    await authenticator(ldap_server, "bind").authenticate("alice", "alice-pw")
    await authenticator(ldap_server, "bind").authenticate("alice", "guess-pw")
    with pytest.raises(IdentitySourceUnavailable):
        await authenticator(ldap_server, bind_password="svc-guess").authenticate("bob", "bob-pw")
    assert caplog.records  # the ambiguous filter and the refused service account were logged
    for secret in ("alice-pw", "guess-pw", "svc-guess", "bob-pw", ldap_server.service_password):
        assert secret not in caplog.text


def test_config_hides_the_service_password(ldap_server: LdapServer) -> None:
    assert ldap_server.service_password not in repr(config(ldap_server))


@pytest.mark.parametrize(
    "values",
    [
        {"url": "ldap://x", "mode": "bind"},  # no user_dn_template
        {"url": "ldap://x", "mode": "bind", "user_dn_template": "uid=x,dc=org"},
        {"url": "ldap://x", "mode": "search"},  # no user_base_dn
        {"url": "ldap://x", "user_base_dn": "dc=org", "user_filter": "(uid=x)"},
        {"url": "ldap://x", "user_base_dn": "dc=org", "bind_dn": "cn=svc,dc=org"},
        {"url": "ldaps://x", "user_base_dn": "dc=org", "start_tls": True},
        {"url": "http://x", "user_base_dn": "dc=org"},
        {"url": "ldap://x", "user_base_dn": "dc=org", "bind_pasword": "typo"},
    ],
)
def test_config_refuses_inconsistent_settings(values: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        LdapConfig(**values)


def test_every_setting_is_documented() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "auth" / "ldap.md").read_text()
    for name in LdapConfig.model_fields:
        assert f"| `{name}` |" in docs, f"docs/auth/ldap.md does not describe {name}"
