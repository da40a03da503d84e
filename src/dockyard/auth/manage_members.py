"""Managing a project's members: who holds which role on which of its repositories.

Its own module because grants are what the policy decides on (auth/policy.py) and change for
their own reasons; ProjectAdmin (auth/manage_projects.py) inherits these methods, so callers
keep calling `project_admin.grants`, `.grant` and `.revoke`.
"""

from __future__ import annotations

from dockyard.auth.actions import BUILTIN_ROLES, Action
from dockyard.auth.principal import Principal
from dockyard.auth.project_guard import ProjectGuard
from dockyard.errors import invalid, not_found
from dockyard.meta.auth_records import GrantRecord


class ProjectMembers(ProjectGuard):
    """Grants of a role to a user or group, authorized by manage-members and audited."""

    async def grants(self, actor: Principal, project: str) -> list[GrantRecord]:
        await self._require(actor, Action.READ_PROJECT, project)
        async with self._store.transaction(readonly=True) as tx:
            return await tx.access.grants(project)

    async def grant(
        self,
        actor: Principal,
        project: str,
        subject_kind: str,
        subject: str,
        role: str,
        repositories: str = "*",
    ) -> GrantRecord:
        await self._require(actor, Action.MANAGE_MEMBERS, project)
        if subject_kind not in ("user", "group"):
            raise invalid("a role is granted to a 'user' or a 'group'")
        if repositories != "*" and not repositories.startswith(f"{project}/"):
            raise invalid(f"a repository pattern must be '*' or start with '{project}/'")
        async with self._store.transaction() as tx:
            if role not in BUILTIN_ROLES and await tx.access.role(role) is None:
                raise invalid(f"no role {role!r}; built-in roles: {', '.join(BUILTIN_ROLES)}")
            if subject_kind == "user" and await tx.identities.user(subject) is None:
                raise not_found(f"no user {subject!r}")
            grant = await tx.access.add_grant(project, subject_kind, subject, role, repositories)
        detail = {
            "subject": f"{subject_kind}:{subject}",
            "role": role,
            "repositories": repositories,
        }
        await self._access.audit.write("member.grant", project, "ok", detail)
        return grant

    async def revoke(self, actor: Principal, project: str, grant_id: int) -> None:
        await self._require(actor, Action.MANAGE_MEMBERS, project)
        async with self._store.transaction() as tx:
            if not await tx.access.delete_grant(project, grant_id):
                raise not_found(f"no grant {grant_id} in project {project!r}")
        await self._access.audit.write("member.revoke", project, "ok", {"grant": grant_id})
