"""Docker token auth scopes: `repository:team-a/app:pull,push`, `registry:catalog:*`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope | None:
    """None for a scope that cannot be understood (it is then simply not granted)."""
    resource_type, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    resource_type = resource_type.split("(", 1)[0]  # "repository(plugin)" is a repository
    if not sep or not sep2 or not name or not resource_type:
        return None
    return Scope(resource_type, name, tuple(a for a in actions.split(",") if a))


def parse_scopes(values: list[str]) -> list[Scope]:
    """Scopes from query parameters (repeatable) or the OAuth2 form (space separated)."""
    scopes = []
    for value in values:
        for part in value.split():
            scope = parse_scope(part)
            if scope is not None:
                scopes.append(scope)
    return scopes
