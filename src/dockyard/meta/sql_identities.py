"""Users, their groups and personal access tokens, in SQL."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Row

from dockyard.meta import schema as t
from dockyard.meta.auth_records import (
    AccessTokenRecord,
    NewUser,
    UserRecord,
)
from dockyard.meta.sql_stores import _SubStore

_USER_CHANGES = {"email", "display_name", "is_admin", "disabled", "password_hash", "last_login_at"}


def _user(row: Row[Any]) -> UserRecord:
    return UserRecord(**row._asdict())


class SqlIdentities(_SubStore):
    async def add_user(self, user: NewUser) -> UserRecord:
        values = {
            "username": user.username,
            "password_hash": user.password_hash,
            "email": user.email,
            "display_name": user.display_name,
            "source": user.source,
            "subject": user.subject,
            "is_admin": user.is_admin,
            "disabled": False,
            "token_version": 0,
            "created_at": time.time(),
        }
        result = await self.conn.execute(t.users.insert().values(**values).returning(*t.users.c))
        return _user(result.one())

    async def _one_user(self, *where: Any) -> UserRecord | None:
        row = (await self.conn.execute(select(t.users).where(*where))).first()
        return _user(row) if row else None

    async def user(self, username: str) -> UserRecord | None:
        return await self._one_user(t.users.c.username == username)

    async def user_by_id(self, user_id: int) -> UserRecord | None:
        return await self._one_user(t.users.c.id == user_id)

    async def user_by_subject(self, source: str, subject: str) -> UserRecord | None:
        return await self._one_user(t.users.c.source == source, t.users.c.subject == subject)

    async def users(self, last: str | None, limit: int, query: str | None) -> list[UserRecord]:
        name = self._lexical(t.users.c.username)
        stmt = select(t.users).order_by(name).limit(limit)
        if last:
            stmt = stmt.where(name > last)
        if query:
            # Autoescaped: "_" and "%" in a search are characters, not LIKE wildcards.
            needle = query.lower()
            stmt = stmt.where(
                or_(
                    func.lower(t.users.c.username).contains(needle, autoescape=True),
                    func.lower(t.users.c.email).contains(needle, autoescape=True),
                )
            )
        return [_user(row) for row in await self.conn.execute(stmt)]

    async def count_users(self) -> int:
        return int(
            (await self.conn.execute(select(func.count()).select_from(t.users))).scalar_one()
        )

    async def update_user(self, username: str, **changes: Any) -> bool:
        unknown = set(changes) - _USER_CHANGES
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        if not changes:  # an UPDATE without a SET clause is no statement at all
            return await self.user(username) is not None
        values: dict[str, Any] = dict(changes)
        if "password_hash" in changes or changes.get("disabled"):
            values["token_version"] = t.users.c.token_version + 1
        stmt = update(t.users).where(t.users.c.username == username).values(**values)
        return (await self.conn.execute(stmt)).rowcount > 0

    async def delete_user(self, username: str) -> bool:
        stmt = delete(t.users).where(t.users.c.username == username)
        return (await self.conn.execute(stmt)).rowcount > 0

    async def groups_of(self, user_id: int) -> list[str]:
        stmt = (
            select(t.user_groups.c.group_name)
            .where(t.user_groups.c.user_id == user_id)
            .distinct()
            .order_by(t.user_groups.c.group_name)
        )
        return list((await self.conn.execute(stmt)).scalars())

    async def set_groups(self, user_id: int, origin: str, groups: Sequence[str]) -> None:
        await self.conn.execute(
            delete(t.user_groups).where(
                t.user_groups.c.user_id == user_id, t.user_groups.c.origin == origin
            )
        )
        rows = [
            {"user_id": user_id, "group_name": g, "origin": origin} for g in sorted(set(groups))
        ]
        if rows:
            await self.conn.execute(t.user_groups.insert(), rows)

    async def add_group(self, name: str, description: str | None) -> bool:
        stmt = self._insert(t.groups).values(
            name=name, description=description, created_at=time.time()
        )
        return (await self.conn.execute(stmt.on_conflict_do_nothing())).rowcount > 0

    async def groups(self) -> list[tuple[str, str | None]]:
        stmt = select(t.groups.c.name, t.groups.c.description).order_by(t.groups.c.name)
        return [(row.name, row.description) for row in await self.conn.execute(stmt)]

    async def delete_group(self, name: str) -> bool:
        await self.conn.execute(
            delete(t.user_groups).where(
                t.user_groups.c.group_name == name, t.user_groups.c.origin == "local"
            )
        )
        stmt = delete(t.groups).where(t.groups.c.name == name)
        return (await self.conn.execute(stmt)).rowcount > 0

    async def add_member(self, group: str, user_id: int) -> None:
        stmt = self._insert(t.user_groups).values(user_id=user_id, group_name=group, origin="local")
        await self.conn.execute(stmt.on_conflict_do_nothing())

    async def remove_member(self, group: str, user_id: int) -> bool:
        stmt = delete(t.user_groups).where(
            t.user_groups.c.user_id == user_id,
            t.user_groups.c.group_name == group,
            t.user_groups.c.origin == "local",
        )
        return (await self.conn.execute(stmt)).rowcount > 0

    async def members(self, group: str) -> list[str]:
        stmt = (
            select(t.users.c.username)
            .join(t.user_groups, t.user_groups.c.user_id == t.users.c.id)
            .where(t.user_groups.c.group_name == group)
            .distinct()
            .order_by(t.users.c.username)
        )
        return list((await self.conn.execute(stmt)).scalars())

    async def add_token(self, token: AccessTokenRecord) -> None:
        await self.conn.execute(
            t.access_tokens.insert().values(
                id=token.id,
                user_id=token.user_id,
                name=token.name,
                secret_hash=token.secret_hash,
                expires_at=token.expires_at,
                created_at=token.created_at,
            )
        )

    async def token(self, token_id: str) -> AccessTokenRecord | None:
        row = (
            await self.conn.execute(select(t.access_tokens).where(t.access_tokens.c.id == token_id))
        ).first()
        return AccessTokenRecord(**row._asdict()) if row else None

    async def tokens_of(self, user_id: int) -> list[AccessTokenRecord]:
        stmt = (
            select(t.access_tokens)
            .where(t.access_tokens.c.user_id == user_id)
            .order_by(t.access_tokens.c.created_at)
        )
        return [AccessTokenRecord(**row._asdict()) for row in await self.conn.execute(stmt)]

    async def delete_token(self, user_id: int, token_id: str) -> bool:
        stmt = delete(t.access_tokens).where(
            t.access_tokens.c.id == token_id, t.access_tokens.c.user_id == user_id
        )
        return (await self.conn.execute(stmt)).rowcount > 0

    async def touch_token(self, token_id: str, at: float) -> None:
        stmt = update(t.access_tokens).where(t.access_tokens.c.id == token_id)
        await self.conn.execute(stmt.values(last_used_at=at))
