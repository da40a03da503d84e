"""What an external identity source (LDAP, OIDC, SAML) tells Dockyard about a person."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExternalIdentity:
    """A person as an identity source vouches for them, after a successful login.

    `subject` is the source's stable identifier (an LDAP DN, an OIDC `sub`, a SAML NameID);
    `username` is what the person types and what Dockyard shows. Groups are the source's group
    names, mapped to project roles by Dockyard, never trusted as Dockyard roles directly.
    """

    source: str
    subject: str
    username: str
    email: str | None = None
    display_name: str | None = None
    groups: tuple[str, ...] = field(default_factory=tuple)


class IdentitySourceUnavailable(Exception):
    """The identity source could not be reached; the login is neither accepted nor refused."""


class IdentityRejected(Exception):
    """The identity source answered, but what it sent cannot be trusted (bad signature, replay,
    wrong audience, expired assertion). The message says why, without secrets."""
