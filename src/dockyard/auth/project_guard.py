"""The checks every project-management service starts with: may this actor do this here?

Shared by ProjectAdmin (auth/manage_projects.py) and ProjectMembers (auth/manage_members.py),
so that both hide a project from whoever may not see it in the same way.
"""

from __future__ import annotations

from dockyard.auth.access import AccessControl
from dockyard.auth.actions import Action
from dockyard.auth.policy import decide, decide_system
from dockyard.auth.principal import Principal
from dockyard.errors import forbidden, not_found
from dockyard.meta.auth_records import ProjectRecord
from dockyard.meta.base import MetadataStore


class ProjectGuard:
    """The store, the access control and the checks on them; services build on this."""

    def __init__(self, store: MetadataStore, access: AccessControl) -> None:
        self._store = store
        self._access = access

    async def _require(self, actor: Principal, action: Action, project: str) -> ProjectRecord:
        async with self._store.transaction(readonly=True) as tx:
            facts = await self._access.facts(tx, project, actor)
        if facts.project is None:
            raise not_found(f"no project {project!r}")
        decision = decide(actor, action, facts, None)
        if not decision:
            # Someone who can neither pull nor see the project does not learn that it exists.
            if not (
                decide(actor, Action.PULL, facts, f"{project}/x")
                or decide(actor, Action.READ_PROJECT, facts, None)
            ):
                raise not_found(f"no project {project!r}")
            raise forbidden(decision.reason)
        return facts.project

    def _require_admin(self, actor: Principal, operation: str) -> None:
        decision = decide_system(actor, operation)
        if not decision:
            raise forbidden(decision.reason)
