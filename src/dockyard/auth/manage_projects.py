"""Managing projects: visibility, quotas, custom roles, robot accounts and the audit log.
Every change is authorized by the policy and audited. Members and their roles are managed in
auth/manage_members.py; ProjectAdmin inherits those methods."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from dockyard.auth import secrets
from dockyard.auth.actions import BUILTIN_ROLES, Action, parse_actions
from dockyard.auth.manage_members import ProjectMembers
from dockyard.auth.policy import decide, decide_system, granted_actions
from dockyard.auth.principal import Kind, Principal
from dockyard.errors import Problem, conflict, forbidden, invalid, not_found
from dockyard.meta.auth_records import (
    AuditQuery,
    AuditRecord,
    ProjectRecord,
    RobotPermission,
    RobotRecord,
    RoleRecord,
)
from dockyard.oci.names import InvalidName, validate_name

SHORT_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


@dataclass(frozen=True)
class ProjectChanges:
    public: bool | None = None  # None: unchanged
    set_quota: bool = False  # whether `quota_bytes` is a change (None then removes the limit)
    quota_bytes: int | None = None


@dataclass(frozen=True)
class NewRobot:
    record: RobotRecord
    secret: str  # shown once


class ProjectAdmin(ProjectMembers):
    # --- projects ----------------------------------------------------------------------------

    async def create(self, actor: Principal, name: str, public: bool) -> ProjectRecord:
        can_create = self._access.settings.users_can_create_projects
        decision = decide_system(actor, "create-project", can_create)
        if not decision:
            raise forbidden(decision.reason)
        if not SHORT_NAME.fullmatch(name) or len(name) > 255:
            raise invalid(
                f"project name {name!r} must be lower-case letters and digits, "
                "separated by single '.', '_' or '-'"
            )
        record = ProjectRecord(name, public, time.time(), actor.name)
        async with self._store.transaction() as tx:
            if not await tx.access.add_project(record):
                raise conflict(f"project {name!r} already exists")
            if not actor.is_admin:
                await tx.access.add_grant(name, "user", actor.name, "project-admin", "*")
        await self._access.audit.write("project.create", name, "ok", {"public": public})
        return record

    async def get(self, actor: Principal, name: str) -> ProjectRecord:
        async with self._store.transaction(readonly=True) as tx:
            facts = await self._access.facts(tx, name, actor)
        if facts.project is None or not (
            decide(actor, Action.PULL, facts, f"{name}/x")
            or decide(actor, Action.READ_PROJECT, facts, None)
        ):
            raise not_found(f"no project {name!r}")
        return facts.project

    async def list(self, actor: Principal, last: str | None, limit: int) -> list[ProjectRecord]:
        """The projects the actor can see: all for admins, else public ones and their own."""
        if actor.kind is Kind.USER and not actor.is_admin:
            async with self._store.transaction(readonly=True) as tx:
                return await tx.access.visible_projects(actor.name, actor.groups, last, limit)
        visible: list[ProjectRecord] = []
        cursor = last
        while len(visible) < limit:
            async with self._store.transaction(readonly=True) as tx:
                batch = await tx.access.projects(cursor, 200)
                for project in batch:
                    facts = await self._access.facts(tx, project.name, actor)
                    if (
                        actor.is_admin
                        or project.public
                        or facts.grants
                        or decide(actor, Action.PULL, facts, f"{project.name}/x")
                    ):
                        visible.append(project)
            if len(batch) < 200:
                break
            cursor = batch[-1].name
        return visible[:limit]

    async def update(self, actor: Principal, name: str, changes: ProjectChanges) -> ProjectRecord:
        """Visibility is a project policy; the quota only a system admin sets, so a project's
        own admins cannot lift the limit on their storage."""
        await self._require(actor, Action.MANAGE_POLICIES, name)
        if changes.set_quota:
            self._require_admin(actor, "set project quotas")
            if changes.quota_bytes is not None and changes.quota_bytes < 0:
                raise invalid("a quota is a number of bytes, 0 or more (null: no limit)")
        async with self._store.transaction() as tx:
            if changes.public is not None:
                await tx.access.set_project_public(name, changes.public)
            if changes.set_quota:
                await tx.access.set_project_quota(name, changes.quota_bytes)
        if changes.public is not None:
            details = {"public": changes.public}
            await self._access.audit.write("project.visibility", name, "ok", details)
        if changes.set_quota:
            details = {"quota_bytes": changes.quota_bytes}
            await self._access.audit.write("project.quota", name, "ok", details)
        return await self.get(actor, name)

    async def usage(self, names: Sequence[str]) -> dict[str, int]:
        """Storage each project uses, as its quota counts it (callers checked visibility)."""
        if not names:
            return {}
        async with self._store.transaction(readonly=True) as tx:
            return await tx.inventory.project_storage(names)

    async def delete(self, actor: Principal, name: str) -> None:
        self._require_admin(actor, "delete projects")
        async with self._store.transaction() as tx:
            repositories = await tx.repos.list(f"{name}/", 1)
            if (repositories and repositories[0].startswith(f"{name}/")) or await tx.repos.exists(
                name
            ):
                raise conflict(f"project {name!r} still has repositories; delete them first")
            if not await tx.access.delete_project(name):
                raise not_found(f"no project {name!r}")
            await tx.policies.forget_project(name)
        await self._access.audit.write("project.delete", name, "ok")

    # --- custom roles ------------------------------------------------------------------------

    async def create_role(
        self, actor: Principal, name: str, actions: Sequence[str], description: str | None
    ) -> RoleRecord:
        self._require_admin(actor, "define roles")
        if name in BUILTIN_ROLES or not SHORT_NAME.fullmatch(name):
            raise invalid(f"role name {name!r} is taken by a built-in role or not a valid name")
        try:
            parsed = parse_actions(tuple(actions))
        except ValueError as exc:
            raise invalid(str(exc)) from None
        record = RoleRecord(name, tuple(sorted(a.value for a in parsed)), description)
        async with self._store.transaction() as tx:
            if not await tx.access.add_role(record):
                raise conflict(f"role {name!r} already exists")
        await self._access.audit.write("role.create", name, "ok", {"actions": list(record.actions)})
        return record

    async def roles(self) -> list[RoleRecord]:
        builtin = [
            RoleRecord(n, tuple(sorted(a.value for a in acts)), "built-in")
            for n, acts in BUILTIN_ROLES.items()
        ]
        async with self._store.transaction(readonly=True) as tx:
            return builtin + await tx.access.roles()

    async def delete_role(self, actor: Principal, name: str) -> None:
        self._require_admin(actor, "delete roles")
        async with self._store.transaction() as tx:
            if not await tx.access.delete_role(name):
                raise not_found(f"no custom role {name!r}")
        await self._access.audit.write("role.delete", name, "ok")

    # --- robots ------------------------------------------------------------------------------

    async def _require_robots(self, actor: Principal, project: str | None) -> None:
        if project is None:
            self._require_admin(actor, "manage system robot accounts")
        else:
            await self._require(actor, Action.MANAGE_ROBOTS, project)

    async def create_robot(
        self,
        actor: Principal,
        project: str | None,
        name: str,
        permissions: Sequence[RobotPermission],
        expires_in_days: int | None,
        description: str | None,
    ) -> NewRobot:
        await self._require_robots(actor, project)
        if not SHORT_NAME.fullmatch(name):
            raise invalid(f"robot name {name!r} must be lower-case letters and digits")
        checked = [_check_permission(p, project) for p in permissions]
        await self._require_delegable(actor, project, checked)
        full = f"robot${project}+{name}" if project else f"robot${name}"
        if len(full) > 255:
            raise invalid(f"robot name {full!r} is longer than 255 characters")
        secret = secrets.new_secret()
        now = time.time()
        record = RobotRecord(
            full,
            project,
            tuple(checked),
            False,
            now,
            secrets.digest(secret),
            now + expires_in_days * 86400 if expires_in_days else None,
            description,
            actor.name,
        )
        async with self._store.transaction() as tx:
            if not await tx.access.add_robot(record):
                raise conflict(f"robot {full!r} already exists")
        await self._access.audit.write("robot.create", full, "ok", _robot_detail(record))
        return NewRobot(record, secret)

    async def robots(self, actor: Principal, project: str | None) -> list[RobotRecord]:
        if project is None:
            self._require_admin(actor, "list system robot accounts")
        else:
            await self._require(actor, Action.READ_PROJECT, project)
        async with self._store.transaction(readonly=True) as tx:
            return await tx.access.robots(project)

    async def _require_delegable(
        self, actor: Principal, project: str | None, permissions: Sequence[RobotPermission]
    ) -> None:
        """Nobody hands a robot more than they hold themselves (nor takes it over by rotating
        its secret): manage-robots is no back door to manage-members or to a left-out push."""
        if project is None or actor.is_admin:
            return
        async with self._store.transaction(readonly=True) as tx:
            facts = await self._access.facts(tx, project, actor)
        missing: set[str] = set()
        for permission in permissions:
            pattern = permission.repositories
            held = granted_actions(actor, facts, None if pattern == "*" else pattern)
            missing |= set(permission.actions) - {a.value for a in held}
        if missing:
            raise forbidden(
                f"{actor.name} may not give a robot what they do not hold in {project}: "
                + ", ".join(sorted(missing))
            )

    async def _robot(self, actor: Principal, name: str) -> RobotRecord:
        async with self._store.transaction(readonly=True) as tx:
            robot = await tx.access.robot(name)
        try:
            if robot is None:
                raise not_found("")
            await self._require_robots(actor, robot.project)
        except Problem as exc:
            if exc.status != 404:
                raise
            # The same answer whether the robot or its project is unknown, or hidden.
            raise not_found(f"no robot {name!r}") from None
        return robot

    async def set_robot_disabled(self, actor: Principal, name: str, disabled: bool) -> None:
        await self._robot(actor, name)
        async with self._store.transaction() as tx:
            await tx.access.update_robot(name, disabled=disabled)
        action = "robot.disable" if disabled else "robot.enable"
        await self._access.audit.write(action, name, "ok")

    async def rotate_robot(self, actor: Principal, name: str) -> str:
        robot = await self._robot(actor, name)
        await self._require_delegable(actor, robot.project, robot.permissions)
        secret = secrets.new_secret()
        async with self._store.transaction() as tx:
            await tx.access.update_robot(name, secret_hash=secrets.digest(secret))
        await self._access.audit.write("robot.rotate", name, "ok")
        return secret

    async def delete_robot(self, actor: Principal, name: str) -> None:
        await self._robot(actor, name)
        async with self._store.transaction() as tx:
            await tx.access.delete_robot(name)
        await self._access.audit.write("robot.delete", name, "ok")

    # --- audit -------------------------------------------------------------------------------

    async def audit(
        self, actor: Principal, query: AuditQuery, project: str | None
    ) -> list[AuditRecord]:
        """System admins read everything; project readers read what happened in the project:
        its repositories, the project itself and its robot accounts."""
        if project is None:
            self._require_admin(actor, "read the whole audit log")
            async with self._store.transaction(readonly=True) as tx:
                return await tx.audit.query(query)
        await self._require(actor, Action.READ_AUDIT, project)
        found: list[AuditRecord] = []
        for prefix in _project_prefixes(project, query.target_prefix):
            found += await self._project_entries(replace(query, target_prefix=prefix), project)
        found.sort(key=lambda r: r.id or 0, reverse=True)
        return found[: query.limit]

    async def _project_entries(self, query: AuditQuery, project: str) -> list[AuditRecord]:
        """Up to `query.limit` entries of the project: the store matches a plain prefix, so
        asking for team-a also finds team-ab; read on until enough belong to the project."""
        kept: list[AuditRecord] = []
        while len(kept) < query.limit:
            async with self._store.transaction(readonly=True) as tx:
                page = await tx.audit.query(query)
            kept += [r for r in page if _in_project(r.target, project)]
            if len(page) < query.limit:
                break
            query = replace(query, before_id=page[-1].id)
        return kept[: query.limit]


def _project_prefixes(project: str, target: str | None) -> list[str]:
    """The target prefixes to read for a project, narrowed by the reader's own `target`."""
    own = (project, f"robot${project}+")
    if target is None:
        return list(own)
    if any(target.startswith(p) for p in own):
        return [target]
    return [p for p in own if p.startswith(target)]


def _in_project(target: str | None, project: str) -> bool:
    return target is not None and (
        target == project
        or target.startswith((f"{project}/", f"{project}@", f"{project}:", f"robot${project}+"))
    )


def _check_permission(permission: RobotPermission, project: str | None) -> RobotPermission:
    try:
        actions = parse_actions(permission.actions)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    pattern = permission.repositories
    if project is not None and pattern != "*" and not pattern.startswith(f"{project}/"):
        raise invalid(f"a project robot's repositories must be '*' or start with '{project}/'")
    if project is None and pattern != "*":
        try:
            validate_name(pattern.replace("*", "x").rstrip("/"))
        except InvalidName:
            raise invalid(f"{pattern!r} is not a repository pattern") from None
    return RobotPermission(pattern, tuple(sorted(a.value for a in actions)))


def _robot_detail(robot: RobotRecord) -> dict[str, object]:
    return {
        "permissions": [
            {"repositories": p.repositories, "actions": list(p.actions)} for p in robot.permissions
        ],
        "expires_at": robot.expires_at,
    }
