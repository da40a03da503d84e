"""Turning credentials into a principal: passwords (local or LDAP), personal access tokens,
robot secrets, registry tokens. Failures are counted and audited; nothing secret is logged."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Protocol

from dockyard.auth import secrets
from dockyard.auth.access import AccessControl, robot_usable
from dockyard.auth.identity import ExternalIdentity, IdentitySourceUnavailable
from dockyard.auth.passwords import Passwords, SecretKeyedCache
from dockyard.auth.principal import Kind, Principal, TokenAccess
from dockyard.auth.throttle import LoginThrottle
from dockyard.auth.tokens import InvalidToken, TokenService
from dockyard.errors import Code, RegistryError
from dockyard.meta.auth_records import NewUser, UserRecord
from dockyard.meta.base import MetadataStore, Transaction

ROBOT_PREFIX = "robot$"
BAD_CREDENTIALS = "invalid username or password"


class PasswordSource(Protocol):
    """An identity source that checks a user name and password (LDAP)."""

    source: str

    async def authenticate(self, username: str, password: str) -> ExternalIdentity | None: ...


class Authenticator:
    def __init__(
        self,
        store: MetadataStore,
        access: AccessControl,
        passwords: Passwords,
        throttle: LoginThrottle,
        tokens: TokenService,
        password_source: PasswordSource | None = None,
    ) -> None:
        self._store = store
        self._access = access
        self._passwords = passwords
        self.throttle = throttle
        self._tokens = tokens
        self._source = password_source
        # Who a name and password proved, and their token version then. Clients that send
        # basic credentials with every request would otherwise cost a throttle check and the
        # user's groups each time, and an LDAP user a directory round trip per token request.
        self._recent: SecretKeyedCache[tuple[Principal, int]] = SecretKeyedCache(
            passwords.cache_seconds
        )

    async def basic(
        self, username: str, password: str, address: str | None, audit_success: bool
    ) -> Principal:
        if "\x00" in username or len(username) > 255:
            # No account has such a name; a database would refuse to even look it up.
            raise RegistryError(Code.UNAUTHORIZED, BAD_CREDENTIALS)
        recent = self._recent.get(username, password)
        if recent is not None and not audit_success:
            current = await self._current(*recent)
            if current is not None:
                return current
        lockout = await self.throttle.check(username, address)
        if lockout is not None:
            await self._access.audit.write(
                "login", username, "locked", principal=_named(username), address=address
            )
            raise RegistryError(
                Code.TOOMANYREQUESTS,
                lockout.message,
                headers={"Retry-After": str(lockout.retry_after)},
            )
        principal, reason = await self._check(username, password)
        if principal is None:
            await self._access.audit.write(
                "login", username, "failed", {"reason": reason}, _named(username), address
            )
            caused = await self.throttle.failed(username, address)
            if caused is not None:
                raise RegistryError(
                    Code.TOOMANYREQUESTS,
                    caused.message,
                    headers={"Retry-After": str(caused.retry_after)},
                )
            raise RegistryError(Code.UNAUTHORIZED, BAD_CREDENTIALS)
        await self.throttle.succeeded(username)
        if principal.kind is Kind.USER and secrets.split_access_token(password) is None:
            version = await self._access.token_version(principal)
            self._recent.put((principal, version), username, password)
        if audit_success:
            await self._access.audit.write(
                "login", username, "ok", principal=principal, address=address
            )
            await self._note_use(principal)
        return principal

    async def _note_use(self, principal: Principal) -> None:
        """When a user last logged in, and with which access token: on explicit logins only
        (the token endpoint, the dashboard), not on every registry request."""
        if principal.kind is not Kind.USER:
            return
        now = time.time()
        async with self._store.transaction() as tx:
            await tx.identities.update_user(principal.name, last_login_at=now)
            if principal.credential and principal.credential.startswith("pat:"):
                await tx.identities.touch_token(principal.credential[4:], now)

    async def personal_token(self, token: str, address: str | None) -> Principal:
        """A personal access token presented alone (`Authorization: Bearer dyp_…`)."""
        parts = secrets.split_access_token(token)
        principal: Principal | None = None
        if parts is not None:
            async with self._store.transaction(readonly=True) as tx:
                record = await tx.identities.token(parts[0])
                user = await tx.identities.user_by_id(record.user_id) if record else None
                if user is not None:
                    principal, _reason = await self._personal_token(tx, user, *parts)
        if principal is None:
            await self._access.audit.write(
                "login", None, "failed", {"reason": "bad access token"}, address=address
            )
            raise RegistryError(Code.UNAUTHORIZED, "invalid personal access token")
        return principal

    async def _current(self, principal: Principal, version: int) -> Principal | None:
        """Two indexed reads instead of the whole login: the password is unchanged and the
        account not disabled since (either bumps the token version); the admin flag and the
        groups are read afresh, so a demotion takes effect at once."""
        async with self._store.transaction(readonly=True) as tx:
            user = await tx.identities.user(principal.name)
            if user is None or user.disabled or user.token_version != version:
                return None
            fresh = await self._access.user_principal(tx, user)
        return replace(fresh, credential=principal.credential)

    async def _check(self, username: str, password: str) -> tuple[Principal | None, str]:
        if not username or not password:
            return None, "empty credentials"
        if username.startswith(ROBOT_PREFIX):
            return await self._robot(username, password)
        async with self._store.transaction(readonly=True) as tx:
            user = await tx.identities.user(username)
            pat = secrets.split_access_token(password)
            if user is not None and pat is not None:
                return await self._personal_token(tx, user, *pat)
            if user is not None and user.source == "local":
                if not await self._passwords.verify(user.password_hash, password):
                    return None, "wrong password"
                if user.disabled:
                    return None, "account disabled"
                return _via(await self._access.user_principal(tx, user), "password"), "ok"
        if self._source is not None and (user is None or user.source == self._source.source):
            return await self._external(username, password)
        await self._passwords.burn()
        return None, "unknown user"

    async def _robot(self, name: str, secret: str) -> tuple[Principal | None, str]:
        async with self._store.transaction(readonly=True) as tx:
            robot = await tx.access.robot(name)
        if robot is None or not secrets.matches(secret, robot.secret_hash):
            return None, "wrong robot secret" if robot else "unknown robot"
        if not robot_usable(robot):
            return None, "robot disabled or expired"
        return _via(self._access.robot_principal(robot), "robot"), "ok"

    async def _personal_token(
        self, tx: Transaction, user: UserRecord, token_id: str, secret: str
    ) -> tuple[Principal | None, str]:
        token = await tx.identities.token(token_id)
        if token is None or token.user_id != user.id:
            return None, "unknown access token"
        if not secrets.matches(secret, token.secret_hash):
            return None, "wrong access token"
        if token.expires_at is not None and token.expires_at <= time.time():
            return None, "access token expired"
        if user.disabled:
            return None, "account disabled"
        return _via(await self._access.user_principal(tx, user), f"pat:{token.id}"), "ok"

    async def _external(self, username: str, password: str) -> tuple[Principal | None, str]:
        assert self._source is not None
        recent = self._recent.get(username, password)
        current = await self._current(*recent) if recent is not None else None
        if current is not None:
            return current, "ok"
        try:
            identity = await self._source.authenticate(username, password)
        except IdentitySourceUnavailable as exc:
            raise RegistryError(
                Code.UNAVAILABLE,
                f"the {self._source.source} server cannot be reached; try again shortly",
                headers={"Retry-After": "5"},
            ) from exc
        if identity is None:
            return None, f"rejected by {self._source.source}"
        return await self.external_login(identity)

    async def external_login(self, identity: ExternalIdentity) -> tuple[Principal | None, str]:
        """A person an identity source vouched for: created on first login, their groups
        refreshed on every login."""
        if not 0 < len(identity.username) <= 255 or len(identity.subject) > 500:
            return None, f"{identity.source} sent a user name or subject Dockyard cannot store"
        async with self._store.transaction() as tx:
            user = await tx.identities.user_by_subject(identity.source, identity.subject)
            if user is None:
                taken = await tx.identities.user(identity.username)
                if taken is not None:
                    return None, f"user name {identity.username!r} belongs to another account"
                user = await tx.identities.add_user(
                    NewUser(
                        username=identity.username,
                        source=identity.source,
                        subject=identity.subject,
                        email=identity.email,
                        display_name=identity.display_name,
                    )
                )
            if user.disabled:
                return None, "account disabled"
            await tx.identities.update_user(
                user.username,
                email=identity.email,
                display_name=identity.display_name,
                last_login_at=time.time(),
            )
            await tx.identities.set_groups(user.id, identity.source, identity.groups)
            return _via(await self._access.user_principal(tx, user), "password"), "ok"

    async def bearer(self, token: str) -> Principal:
        try:
            claims = await self._tokens.verify(token)
        except InvalidToken as exc:
            raise RegistryError(Code.UNAUTHORIZED, f"invalid registry token: {exc}") from None
        grants: dict[tuple[str, str], frozenset[str]] = {}
        for entry in claims.get("access") or []:
            if isinstance(entry, dict):
                key = (str(entry.get("type")), str(entry.get("name")))
                grants[key] = grants.get(key, frozenset()) | frozenset(
                    str(a) for a in entry.get("actions") or []
                )
        kind = Kind(claims.get("kind", Kind.USER.value))
        return Principal(kind, str(claims["sub"]), token=TokenAccess(grants))


def _via(principal: Principal, credential: str) -> Principal:
    return replace(principal, credential=credential)


def _named(username: str) -> Principal:
    kind = Kind.ROBOT if username.startswith(ROBOT_PREFIX) else Kind.USER
    return Principal(kind, username)
