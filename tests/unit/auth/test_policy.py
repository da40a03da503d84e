"""The policy as a pure function: every role and every action, robots, groups, patterns, projects
that do not exist. The expected table is the one docs/auth/README.md shows, written out here."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.auth.actions import Action
from dockyard.auth.policy import ProjectFacts, decide, decide_system, matches
from dockyard.auth.principal import ANONYMOUS, Kind, Principal
from dockyard.meta.auth_records import GrantRecord, ProjectRecord, RobotPermission

README = Path(__file__).parents[3] / "docs" / "auth" / "README.md"

COLUMNS = (
    "pull",
    "push",
    "delete",
    "tag-delete",
    "read-project",
    "manage-members",
    "manage-policies",
    "manage-robots",
    "read-audit",
)
# docs/auth/README.md, "role" table (x = allowed), columns in the order of COLUMNS:
#       pull push delete tag-delete read-project manage-members manage-policies manage-robots audit
ROLE_TABLE = {
    "project-admin": "x x x x x x x x x",
    "maintainer": "x x x x x . x x x",
    "developer": "x x . x x . . . .",
    "guest": "x . . . x . . . .",
    "limited-guest": "x . . . . . . . .",
}
ALLOWED = {
    role: {action for action, mark in zip(COLUMNS, row.split(), strict=True) if mark == "x"}
    for role, row in ROLE_TABLE.items()
}
PROJECT_LEVEL = {"read-project", "manage-members", "manage-policies", "manage-robots", "read-audit"}

PRIVATE = ProjectRecord("team-a", public=False, created_at=0.0)
PUBLIC = ProjectRecord("team-a", public=True, created_at=0.0)
REPO = "team-a/app"


def user(name: str = "alice", groups: tuple[str, ...] = (), admin: bool = False) -> Principal:
    return Principal(Kind.USER, name, user_id=1, is_admin=admin, groups=groups)


def robot(project: str | None, *permissions: tuple[str, tuple[str, ...]]) -> Principal:
    name = f"robot${project}+ci" if project else "robot$ci"
    perms = tuple(RobotPermission(pattern, actions) for pattern, actions in permissions)
    return Principal(Kind.ROBOT, name, robot_project=project, robot_permissions=perms)


def grant(
    role: str, subject: str = "alice", kind: str = "user", repos: str = "*", project: str = "team-a"
) -> GrantRecord:
    return GrantRecord(1, project, kind, subject, role, repos)


def facts(
    *grants: GrantRecord, project: ProjectRecord | None = PRIVATE, **custom: set[str]
) -> ProjectFacts:
    roles = {name: frozenset(Action(a) for a in actions) for name, actions in custom.items()}
    return ProjectFacts("team-a", project, grants, roles)


def allowed(principal: Principal, facts_: ProjectFacts, repository: str = REPO) -> set[str]:
    """The repository actions the principal may take on `repository`."""
    return {
        a
        for a in COLUMNS
        if a not in PROJECT_LEVEL and decide(principal, Action(a), facts_, repository)
    }


def on_project(principal: Principal, facts_: ProjectFacts) -> set[str]:
    """The project-level actions (repository None) the principal may take."""
    return {a for a in PROJECT_LEVEL if decide(principal, Action(a), facts_, None)}


def test_the_role_table_here_is_the_one_in_the_docs() -> None:
    rows = {}
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[0] in ROLE_TABLE:
            rows[cells[0]] = {a for a, mark in zip(COLUMNS, cells[1:], strict=True) if mark}
    assert rows == ALLOWED


@pytest.mark.parametrize("action", COLUMNS)
@pytest.mark.parametrize("role", list(ROLE_TABLE))
def test_role_grants_exactly_the_documented_actions(role: str, action: str) -> None:
    repository = None if action in PROJECT_LEVEL else REPO
    decision = decide(user(), Action(action), facts(grant(role)), repository)
    assert bool(decision) is (action in ALLOWED[role]), decision.reason


@pytest.mark.parametrize("role", list(ROLE_TABLE))
def test_role_granted_to_a_group_applies_to_its_members(role: str) -> None:
    through_group = facts(grant(role, subject="devs", kind="group"))
    member, outsider = user(groups=("devs",)), user(groups=("ops",))
    assert on_project(member, through_group) == ALLOWED[role] & PROJECT_LEVEL
    assert allowed(member, through_group) == ALLOWED[role] - PROJECT_LEVEL
    assert on_project(outsider, through_group) | allowed(outsider, through_group) == set()


def test_no_grant_means_nothing_in_a_private_project_and_pull_in_a_public_one() -> None:
    someone_else = facts(grant("project-admin", subject="bob"))
    assert allowed(user(), someone_else) == set()
    assert allowed(user(), facts(project=PUBLIC)) == {"pull"}
    assert on_project(user(), facts(project=PUBLIC)) == set()


def test_anonymous_pulls_public_projects_only() -> None:
    assert allowed(ANONYMOUS, facts(project=PUBLIC)) == {"pull"}
    assert allowed(ANONYMOUS, facts()) == set()
    assert decide(ANONYMOUS, Action.PULL, facts(), REPO).reason == "log in to pull team-a/app"


def test_a_grant_for_another_project_or_user_gives_nothing_here() -> None:
    foreign = grant("project-admin", project="team-b")
    assert allowed(user(), facts(foreign)) == set()
    assert allowed(user(), facts(grant("project-admin", subject="Alice"))) == set()
    denied = decide(user(), Action.PUSH, facts(foreign), REPO)
    assert not denied and denied.reason == "alice may not push team-a/app"


def test_system_admin_may_do_everything_even_without_a_project() -> None:
    admin = user("root", admin=True)
    assert allowed(admin, facts()) | on_project(admin, facts()) == set(COLUMNS)
    assert allowed(admin, facts(project=None)) == set(COLUMNS) - PROJECT_LEVEL


def test_custom_role_is_its_actions_and_an_unknown_role_is_nothing() -> None:
    ci = facts(grant("ci-pusher"), **{"ci-pusher": {"pull", "push"}})
    assert allowed(user(), ci) == {"pull", "push"}
    assert on_project(user(), ci) == set()
    assert allowed(user(), facts(grant("no-such-role"))) == set()


def test_repository_scoped_grant() -> None:
    scoped = facts(grant("project-admin", repos="team-a/ci-*"))
    assert allowed(user(), scoped, "team-a/ci-app") == ALLOWED["project-admin"] - PROJECT_LEVEL
    assert allowed(user(), scoped, "team-a/app") == set()
    # project-level actions need a grant on the whole project
    assert on_project(user(), scoped) == set()


@pytest.mark.parametrize(
    ("pattern", "repository", "expected"),
    [
        ("*", "team-a/anything", True),
        ("*", None, True),
        ("team-a/ci-*", "team-a/ci-app", True),
        ("team-a/ci-*", "team-a/app", False),
        ("team-a/ci-*", None, False),
        ("team-a/app", "team-a/app", True),
        ("team-a/app", "team-a/app2", False),
        ("team-a/App", "team-a/app", False),
        ("team-b/*", "team-b/app", False),  # a pattern never reaches outside its project
        ("team-a*", "team-a/app", False),
        ("*/app", "team-a/app", False),
    ],
)
def test_grant_patterns(pattern: str, repository: str | None, expected: bool) -> None:
    assert matches(pattern, repository, "team-a") is expected


def test_project_robot_has_its_explicit_permissions_in_its_project_only() -> None:
    ci = robot("team-a", ("team-a/*", ("pull", "push")), ("team-a/ci-*", ("delete",)))
    assert allowed(ci, facts()) == {"pull", "push"}
    assert allowed(ci, facts(), "team-a/ci-app") == {"pull", "push", "delete"}
    assert on_project(ci, facts()) == set()
    other = ProjectFacts("team-b", ProjectRecord("team-b", False, 0.0))
    assert allowed(ci, other, "team-b/app") == set()
    # roles granted to a user that happens to share the robot's name do not apply to robots
    assert allowed(ci, facts(grant("project-admin", subject=ci.name))) == {"pull", "push"}


def test_project_robot_with_project_level_permissions() -> None:
    manager = robot("team-a", ("team-a/*", ("manage-robots", "read-project")))
    assert on_project(manager, facts()) == {"manage-robots", "read-project"}
    whole = robot("team-a", ("*", ("read-audit",)))
    assert on_project(whole, facts()) == {"read-audit"}


def test_system_robot() -> None:
    sysbot = robot(None, ("*", ("pull",)), ("team-a/ci-*", ("push",)))
    assert allowed(sysbot, facts()) == {"pull"}
    assert allowed(sysbot, facts(), "team-a/ci-app") == {"pull", "push"}
    other = ProjectFacts("team-b", ProjectRecord("team-b", False, 0.0))
    assert allowed(sysbot, other, "team-b/app") == {"pull"}
    assert allowed(robot(None, ("team-b/*", ("pull",))), facts()) == set()


def test_unknown_robot_action_names_are_ignored() -> None:
    odd = robot("team-a", ("team-a/*", ("pull", "admin", "*")))
    assert allowed(odd, facts()) == {"pull"}


def test_robot_and_anonymous_pull_public_projects() -> None:
    assert allowed(robot("team-b"), facts(project=PUBLIC)) == {"pull"}


class TestProjectThatDoesNotExist:
    missing = facts(project=None)

    def test_admin_may_push_and_so_create_it(self) -> None:
        assert decide(user("root", admin=True), Action.PUSH, self.missing, REPO)

    def test_user_is_told_an_administrator_must_create_it(self) -> None:
        decision = decide(user(), Action.PUSH, self.missing, REPO)
        assert not decision
        assert "'team-a' does not exist" in decision.reason
        assert "an administrator must create it first" in decision.reason

    def test_user_may_create_it_when_users_can_create_projects(self) -> None:
        assert decide(user(), Action.PUSH, self.missing, REPO, can_create=True)
        assert not decide(user(), Action.DELETE, self.missing, REPO, can_create=True)
        assert not decide(user(), Action.MANAGE_MEMBERS, self.missing, None, can_create=True)

    def test_robots_and_anonymous_never_create_projects(self) -> None:
        everything = robot(None, ("*", ("pull", "push")))
        assert not decide(everything, Action.PUSH, self.missing, REPO, can_create=True)
        assert not decide(ANONYMOUS, Action.PUSH, self.missing, REPO, can_create=True)

    def test_pull_reveals_nothing(self) -> None:
        decision = decide(user(), Action.PULL, self.missing, REPO)
        assert not decision
        assert decision.reason == "team-a/app does not exist or you may not pull it"


@pytest.mark.parametrize("operation", ["create-user", "create-role", "read-audit"])
def test_system_operations_belong_to_admins(operation: str) -> None:
    assert decide_system(user("root", admin=True), operation)
    assert not decide_system(user(), operation, can_create_projects=True)
    assert not decide_system(robot(None, ("*", ("pull",))), operation)
    assert decide_system(ANONYMOUS, operation).reason == f"log in to {operation}"


def test_creating_projects_is_for_users_only_when_configured() -> None:
    assert not decide_system(user(), "create-project")
    assert decide_system(user(), "create-project", can_create_projects=True)
    assert not decide_system(robot(None), "create-project", can_create_projects=True)
    assert not decide_system(ANONYMOUS, "create-project", can_create_projects=True)
