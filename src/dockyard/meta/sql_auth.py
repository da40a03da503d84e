"""The access-control sub-stores of a SQL transaction: identities, access, audit, throttle and
signing keys."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.engine import Row

from dockyard.meta import schema as t
from dockyard.meta.auth_records import (
    AccessTokenRecord,
    AuditQuery,
    AuditRecord,
    GrantRecord,
    LoginFailures,
    NewUser,
    ProjectRecord,
    RobotPermission,
    RobotRecord,
    RoleRecord,
    SigningKeyRecord,
    UserRecord,
)
from dockyard.meta.sql_stores import _SubStore

_USER_CHANGES = {"email", "display_name", "is_admin", "disabled", "password_hash", "last_login_at"}
_ROBOT_CHANGES = {"description", "secret_hash", "permissions", "expires_at", "disabled"}


def _user(row: Row[Any]) -> UserRecord:
    return UserRecord(**row._asdict())


def _robot(row: Row[Any]) -> RobotRecord:
    values = row._asdict()
    values["permissions"] = tuple(
        RobotPermission(p["repositories"], tuple(p["actions"]))
        for p in json.loads(values["permissions"])
    )
    return RobotRecord(**values)


def robot_permissions_json(permissions: Sequence[RobotPermission]) -> str:
    return json.dumps(
        [{"repositories": p.repositories, "actions": list(p.actions)} for p in permissions]
    )


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


class SqlAccess(_SubStore):
    async def add_project(self, project: ProjectRecord) -> bool:
        stmt = self._insert(t.projects).values(
            name=project.name,
            public=project.public,
            created_by=project.created_by,
            created_at=project.created_at,
        )
        return (await self.conn.execute(stmt.on_conflict_do_nothing())).rowcount > 0

    async def project(self, name: str) -> ProjectRecord | None:
        row = (await self.conn.execute(select(t.projects).where(t.projects.c.name == name))).first()
        return ProjectRecord(**row._asdict()) if row else None

    async def projects(self, last: str | None, limit: int) -> list[ProjectRecord]:
        name = self._lexical(t.projects.c.name)
        stmt = select(t.projects).order_by(name).limit(limit)
        if last:
            stmt = stmt.where(name > last)
        return [ProjectRecord(**row._asdict()) for row in await self.conn.execute(stmt)]

    async def set_project_public(self, name: str, public: bool) -> bool:
        stmt = update(t.projects).where(t.projects.c.name == name).values(public=public)
        return (await self.conn.execute(stmt)).rowcount > 0

    async def delete_project(self, name: str) -> bool:
        stmt = delete(t.projects).where(t.projects.c.name == name)
        return (await self.conn.execute(stmt)).rowcount > 0

    async def add_grant(
        self, project: str, subject_kind: str, subject: str, role: str, repositories: str
    ) -> GrantRecord:
        values = {
            "project": project,
            "subject_kind": subject_kind,
            "subject": subject,
            "role": role,
            "repositories": repositories,
        }
        stmt = self._insert(t.project_grants).values(**values, created_at=time.time())
        await self.conn.execute(stmt.on_conflict_do_nothing())
        row = (
            await self.conn.execute(
                select(t.project_grants.c.id).where(
                    *(t.project_grants.c[k] == v for k, v in values.items())
                )
            )
        ).one()
        return GrantRecord(id=row.id, **values)

    async def delete_grants_of(self, subject_kind: str, subject: str) -> int:
        c = t.project_grants.c
        stmt = delete(t.project_grants).where(c.subject_kind == subject_kind, c.subject == subject)
        return (await self.conn.execute(stmt)).rowcount

    async def visible_projects(
        self, username: str, groups: Sequence[str], last: str | None, limit: int
    ) -> list[ProjectRecord]:
        """Public projects and those with a grant to the user or one of their groups."""
        g = t.project_grants.c
        mine = or_(
            (g.subject_kind == "user") & (g.subject == username),
            (g.subject_kind == "group") & g.subject.in_(list(groups)),
        )
        granted = select(g.project).where(mine)
        name = self._lexical(t.projects.c.name)
        stmt = (
            select(t.projects)
            .where(or_(t.projects.c.public.is_(True), t.projects.c.name.in_(granted)))
            .order_by(name)
            .limit(limit)
        )
        if last:
            stmt = stmt.where(name > last)
        return [ProjectRecord(**row._asdict()) for row in await self.conn.execute(stmt)]

    async def delete_grant(self, project: str, grant_id: int) -> bool:
        stmt = delete(t.project_grants).where(
            t.project_grants.c.project == project, t.project_grants.c.id == grant_id
        )
        return (await self.conn.execute(stmt)).rowcount > 0

    def _grants(self) -> Any:
        c = t.project_grants.c
        return select(c.id, c.project, c.subject_kind, c.subject, c.role, c.repositories)

    async def grants(self, project: str) -> list[GrantRecord]:
        c = t.project_grants.c
        stmt = self._grants().where(c.project == project).order_by(c.id)
        return [GrantRecord(**row._asdict()) for row in await self.conn.execute(stmt)]

    async def grants_for(
        self, project: str, username: str | None, groups: Sequence[str]
    ) -> list[GrantRecord]:
        c = t.project_grants.c
        subjects = []
        if username is not None:
            subjects.append((c.subject_kind == "user") & (c.subject == username))
        if groups:
            subjects.append((c.subject_kind == "group") & c.subject.in_(list(groups)))
        if not subjects:
            return []
        stmt = self._grants().where(c.project == project, or_(*subjects)).order_by(c.id)
        return [GrantRecord(**row._asdict()) for row in await self.conn.execute(stmt)]

    async def add_role(self, role: RoleRecord) -> bool:
        stmt = self._insert(t.roles).values(
            name=role.name,
            description=role.description,
            actions=json.dumps(list(role.actions)),
            created_at=time.time(),
        )
        return (await self.conn.execute(stmt.on_conflict_do_nothing())).rowcount > 0

    async def role(self, name: str) -> RoleRecord | None:
        row = (await self.conn.execute(select(t.roles).where(t.roles.c.name == name))).first()
        return _role(row) if row else None

    async def roles(self) -> list[RoleRecord]:
        return [
            _role(row) for row in await self.conn.execute(select(t.roles).order_by(t.roles.c.name))
        ]

    async def delete_role(self, name: str) -> bool:
        stmt = delete(t.roles).where(t.roles.c.name == name)
        return (await self.conn.execute(stmt)).rowcount > 0

    async def add_robot(self, robot: RobotRecord) -> bool:
        stmt = self._insert(t.robots).values(
            name=robot.name,
            project=robot.project,
            description=robot.description,
            secret_hash=robot.secret_hash,
            permissions=robot_permissions_json(robot.permissions),
            expires_at=robot.expires_at,
            disabled=robot.disabled,
            created_by=robot.created_by,
            created_at=robot.created_at,
        )
        return (await self.conn.execute(stmt.on_conflict_do_nothing())).rowcount > 0

    async def robot(self, name: str) -> RobotRecord | None:
        row = (await self.conn.execute(select(t.robots).where(t.robots.c.name == name))).first()
        return _robot(row) if row else None

    async def robots(self, project: str | None) -> list[RobotRecord]:
        stmt = select(t.robots).order_by(t.robots.c.name)
        stmt = stmt.where(
            t.robots.c.project.is_(None) if project is None else t.robots.c.project == project
        )
        return [_robot(row) for row in await self.conn.execute(stmt)]

    async def update_robot(self, name: str, **changes: Any) -> bool:
        unknown = set(changes) - _ROBOT_CHANGES
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        if not changes:  # an UPDATE without a SET clause is no statement at all
            return await self.robot(name) is not None
        if "permissions" in changes:
            changes["permissions"] = robot_permissions_json(changes["permissions"])
        stmt = update(t.robots).where(t.robots.c.name == name).values(**changes)
        return (await self.conn.execute(stmt)).rowcount > 0

    async def delete_robot(self, name: str) -> bool:
        stmt = delete(t.robots).where(t.robots.c.name == name)
        return (await self.conn.execute(stmt)).rowcount > 0


def _role(row: Row[Any]) -> RoleRecord:
    return RoleRecord(row.name, tuple(json.loads(row.actions)), row.description)


def _clip(column: Any, value: str | None) -> str | None:
    """A string cut to its column's width: PostgreSQL refuses a longer one where SQLite keeps
    it, and what an audit entry or a throttle key says comes partly from clients."""
    width = column.type.length
    return value[:width] if value is not None and len(value) > width else value


class SqlAudit(_SubStore):
    async def add(self, record: AuditRecord) -> None:
        c = t.audit_log.c
        await self.conn.execute(
            t.audit_log.insert().values(
                at=record.at,
                actor=_clip(c.actor, record.actor),
                actor_kind=_clip(c.actor_kind, record.actor_kind),
                address=_clip(c.address, record.address),
                action=_clip(c.action, record.action),
                target=_clip(c.target, record.target),
                outcome=_clip(c.outcome, record.outcome),
                detail=json.dumps(record.detail) if record.detail is not None else None,
            )
        )

    async def query(self, query: AuditQuery) -> list[AuditRecord]:
        c = t.audit_log.c
        stmt = select(t.audit_log).order_by(c.id.desc()).limit(query.limit)
        if query.actor:
            stmt = stmt.where(c.actor == query.actor)
        if query.action and query.action.endswith("."):
            stmt = stmt.where(c.action.startswith(query.action, autoescape=True))
        elif query.action:
            stmt = stmt.where(c.action == query.action)
        if query.target_prefix:
            stmt = stmt.where(c.target.startswith(query.target_prefix, autoescape=True))
        if query.outcome:
            stmt = stmt.where(c.outcome == query.outcome)
        if query.since is not None:
            stmt = stmt.where(c.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(c.at < query.until)
        if query.before_id is not None:
            stmt = stmt.where(c.id < query.before_id)
        return [_audit(row) for row in await self.conn.execute(stmt)]


def _audit(row: Row[Any]) -> AuditRecord:
    values = row._asdict()
    values["detail"] = json.loads(values["detail"]) if values["detail"] is not None else None
    return AuditRecord(**values)


def _throttle_key(key: str) -> str:
    """The key as stored: one longer than the column (a client's made-up user name) keeps a
    prefix and a hash of the whole, so that it still counts on its own."""
    width = t.login_failures.c.key.type.length
    if len(key) <= width:
        return key
    return f"{key[: width - 65]}#{hashlib.sha256(key.encode()).hexdigest()}"


class SqlThrottle(_SubStore):
    async def get(self, key: str) -> LoginFailures | None:
        c = t.login_failures.c
        query = select(c.failures, c.window_start, c.locked_until).where(
            c.key == _throttle_key(key)
        )
        row = (await self.conn.execute(query)).first()
        return LoginFailures(key, **row._asdict()) if row else None

    async def put(self, record: LoginFailures) -> None:
        values = {
            "failures": record.failures,
            "window_start": record.window_start,
            "locked_until": record.locked_until,
        }
        stmt = self._insert(t.login_failures).values(key=_throttle_key(record.key), **values)
        await self.conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=values))

    async def clear(self, key: str) -> None:
        stmt = delete(t.login_failures).where(t.login_failures.c.key == _throttle_key(key))
        await self.conn.execute(stmt)

    async def record_failure(
        self, key: str, now: float, window: float, limit: int, lockout: float
    ) -> LoginFailures:
        """Count one failure in a single statement: concurrent failures on many replicas must
        all count (a read-modify-write would let them overwrite each other)."""
        c = t.login_failures.c
        expired = c.window_start < now - window
        failures = case((expired, 1), else_=c.failures + 1)
        stmt = self._insert(t.login_failures).values(
            key=_throttle_key(key),
            failures=1,
            window_start=now,
            locked_until=now + lockout if limit <= 1 else None,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": failures,
                "window_start": case((expired, now), else_=c.window_start),
                "locked_until": case((failures >= limit, now + lockout), else_=c.locked_until),
            },
        ).returning(c.failures, c.window_start, c.locked_until)
        row = (await self.conn.execute(stmt)).one()
        return LoginFailures(key, **row._asdict())


class SqlKeys(_SubStore):
    async def add(self, key: SigningKeyRecord) -> bool:
        stmt = self._insert(t.signing_keys).values(
            kid=key.kid,
            kind=key.kind,
            material=key.material,
            created_at=key.created_at,
            retired_at=key.retired_at,
        )
        return (await self.conn.execute(stmt.on_conflict_do_nothing())).rowcount > 0

    async def keys(self, kind: str) -> list[SigningKeyRecord]:
        c = t.signing_keys.c
        stmt = select(t.signing_keys).where(c.kind == kind).order_by(c.created_at.desc(), c.kid)
        return [SigningKeyRecord(**row._asdict()) for row in await self.conn.execute(stmt)]

    async def retire(self, kind: str, before: float, at: float) -> int:
        c = t.signing_keys.c
        stmt = update(t.signing_keys).where(
            c.kind == kind, c.created_at < before, c.retired_at.is_(None)
        )
        return (await self.conn.execute(stmt.values(retired_at=at))).rowcount

    async def prune(self, kind: str, retired_before: float) -> int:
        c = t.signing_keys.c
        stmt = delete(t.signing_keys).where(c.kind == kind, c.retired_at < retired_before)
        return (await self.conn.execute(stmt)).rowcount


class SqlSessions(_SubStore):
    async def add(self, session_id: str, username: str, stamp: str, expires_at: float) -> None:
        await self.conn.execute(
            t.sessions.insert().values(
                id=session_id,
                username=username,
                stamp=stamp,
                created_at=time.time(),
                expires_at=expires_at,
            )
        )

    async def get(self, session_id: str) -> tuple[str, str, float] | None:
        c = t.sessions.c
        row = (
            await self.conn.execute(
                select(c.username, c.stamp, c.expires_at).where(c.id == session_id)
            )
        ).first()
        return (row.username, row.stamp, row.expires_at) if row else None

    async def delete(self, session_id: str) -> bool:
        stmt = delete(t.sessions).where(t.sessions.c.id == session_id)
        return (await self.conn.execute(stmt)).rowcount > 0

    async def delete_expired(self, now: float) -> int:
        stmt = delete(t.sessions).where(t.sessions.c.expires_at <= now)
        return (await self.conn.execute(stmt)).rowcount
