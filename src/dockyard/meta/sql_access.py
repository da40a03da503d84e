"""Projects, grants, custom roles and robot accounts, in SQL."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Row

from dockyard.meta import schema as t
from dockyard.meta.auth_records import (
    GrantRecord,
    ProjectRecord,
    RobotPermission,
    RobotRecord,
    RoleRecord,
)
from dockyard.meta.sql_stores import _SubStore

_ROBOT_CHANGES = {"description", "secret_hash", "permissions", "expires_at", "disabled"}


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

    async def set_project_quota(self, name: str, quota_bytes: int | None) -> bool:
        stmt = update(t.projects).where(t.projects.c.name == name).values(quota_bytes=quota_bytes)
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
