"""What one principal may see and do in the registry, decided by `auth.policy` with the project
facts gathered once per request."""

from __future__ import annotations

from dockyard.auth.access import AccessControl
from dockyard.auth.actions import Action
from dockyard.auth.policy import ProjectFacts, decide, project_of
from dockyard.auth.principal import Principal
from dockyard.errors import forbidden, not_found
from dockyard.meta.base import MetadataStore

_NO_NAME = "\x00"  # never part of a repository name, so only whole-project patterns match it


class Visibility:
    def __init__(self, store: MetadataStore, access: AccessControl, principal: Principal) -> None:
        self._store = store
        self._access = access
        self.principal = principal
        self._facts: dict[str, ProjectFacts] = {}

    async def facts(self, project: str) -> ProjectFacts:
        if project not in self._facts:
            async with self._store.transaction(readonly=True) as tx:
                self._facts[project] = await self._access.facts(tx, project, self.principal)
        return self._facts[project]

    async def may(self, action: Action, repository: str) -> bool:
        facts = await self.facts(project_of(repository))
        return bool(decide(self.principal, action, facts, repository))

    async def may_pull(self, repository: str) -> bool:
        return await self.may(Action.PULL, repository)

    async def require_pull(self, repository: str) -> None:
        """404 for anything the principal may not pull: hidden is the same as absent."""
        if not await self.may_pull(repository):
            raise not_found(f"no repository {repository!r}")

    async def require(self, action: Action, repository: str) -> None:
        """404 when the principal may not even pull the repository, 403 when they may see it
        but not do `action`."""
        await self.require_pull(repository)
        facts = await self.facts(project_of(repository))
        decision = decide(self.principal, action, facts, repository)
        if not decision:
            raise forbidden(decision.reason)

    async def sees_project(self, project: str) -> bool:
        """Whether the project exists and is listed for the principal: admins, public projects,
        members (any grant), and anyone who may pull some repository in it."""
        facts = await self.facts(project)
        if facts.project is None:
            return False
        if self.principal.is_admin:
            return True
        return bool(
            facts.project.public
            or facts.grants
            or decide(self.principal, Action.PULL, facts, f"{project}/x")
            or decide(self.principal, Action.READ_PROJECT, facts, None)
        )

    async def pulls_whole_project(self, project: str) -> bool:
        """Whether the principal may pull every repository of the project, present and future
        (not just some, through a repository-scoped grant)."""
        facts = await self.facts(project)
        if facts.project is None:
            return self.principal.is_admin
        # No repository pattern but "*" (or a robot's "<project>/*") matches this name.
        return bool(decide(self.principal, Action.PULL, facts, f"{project}/{_NO_NAME}"))

    async def may_read_audit(self, project: str) -> bool:
        facts = await self.facts(project)
        return bool(decide(self.principal, Action.READ_AUDIT, facts, None))
