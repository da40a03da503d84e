"""The one place access is decided. Pure: the facts come in, a decision goes out.

Deny unless allowed. System admins may do everything. Otherwise a principal's actions on a
repository are the union of: pull on a public project (anyone, anonymous included); the roles
granted in the project to the user or one of their groups, where the grant's repository pattern
matches; a robot's explicit permissions. A push into a project that does not exist yet is
allowed to those who may create projects (the project is then created, private).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from dockyard.auth.actions import ALL_ACTIONS, BUILTIN_ROLES, Action
from dockyard.auth.principal import Kind, Principal
from dockyard.meta.auth_records import GrantRecord, ProjectRecord


@dataclass(frozen=True)
class ProjectFacts:
    """What the policy needs to know about one project for one principal."""

    name: str
    project: ProjectRecord | None
    grants: Sequence[GrantRecord] = ()
    custom_roles: Mapping[str, frozenset[Action]] | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def project_of(repository: str) -> str:
    """Projects are the first path segment of a repository name."""
    return repository.split("/", 1)[0]


def role_actions(
    role: str, custom_roles: Mapping[str, frozenset[Action]] | None
) -> frozenset[Action]:
    if role in BUILTIN_ROLES:
        return BUILTIN_ROLES[role]
    return (custom_roles or {}).get(role, frozenset())


def matches(pattern: str, repository: str | None, project: str) -> bool:
    """A grant's repository pattern: "*" is the whole project; otherwise a glob over the full
    repository name (`team-a/ci-*`). A project-level action (repository None) needs "*"."""
    if pattern == "*":
        return True
    if repository is None:
        return False
    if not pattern.startswith(f"{project}/"):
        return False
    return fnmatchcase(repository, pattern)


def granted_actions(
    principal: Principal, facts: ProjectFacts, repository: str | None, can_create: bool = False
) -> frozenset[Action]:
    """Every action the principal may take on `repository` (or on the project, when None)."""
    if principal.is_admin:
        return ALL_ACTIONS
    if facts.project is None:
        creatable = can_create and principal.kind is Kind.USER and repository is not None
        return frozenset({Action.PUSH, Action.PULL}) if creatable else frozenset()
    actions: set[Action] = set()
    if facts.project.public and repository is not None:
        actions.add(Action.PULL)
    if principal.kind is Kind.ROBOT:
        actions |= _robot_actions(principal, facts.name, repository)
        return frozenset(actions)
    if principal.kind is Kind.USER:
        for grant in facts.grants:
            if (
                grant.project == facts.name
                and _applies(grant, principal)
                and matches(grant.repositories, repository, facts.name)
            ):
                actions |= role_actions(grant.role, facts.custom_roles)
    return frozenset(actions)


def _applies(grant: GrantRecord, principal: Principal) -> bool:
    if grant.subject_kind == "user":
        return grant.subject == principal.name
    return grant.subject_kind == "group" and grant.subject in principal.groups


def _robot_actions(principal: Principal, project: str, repository: str | None) -> set[Action]:
    if principal.robot_project is not None and principal.robot_project != project:
        return set()
    actions: set[Action] = set()
    for permission in principal.robot_permissions:
        pattern = permission.repositories
        if pattern == "*" and principal.robot_project is None:
            hit = True  # a system robot granted everything
        elif pattern.endswith("/*") and repository is None:
            hit = pattern == f"{project}/*"
        else:
            hit = matches(pattern, repository, project)
        if hit:
            actions |= {Action(a) for a in permission.actions if a in Action.__members__.values()}
    return actions


def decide(
    principal: Principal,
    action: Action,
    facts: ProjectFacts,
    repository: str | None,
    can_create: bool = False,
) -> Decision:
    if action in granted_actions(principal, facts, repository, can_create):
        return Decision(True, "allowed")
    target = repository or f"project {facts.name}"
    if facts.project is None and not principal.is_admin:
        if action is Action.PUSH and principal.authenticated:
            return Decision(
                False,
                f"project {facts.name!r} does not exist; an administrator must create it first",
            )
        return Decision(False, f"{target} does not exist or you may not {action.value} it")
    if not principal.authenticated:
        return Decision(False, f"log in to {action.value} {target}")
    return Decision(False, f"{principal.name} may not {action.value} {target}")


def decide_system(
    principal: Principal, operation: str, can_create_projects: bool = False
) -> Decision:
    """Registry-wide operations (users, groups, custom roles, system robots, the whole audit
    log) belong to system admins; creating a project also to users when configured."""
    if principal.is_admin:
        return Decision(True, "allowed")
    if operation == "create-project" and can_create_projects and principal.kind is Kind.USER:
        return Decision(True, "allowed")
    if not principal.authenticated:
        return Decision(False, f"log in to {operation}")
    return Decision(False, f"only a system administrator may {operation}")
