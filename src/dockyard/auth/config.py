"""Settings of access control (the `auth:` section of the settings file)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dockyard.auth.ldap import LdapConfig
from dockyard.auth.oidc import OidcConfig
from dockyard.auth.saml import SamlConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Argon2Settings(_Section):
    time_cost: int = Field(3, ge=1, description="argon2id iterations")
    memory_kib: int = Field(65536, ge=1024, description="argon2id memory in KiB")
    parallelism: int = Field(4, ge=1)


class AuthSettings(_Section):
    service: str = Field("dockyard", description="token audience; clients echo it back")
    issuer: str = Field("dockyard", description="the `iss` of registry tokens")
    public_url: str | None = Field(
        None,
        description="the URL people and clients reach Dockyard at (behind a proxy); "
        "default: taken from each request",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="load balancers (addresses or CIDRs) whose X-Forwarded-For is believed",
    )
    realm: str | None = Field(
        None,
        description="token endpoint URL announced to clients; default <request base URL>/token",
    )
    token_ttl_seconds: int = Field(300, ge=30, le=3600, description="registry token lifetime")
    refresh_token_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=300, description="lifetime of refresh tokens (docker login)"
    )
    users_can_create_projects: bool = Field(
        False, description="let every user create projects (admins always can)"
    )
    admin_groups: list[str] = Field(
        default_factory=list, description="members of these groups are system admins"
    )
    max_failed_logins_per_user: int = Field(5, ge=1)
    max_failed_logins_per_address: int = Field(20, ge=1)
    failed_login_window_seconds: int = Field(300, ge=1)
    lockout_seconds: int = Field(300, ge=1)
    password_cache_seconds: float = Field(
        60.0, ge=0, description="how long a verified password is remembered (argon2 is slow)"
    )
    argon2: Argon2Settings = Argon2Settings()
    session_hours: int = Field(8, ge=1, le=24 * 30, description="dashboard session lifetime")
    oidc: OidcConfig | None = Field(
        None, description="single sign-on with OIDC (docs/auth/oidc.md)"
    )
    saml: SamlConfig | None = Field(
        None, description="single sign-on with SAML 2.0 (docs/auth/saml.md)"
    )
    ldap: LdapConfig | None = Field(
        None, description="log in with LDAP passwords (docs/auth/ldap.md)"
    )
