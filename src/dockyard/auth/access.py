"""Access control as the API layer sees it: who is asking, and may they.

Every decision goes through `policy.decide`; this module only gathers the facts it needs.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from dataclasses import replace
from ipaddress import ip_network

from dockyard.auth import secrets
from dockyard.auth.actions import REPOSITORY_ACTIONS, Action, parse_actions
from dockyard.auth.audit import AuditLog
from dockyard.auth.config import AuthSettings
from dockyard.auth.policy import Decision, ProjectFacts, decide, granted_actions, project_of
from dockyard.auth.principal import Kind, Principal
from dockyard.auth.scopes import Scope
from dockyard.auth.tokens import ResourceAccess
from dockyard.meta.auth_records import ProjectRecord, RobotRecord, UserRecord
from dockyard.meta.base import MetadataStore, Transaction
from dockyard.oci.names import InvalidName, validate_name

# A project deleted meanwhile is recreated by the next push after this long at most.
KNOWN_PROJECT_SECONDS = 30.0


class AccessControl:
    def __init__(self, store: MetadataStore, settings: AuthSettings, audit: AuditLog) -> None:
        self._store = store
        self.settings = settings
        self.audit = audit
        self._known_projects: dict[str, float] = {}
        self.trusted_proxies = tuple(ip_network(n, strict=False) for n in settings.trusted_proxies)

    async def user_principal(self, tx: Transaction, user: UserRecord) -> Principal:
        groups = tuple(await tx.identities.groups_of(user.id))
        admin = user.is_admin or bool(set(groups) & set(self.settings.admin_groups))
        return Principal(Kind.USER, user.username, user.id, admin, groups)

    @staticmethod
    def robot_principal(robot: RobotRecord) -> Principal:
        return Principal(
            Kind.ROBOT,
            robot.name,
            robot_project=robot.project,
            robot_permissions=robot.permissions,
        )

    async def reload(self, kind: str, name: str) -> Principal | None:
        """The principal as it is now (for refresh tokens): None if gone or disabled."""
        async with self._store.transaction(readonly=True) as tx:
            if kind == Kind.ROBOT:
                robot = await tx.access.robot(name)
                if robot is None or not robot_usable(robot):
                    return None
                return self.robot_principal(robot)
            user = await tx.identities.user(name)
            if user is None or user.disabled:
                return None
            return await self.user_principal(tx, user)

    async def refresh(self, kind: str, name: str, stamp: object) -> Principal | None:
        """The principal behind a refresh token or session, unless the credential it was
        issued for has changed since (password changed, account disabled or deleted and
        recreated, access token revoked, robot secret rotated)."""
        principal = await self.reload(kind, name)
        if principal is None or not isinstance(stamp, str) or not stamp:
            return None
        credential = _credential_in(stamp)
        current = await self.stamp(replace(principal, credential=credential))
        if not hmac.compare_digest(current, stamp):
            return None
        return replace(principal, credential=credential)

    async def stamp(self, principal: Principal) -> str:
        """A fingerprint of the credential `principal` proved themselves with."""
        async with self._store.transaction(readonly=True) as tx:
            if principal.kind is Kind.ROBOT:
                robot = await tx.access.robot(principal.name)
                if robot is None:
                    return ""
                return "r" + secrets.digest(robot.secret_hash + str(robot.created_at))[:24]
            user = await tx.identities.user(principal.name)
            if user is None:
                return ""
            # created_at too: SQLite may give a deleted user's id to the next new one.
            stamp = f"u{user.id}.{user.created_at!r}.{user.token_version}"
            credential = principal.credential or ""
            if credential.startswith("pat:"):
                token = await tx.identities.token(credential[4:])
                expired = (
                    token is not None
                    and token.expires_at is not None
                    and (token.expires_at <= time.time())
                )
                if token is None or token.user_id != user.id or expired:
                    return ""
                stamp += f".p{token.id}"
            return stamp

    async def token_version(self, principal: Principal) -> int:
        if principal.kind is not Kind.USER:
            return 0
        async with self._store.transaction(readonly=True) as tx:
            user = await tx.identities.user(principal.name)
        return user.token_version if user else -1

    async def facts(self, tx: Transaction, project: str, principal: Principal) -> ProjectFacts:
        record = await tx.access.project(project)
        if record is None or principal.is_admin or principal.kind is not Kind.USER:
            return ProjectFacts(project, record)
        grants = await tx.access.grants_for(project, principal.name, principal.groups)
        custom = {}
        for role in {g.role for g in grants}:
            stored = await tx.access.role(role)
            if stored is not None:
                custom[role] = parse_actions(stored.actions)
        return ProjectFacts(project, record, grants, custom)

    async def decide(
        self, principal: Principal, action: Action, repository: str | None, project: str
    ) -> Decision:
        if principal.token is not None:
            return self._decide_by_token(principal, action, repository, project)
        async with self._store.transaction(readonly=True) as tx:
            facts = await self.facts(tx, project, principal)
        return decide(principal, action, facts, repository, self.settings.users_can_create_projects)

    @staticmethod
    def _decide_by_token(
        principal: Principal, action: Action, repository: str | None, project: str
    ) -> Decision:
        assert principal.token is not None
        if repository is not None and principal.token.allows("repository", repository, action):
            return Decision(True, "allowed by token")
        target = repository or f"project {project}"
        if not principal.authenticated:
            return Decision(False, f"log in to {action.value} {target}")
        return Decision(
            False, f"{principal.name} may not {action.value} {target} (not in the token)"
        )

    async def ensure_project(self, repository: str, principal: Principal) -> None:
        """A push into a project that does not exist creates it, private, and makes the
        pusher its admin (the policy has already said they may create it).

        Every chunk of a push comes through here, so a project seen recently is taken on trust
        and the common case costs no transaction at all."""
        name = project_of(repository)
        now = time.monotonic()
        if self._known_projects.get(name, 0.0) > now:
            return
        async with self._store.transaction(readonly=True) as tx:
            exists = await tx.access.project(name) is not None
        if not exists:
            await self._create_on_push(name, principal)
        self._known_projects[name] = now + KNOWN_PROJECT_SECONDS

    async def _create_on_push(self, name: str, principal: Principal) -> None:
        async with self._store.transaction() as tx:
            created = await tx.access.add_project(
                ProjectRecord(name, public=False, created_at=time.time(), created_by=principal.name)
            )
            if created and principal.kind is Kind.USER and not principal.is_admin:
                await tx.access.add_grant(name, "user", principal.name, "project-admin", "*")
        if created:
            await self.audit.write("project.create", name, "ok", {"on": "push"})

    async def grant_scopes(
        self, principal: Principal, scopes: Iterable[Scope]
    ) -> list[ResourceAccess]:
        """Requested scopes intersected with what the principal may do."""
        granted: list[ResourceAccess] = []
        for scope in scopes:
            if scope.type == "registry" and scope.name == "catalog":
                if principal.authenticated and "*" in scope.actions:
                    granted.append(ResourceAccess("registry", "catalog", ("*",)))
                continue
            if scope.type != "repository":
                continue
            try:
                name = validate_name(scope.name)
            except InvalidName:
                continue
            async with self._store.transaction(readonly=True) as tx:
                facts = await self.facts(tx, project_of(name), principal)
            allowed = (
                granted_actions(principal, facts, name, self.settings.users_can_create_projects)
                & REPOSITORY_ACTIONS
            )
            actions = _requested(scope.actions, allowed)
            if facts.project is None and Action.PUSH.value in actions:
                # Create the project now, not at the first push: otherwise someone else could
                # create it meanwhile and this token would push into their project.
                await self._create_on_push(facts.name, principal)
            granted.append(ResourceAccess("repository", name, tuple(sorted(actions))))
        return granted


def _requested(requested: tuple[str, ...], allowed: frozenset[Action]) -> set[str]:
    """`*` asks for everything; `delete` (the only delete docker knows) covers tag deletes."""
    wanted: set[str] = set()
    for action in requested:
        if action == "*":
            wanted |= {a.value for a in allowed}
        elif action == "delete":
            wanted |= {a.value for a in allowed & {Action.DELETE, Action.TAG_DELETE}}
        elif action in {a.value for a in allowed}:
            wanted.add(action)
    return wanted


def _credential_in(stamp: str) -> str | None:
    _, sep, token_id = stamp.partition(".p")
    return f"pat:{token_id}" if sep else None


def robot_usable(robot: RobotRecord) -> bool:
    return not robot.disabled and (robot.expires_at is None or robot.expires_at > time.time())
