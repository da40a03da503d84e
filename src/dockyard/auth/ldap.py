"""Username/password logins checked against an LDAP directory (OpenLDAP, 389 DS, AD) with ldap3.

Two ways to find the person: `bind` builds their DN from a template and binds as it; `search`
binds as a service account, looks the username up, then binds as the DN it found. Groups come
from a search under `group_base_dn` and from `memberOf` on the user's entry, whichever exist.

ldap3 is blocking, so each login runs in a worker thread with its own connections.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from pathlib import Path
from typing import Any, Literal, Self

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPExceptionError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dockyard.auth.identity import ExternalIdentity, IdentitySourceUnavailable

log = logging.getLogger(__name__)

# Result codes that say "ask again later / fix the server", not "wrong password".
_UNAVAILABLE_CODES: dict[int | None, str] = {
    13: "confidentiality required (use ldaps:// or start_tls)",
    51: "busy",
    52: "unavailable",
    80: "other (server-side error)",
}
_PLACEHOLDER = re.compile(r"\{(username|user_dn)\}")
_DN_ESCAPE = re.compile(rb"\\([0-9A-Fa-f]{2}|.)", re.DOTALL)


class LdapConfig(BaseModel):
    """`auth: ldap:` in the settings file."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        pattern=r"^ldaps?://",
        description="ldap://host[:port] or ldaps://host[:port] (LDAP over TLS, port 636)",
    )
    start_tls: bool = Field(False, description="upgrade an ldap:// connection with StartTLS")
    verify_tls: bool = Field(True, description="check the server certificate and its name")
    ca_file: Path | None = Field(
        None, description="PEM bundle of CAs to trust; default: the system's trust store"
    )
    mode: Literal["bind", "search"] = Field(
        "search",
        description="bind: bind directly as user_dn_template; search: find the user's DN "
        "with the service account first",
    )
    user_dn_template: str | None = Field(
        None, description="bind mode: e.g. uid={username},ou=people,dc=example,dc=org"
    )
    bind_dn: str | None = Field(
        None, description="search mode: service account DN; unset = anonymous search"
    )
    bind_password: str | None = Field(None, repr=False, description="service account password")
    user_base_dn: str | None = Field(
        None, description="search mode: where users live, e.g. ou=people,dc=example,dc=org"
    )
    user_filter: str = Field(
        "(uid={username})",
        description="search mode: filter finding exactly one user; (sAMAccountName={username}) "
        "for Active Directory",
    )
    username_attribute: str = Field("uid", description="the username Dockyard shows")
    email_attribute: str = Field("mail", description="e-mail address attribute")
    display_name_attribute: str = Field("displayName", description="full name attribute")
    group_base_dn: str | None = Field(
        None, description="where groups live; unset = no group search (memberOf only)"
    )
    group_filter: str = Field(
        "(|(member={user_dn})(uniqueMember={user_dn})(memberUid={username}))",
        description="groups the user belongs to; {user_dn} and {username} are filled in",
    )
    group_name_attribute: str = Field("cn", description="the group name Dockyard maps to roles")
    member_of_attribute: str | None = Field(
        "memberOf", description="group DNs on the user entry (AD, memberof overlay); null = off"
    )
    # Whole seconds: ldap3 packs the receive timeout into SO_RCVTIMEO as an integer.
    timeout_seconds: int = Field(
        5, ge=1, le=120, description="connect timeout and wait for each LDAP response"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.start_tls and self.url.startswith("ldaps://"):
            raise ValueError("start_tls is for ldap:// URLs; ldaps:// is TLS already")
        if self.mode == "bind" and "{username}" not in (self.user_dn_template or ""):
            raise ValueError("mode bind needs user_dn_template containing {username}")
        if self.mode == "search":
            if not self.user_base_dn or "{username}" not in self.user_filter:
                raise ValueError("mode search needs user_base_dn and a user_filter with {username}")
            if self.bind_dn and not self.bind_password:
                # An empty password would make this an unauthenticated (anonymous) bind.
                raise ValueError("bind_dn needs bind_password")
        return self


class LdapAuthenticator:
    """Checks a username and password against the directory; see `LdapConfig`."""

    source = "ldap"

    def __init__(self, config: LdapConfig) -> None:
        self.config = config

    async def authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        """The person, or None when the directory refuses the credentials.

        Raises IdentitySourceUnavailable when the directory cannot be reached or answers with
        something other than yes or no (timeout, TLS failure, busy, broken service account)."""
        # An empty password turns a simple bind into an "unauthenticated bind", which many
        # servers answer with success: it must never reach the server.
        if not username or not password:
            return None
        return await asyncio.to_thread(self._authenticate, username, password)

    def _authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        try:
            if self.config.mode == "bind":
                return self._bind_mode(username, password)
            return self._search_mode(username, password)
        except LDAPExceptionError as exc:
            raise self._unavailable(f"{type(exc).__name__}: {exc}") from exc

    def _unavailable(self, reason: str) -> IdentitySourceUnavailable:
        log.warning("LDAP server %s unavailable: %s", self.config.url, reason)
        return IdentitySourceUnavailable(f"LDAP server {self.config.url}: {reason}")

    def _check_available(self, result: dict[str, Any], operation: str) -> None:
        if (code := result.get("result")) in _UNAVAILABLE_CODES:
            message = result.get("message") or ""
            raise self._unavailable(f"{operation}: {_UNAVAILABLE_CODES[code]} {message}".strip())

    def _bind_mode(self, username: str, password: str) -> ExternalIdentity | None:
        assert self.config.user_dn_template is not None
        dn = _fill(self.config.user_dn_template, username=escape_rdn(username))
        conn = self._bind(dn, password)
        if conn is None:
            return None
        try:
            entries = self._search(conn, dn, "(objectClass=*)", self._user_attributes(), 1, "BASE")
            # The entry may be unreadable to its owner (ACLs); the bind alone proves the login.
            attrs = entries[0][1] if entries else {}
            return self._identity(conn, dn, attrs, username)
        finally:
            conn.unbind()

    def _search_mode(self, username: str, password: str) -> ExternalIdentity | None:
        config = self.config
        assert config.user_base_dn is not None
        service = self._bind(config.bind_dn, config.bind_password)
        if service is None:
            raise self._unavailable(f"service account {config.bind_dn} refused; check bind_dn")
        try:
            query = _fill(config.user_filter, username=escape_filter_chars(username))
            entries = self._search(service, config.user_base_dn, query, self._user_attributes(), 2)
            if len(entries) != 1:
                if entries:
                    log.warning("LDAP user_filter matched several entries for %r", username)
                return None
            dn, attrs = entries[0]
            user = self._bind(dn, password)
            if user is None:
                return None
            user.unbind()
            return self._identity(service, dn, attrs, username)
        finally:
            service.unbind()

    def _bind(self, dn: str | None, password: str | None) -> ldap3.Connection | None:
        """A bound connection, or None when the server refuses these credentials."""
        if dn is not None and not password:
            return None  # never an unauthenticated bind, whoever the caller
        conn = ldap3.Connection(
            self._server(),
            user=dn,
            password=password,
            authentication=ldap3.SIMPLE if dn is not None else ldap3.ANONYMOUS,
            raise_exceptions=False,
            read_only=True,
            receive_timeout=self.config.timeout_seconds,
            auto_referrals=False,  # never send the password to a server the config didn't name
        )
        conn.open()
        if self.config.start_tls and not conn.start_tls():
            conn.unbind()
            raise self._unavailable(f"StartTLS failed: {conn.result.get('description')}")
        if conn.bind():
            return conn
        conn.unbind()
        self._check_available(conn.result, "bind")
        if (code := conn.result.get("result")) != 49:  # 49 = invalidCredentials: a plain no
            log.warning("LDAP bind as %s refused: %s %s", dn, code, conn.result.get("message"))
        return None

    def _server(self) -> ldap3.Server:
        tls = None
        if self.config.start_tls or self.config.url.startswith("ldaps://"):
            ca_file = str(self.config.ca_file) if self.config.ca_file else None
            validate = ssl.CERT_REQUIRED if self.config.verify_tls else ssl.CERT_NONE
            tls = ldap3.Tls(validate=validate, ca_certs_file=ca_file)
        return ldap3.Server(
            self.config.url,
            tls=tls,
            connect_timeout=self.config.timeout_seconds,
            get_info=ldap3.NONE,  # no schema: unknown attribute names are then just absent
        )

    def _search(
        self, conn: ldap3.Connection, base: str, query: str, attributes: list[str],
        limit: int, scope: Literal["BASE", "SUBTREE"] = "SUBTREE",
    ) -> list[tuple[str, dict[str, list[Any]]]]:  # fmt: skip
        conn.search(base, query, scope, attributes=attributes, size_limit=limit)
        self._check_available(conn.result, "search")
        # 4 = sizeLimitExceeded still returns the first entries, which is what we asked for.
        if conn.result.get("result") not in (0, 4, 32):  # 32 = noSuchObject: an empty answer
            log.warning("LDAP search under %s failed: %s", base, conn.result.get("description"))
        return [
            (item["dn"], {k.lower(): _as_list(v) for k, v in item["attributes"].items()})
            for item in conn.response or []
            if item.get("type") == "searchResEntry"
        ]

    def _user_attributes(self) -> list[str]:
        config = self.config
        names = [config.username_attribute, config.email_attribute, config.display_name_attribute]
        return [*names, config.member_of_attribute] if config.member_of_attribute else names

    def _identity(
        self, conn: ldap3.Connection, dn: str, attrs: dict[str, list[Any]], typed: str
    ) -> ExternalIdentity:
        config = self.config
        # The directory's spelling, not what was typed (uid matching ignores case).
        username = _first(attrs, config.username_attribute) or typed
        groups = self._member_of_groups(attrs) | self._searched_groups(conn, dn, username)
        return ExternalIdentity(
            source=self.source,
            subject=dn,
            username=username,
            email=_first(attrs, config.email_attribute),
            display_name=_first(attrs, config.display_name_attribute),
            groups=tuple(sorted(groups)),
        )

    def _searched_groups(self, conn: ldap3.Connection, dn: str, username: str) -> set[str]:
        config = self.config
        if not config.group_base_dn:
            return set()
        escaped = {"user_dn": escape_filter_chars(dn), "username": escape_filter_chars(username)}
        query = _fill(config.group_filter, **escaped)
        entries = self._search(conn, config.group_base_dn, query, [config.group_name_attribute], 0)
        name = config.group_name_attribute.lower()
        return {str(value) for _, attrs in entries for value in attrs.get(name, [])}

    def _member_of_groups(self, attrs: dict[str, list[Any]]) -> set[str]:
        """Group names from memberOf DNs: the first RDN's value, when it is the group name
        attribute and (if group_base_dn is set) the group lives under it."""
        config = self.config
        if not config.member_of_attribute:
            return set()
        base = _dn_key(parse_dn(config.group_base_dn, strip=True)) if config.group_base_dn else ()
        name_attribute = config.group_name_attribute.lower()
        groups = set()
        for group_dn in attrs.get(config.member_of_attribute.lower(), []):
            try:
                rdns = parse_dn(str(group_dn), strip=True)
            except LDAPException:
                continue  # not a DN: nothing to map
            if not rdns or rdns[0][0].lower() != name_attribute:
                continue
            if base and _dn_key(rdns)[-len(base) :] != base:
                continue
            groups.add(_unescape_dn_value(rdns[0][1]))
        return groups


def _fill(template: str, **values: str) -> str:
    """One pass, so a value that contains "{username}" is never substituted again."""
    return _PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), template)


def _dn_key(rdns: list[tuple[str, str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((attr.lower(), value.lower()) for attr, value, _ in rdns)


def _unescape_dn_value(value: str) -> str:
    def one(match: re.Match[bytes]) -> bytes:
        return bytes([int(match[1], 16)]) if len(match[1]) == 2 else match[1]

    return _DN_ESCAPE.sub(one, value.encode()).decode(errors="replace")


def _as_list(value: Any) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in values]


def _first(attrs: dict[str, list[Any]], name: str) -> str | None:
    values = attrs.get(name.lower())
    return str(values[0]) if values else None
