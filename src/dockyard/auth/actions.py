"""What a principal can do, and the built-in roles that bundle it."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"  # manifests and blobs by digest
    TAG_DELETE = "tag-delete"
    READ_PROJECT = "read-project"  # see members, robots and policies
    MANAGE_MEMBERS = "manage-members"
    MANAGE_POLICIES = "manage-policies"
    MANAGE_ROBOTS = "manage-robots"
    READ_AUDIT = "read-audit"


# Actions on a repository: the ones a registry token can carry.
REPOSITORY_ACTIONS = frozenset({Action.PULL, Action.PUSH, Action.DELETE, Action.TAG_DELETE})
ALL_ACTIONS = frozenset(Action)

# The roles people know from Harbor. Limited guest pulls but cannot see who is in the project.
BUILTIN_ROLES: dict[str, frozenset[Action]] = {
    "project-admin": ALL_ACTIONS,
    "maintainer": frozenset(
        {
            Action.PULL,
            Action.PUSH,
            Action.DELETE,
            Action.TAG_DELETE,
            Action.READ_PROJECT,
            Action.MANAGE_POLICIES,
            Action.MANAGE_ROBOTS,
            Action.READ_AUDIT,
        }
    ),
    "developer": frozenset({Action.PULL, Action.PUSH, Action.TAG_DELETE, Action.READ_PROJECT}),
    "guest": frozenset({Action.PULL, Action.READ_PROJECT}),
    "limited-guest": frozenset({Action.PULL}),
}


def parse_actions(names: list[str] | tuple[str, ...]) -> frozenset[Action]:
    """Action names as given by a person; an unknown name is an error, not ignored."""
    try:
        return frozenset(Action(name) for name in names)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise ValueError(f"unknown action in {list(names)}; known actions: {known}") from None
