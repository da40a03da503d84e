"""Managing people: users, groups and personal access tokens. Every change is authorized by
the policy and written to the audit log."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from dockyard.auth import secrets
from dockyard.auth.access import AccessControl
from dockyard.auth.passwords import Passwords
from dockyard.auth.policy import decide_system
from dockyard.auth.principal import Kind, Principal, current_actor
from dockyard.auth.throttle import LoginThrottle
from dockyard.errors import Problem, conflict, forbidden, invalid, not_found
from dockyard.meta.auth_records import AccessTokenRecord, NewUser, UserRecord
from dockyard.meta.base import MetadataStore

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,62}")
MIN_PASSWORD = 12
# Local groups; LDAP/OIDC/SAML group names arrive as the source spells them ("qa, europe").
GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@,-]{0,254}")


@dataclass(frozen=True)
class NewToken:
    record: AccessTokenRecord
    token: str  # shown once


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise invalid(f"a password needs at least {MIN_PASSWORD} characters")


class UserAdmin:
    def __init__(
        self,
        store: MetadataStore,
        access: AccessControl,
        passwords: Passwords,
        throttle: LoginThrottle,
    ) -> None:
        self._store = store
        self._access = access
        self._passwords = passwords
        self._throttle = throttle

    def _require_admin(self, actor: Principal, operation: str) -> None:
        decision = decide_system(actor, operation)
        if not decision:
            raise forbidden(decision.reason)

    async def create(
        self, actor: Principal, username: str, password: str, email: str | None, is_admin: bool
    ) -> UserRecord:
        self._require_admin(actor, "create users")
        if not USERNAME.fullmatch(username) or username.startswith("robot"):
            raise invalid(
                f"user name {username!r} must be lower-case letters, digits, '.', '_', '@' or"
                " '-', start with a letter or digit, and not start with 'robot'"
            )
        check_password(password)
        password_hash = await self._passwords.hash(password)
        async with self._store.transaction() as tx:
            if await tx.identities.user(username) is not None:
                raise conflict(f"user {username!r} already exists")
            user = await tx.identities.add_user(
                NewUser(username, password_hash=password_hash, email=email, is_admin=is_admin)
            )
        await self._access.audit.write("user.create", username, "ok", {"admin": is_admin})
        return user

    async def get(self, actor: Principal, username: str) -> UserRecord:
        if actor.name != username or actor.kind is not Kind.USER:
            self._require_admin(actor, "see other users")
        async with self._store.transaction(readonly=True) as tx:
            user = await tx.identities.user(username)
        if user is None:
            raise not_found(f"no user {username!r}")
        return user

    async def groups_of(self, user: UserRecord) -> list[str]:
        async with self._store.transaction(readonly=True) as tx:
            return await tx.identities.groups_of(user.id)

    async def list(
        self, actor: Principal, last: str | None, limit: int, query: str | None
    ) -> list[UserRecord]:
        self._require_admin(actor, "list users")
        async with self._store.transaction(readonly=True) as tx:
            return await tx.identities.users(last, limit, query)

    async def update(
        self,
        actor: Principal,
        username: str,
        *,
        email: str | None = None,
        is_admin: bool | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        self._require_admin(actor, "change users")
        if username == actor.name and (is_admin is False or disabled):
            raise invalid("you cannot take away your own admin rights or disable yourself")
        changes = {
            k: v
            for k, v in {"email": email, "is_admin": is_admin, "disabled": disabled}.items()
            if v is not None
        }
        if changes:
            async with self._store.transaction() as tx:
                if not await tx.identities.update_user(username, **changes):
                    raise not_found(f"no user {username!r}")
            await self._access.audit.write("user.update", username, "ok", changes)
        return await self.get(actor, username)

    async def set_password(
        self, actor: Principal, username: str, password: str, current: str | None
    ) -> None:
        own = actor.kind is Kind.USER and actor.name == username
        if not own:
            self._require_admin(actor, "set other users' passwords")
        check_password(password)
        async with self._store.transaction(readonly=True) as tx:
            user = await tx.identities.user(username)
        if user is None:
            raise not_found(f"no user {username!r}")
        if user.source != "local":
            raise invalid(f"{username} logs in through {user.source}; change the password there")
        if own and not actor.is_admin:
            await self._check_current(user.username, user.password_hash, current)
        password_hash = await self._passwords.hash(password)
        async with self._store.transaction() as tx:
            await tx.identities.update_user(username, password_hash=password_hash)
        await self._access.audit.write("user.password", username, "ok")

    async def _check_current(self, username: str, stored: str | None, current: str | None) -> None:
        """The current password, guessed through a stolen session, counts as a failed login."""
        address = current_actor.get()
        where = address.address if address else None
        if await self._throttle.check(username, where) is not None:
            raise Problem(429, "Too Many Requests", "too many wrong passwords; try again later")
        if current is None or not await self._passwords.verify(stored, current):
            await self._throttle.failed(username, where)
            raise forbidden("the current password is wrong")

    async def delete(self, actor: Principal, username: str) -> None:
        self._require_admin(actor, "delete users")
        if username == actor.name:
            raise invalid("you cannot delete yourself")
        async with self._store.transaction() as tx:
            if not await tx.identities.delete_user(username):
                raise not_found(f"no user {username!r}")
            # Grants name their subject: a later account with this name is someone else.
            await tx.access.delete_grants_of("user", username)
        await self._access.audit.write("user.delete", username, "ok")

    # --- groups ------------------------------------------------------------------------------

    async def create_group(self, actor: Principal, name: str, description: str | None) -> None:
        self._require_admin(actor, "create groups")
        if not GROUP_NAME.fullmatch(name):
            raise invalid(
                "a group name needs 1 to 255 letters, digits, spaces or '.', '_', '@', ',', '-'"
            )
        async with self._store.transaction() as tx:
            if not await tx.identities.add_group(name, description):
                raise conflict(f"group {name!r} already exists")
        await self._access.audit.write("group.create", name, "ok")

    async def groups(self, actor: Principal) -> list[tuple[str, str | None, list[str]]]:
        self._require_admin(actor, "list groups")
        async with self._store.transaction(readonly=True) as tx:
            return [(n, d, await tx.identities.members(n)) for n, d in await tx.identities.groups()]

    async def delete_group(self, actor: Principal, name: str) -> None:
        self._require_admin(actor, "delete groups")
        async with self._store.transaction() as tx:
            if not await tx.identities.delete_group(name):
                raise not_found(f"no group {name!r}")
        await self._access.audit.write("group.delete", name, "ok")

    async def set_member(self, actor: Principal, group: str, username: str, member: bool) -> None:
        self._require_admin(actor, "change group members")
        async with self._store.transaction() as tx:
            if not any(n == group for n, _ in await tx.identities.groups()):
                raise not_found(f"no group {group!r}")
            user = await tx.identities.user(username)
            if user is None:
                raise not_found(f"no user {username!r}")
            if member:
                await tx.identities.add_member(group, user.id)
            else:
                await tx.identities.remove_member(group, user.id)
        action = "group.member.add" if member else "group.member.remove"
        await self._access.audit.write(action, group, "ok", {"user": username})

    # --- personal access tokens --------------------------------------------------------------

    async def _own_user(self, actor: Principal) -> UserRecord:
        if actor.kind is not Kind.USER:
            raise forbidden("only users have personal access tokens")
        async with self._store.transaction(readonly=True) as tx:
            user = await tx.identities.user(actor.name)
        if user is None:
            raise not_found(f"no user {actor.name!r}")
        return user

    async def create_token(
        self, actor: Principal, name: str, expires_in_days: int | None
    ) -> NewToken:
        if not name or len(name) > 100:
            raise invalid("a token name needs 1 to 100 characters")
        user = await self._own_user(actor)
        token_id, secret, token = secrets.new_access_token()
        now = time.time()
        expires = now + expires_in_days * 86400 if expires_in_days else None
        record = AccessTokenRecord(token_id, user.id, name, now, secrets.digest(secret), expires)
        async with self._store.transaction() as tx:
            await tx.identities.add_token(record)
        await self._access.audit.write(
            "token.create", actor.name, "ok", {"id": token_id, "name": name}
        )
        return NewToken(record, token)

    async def tokens(self, actor: Principal) -> list[AccessTokenRecord]:
        user = await self._own_user(actor)
        async with self._store.transaction(readonly=True) as tx:
            return await tx.identities.tokens_of(user.id)

    async def revoke_token(self, actor: Principal, token_id: str) -> None:
        user = await self._own_user(actor)
        async with self._store.transaction() as tx:
            if not await tx.identities.delete_token(user.id, token_id):
                raise not_found(f"no access token {token_id!r}")
        await self._access.audit.write("token.revoke", actor.name, "ok", {"id": token_id})
