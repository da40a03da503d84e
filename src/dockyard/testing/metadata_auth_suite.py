"""The conformance suite of who may do what: identities (users, groups, personal access
tokens) and access (projects, grants, roles, robots). The audit log, login throttle and signing
keys are small stores like the outbox, and live in `metadata_suite`.

Subclass `MetadataAuthSuite` (next to `MetadataStoreSuite`) and provide a `store` fixture
yielding an opened, empty store. Set `constraint_error` to what the backend raises when a
unique or foreign key constraint refuses a write.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from dockyard.meta.auth_records import (
    AccessTokenRecord,
    GrantRecord,
    NewUser,
    ProjectRecord,
    RobotPermission,
    RobotRecord,
    RoleRecord,
    UserRecord,
)
from dockyard.meta.base import MetadataStore

PULL_PUSH = (RobotPermission("team/*", ("pull", "push")), RobotPermission("team/app", ("pull",)))


def robot(name: str, project: str | None, created_at: float = 10.0) -> RobotRecord:
    return RobotRecord(name, project, PULL_PUSH, False, created_at, secret_hash="s" + name)


@pytest.mark.anyio
class MetadataAuthSuite:
    constraint_error: type[Exception] = Exception

    # --- identities ------------------------------------------------------------------------

    async def test_users_get_ids_and_unique_names_and_subjects(self, store: MetadataStore) -> None:
        before = time.time()
        async with store.transaction() as tx:
            alice = await tx.identities.add_user(
                NewUser("alice", password_hash="h1", email="alice@example.org", is_admin=True)
            )
            bob = await tx.identities.add_user(
                NewUser("bob", source="oidc", subject="sub-1", display_name="Bob")
            )
            carol = await tx.identities.add_user(NewUser("carol"))  # NULL subjects never clash
        assert all(isinstance(u.id, int) for u in (alice, bob, carol))
        assert len({alice.id, bob.id, carol.id}) == 3
        assert before <= alice.created_at <= time.time()
        assert alice == UserRecord(  # enabled, token version 0
            alice.id, "alice", "local", True, False, 0, alice.created_at, "h1", "alice@example.org"
        )
        for duplicate in (NewUser("alice"), NewUser("bobby", source="oidc", subject="sub-1")):
            with pytest.raises(self.constraint_error):
                async with store.transaction() as tx:
                    await tx.identities.add_user(duplicate)
        async with store.transaction(readonly=True) as tx:
            assert await tx.identities.user("alice") == alice
            assert await tx.identities.user_by_id(bob.id) == bob
            assert await tx.identities.user_by_subject("oidc", "sub-1") == bob
            assert await tx.identities.user_by_subject("ldap", "sub-1") is None
            assert await tx.identities.user("bobby") is None
            assert await tx.identities.user_by_id(alice.id + bob.id + carol.id) is None
            assert await tx.identities.count_users() == 3

    async def test_users_page_lexically_and_search_name_or_email(
        self, store: MetadataStore
    ) -> None:
        emails = {"alice": "Alice@Example.ORG", "bob": "b@corp.test", "Zed": "zed@EXAMPLE.org"}
        names = ["bob", "Bob2", "alice", "_svc", "a.b", "a-b", "Zed", "a_b", "a%b"]
        async with store.transaction() as tx:
            for name in names:
                await tx.identities.add_user(NewUser(name, email=emails.get(name)))

        async def page(last: str | None, limit: int, query: str | None = None) -> list[str]:
            async with store.transaction(readonly=True) as tx:
                return [u.username for u in await tx.identities.users(last, limit, query)]

        expected = sorted(names)  # byte order: upper case before lower case
        assert await page(None, 100) == expected
        assert await page(None, 3) == expected[:3]
        assert await page(expected[2], 3) == expected[3:6]
        assert await page(expected[-1], 3) == []
        assert await page(None, 100, "example") == ["Zed", "alice"]
        assert await page("Zed", 100, "EXAMPLE") == ["alice"]
        assert await page(None, 100, "BOB") == ["Bob2", "bob"]
        assert await page(None, 100, "corp") == ["bob"]
        # LIKE wildcards in a query are plain characters.
        assert await page(None, 100, "a_b") == ["a_b"]
        assert await page(None, 100, "_") == ["_svc", "a_b"]
        assert await page(None, 100, "%") == ["a%b"]
        assert await page(None, 100, "nobody") == []

    async def test_password_change_and_disable_bump_the_token_version(
        self, store: MetadataStore
    ) -> None:
        async with store.transaction() as tx:
            alice = await tx.identities.add_user(NewUser("alice", password_hash="h1"))

        async def change(**changes: Any) -> UserRecord | None:
            async with store.transaction() as tx:
                assert await tx.identities.update_user("alice", **changes)
                return await tx.identities.user("alice")

        profile = {"email": "a@x.test", "display_name": "A", "is_admin": True, "last_login_at": 1.5}
        user = await change(**profile)
        assert user == replace(alice, **profile)  # profile changes keep tokens alive
        user = await change(password_hash="h2")
        assert user == replace(alice, **profile, password_hash="h2", token_version=1)
        user = await change(disabled=True)
        assert (user.disabled, user.token_version) == (True, 2)
        user = await change(disabled=False, email=None)
        assert (user.disabled, user.email, user.token_version) == (False, None, 2)
        for forbidden in ({"token_version": 0}, {"id": 99}, {"source": "ldap"}, {"subject": "x"}):
            with pytest.raises(ValueError):
                await change(**forbidden)
        async with store.transaction() as tx:
            assert not await tx.identities.update_user("nobody", email="x@y.test")
            assert await tx.identities.update_user("alice")  # nothing to change
            assert not await tx.identities.update_user("nobody")
            assert (await tx.identities.user("alice")).token_version == 2

    async def test_deleting_a_user_deletes_their_groups_and_tokens(
        self, store: MetadataStore
    ) -> None:
        async with store.transaction() as tx:
            bob = await tx.identities.add_user(NewUser("bob"))
            # The newest user: SQLite may hand the id of a deleted one out again.
            alice = await tx.identities.add_user(NewUser("alice"))
            await tx.identities.add_member("devs", alice.id)
            await tx.identities.add_member("devs", bob.id)
            await tx.identities.set_groups(alice.id, "ldap", ["ops"])
            await tx.identities.add_token(AccessTokenRecord("t1", alice.id, "ci", 1.0, "x"))
            await tx.identities.add_token(AccessTokenRecord("t2", bob.id, "ci", 1.0, "y"))
        async with store.transaction() as tx:
            assert await tx.identities.delete_user("alice")
            assert not await tx.identities.delete_user("alice")
        async with store.transaction() as tx:
            # Whatever id the next user gets, it inherits nothing from the deleted one.
            mallory = await tx.identities.add_user(NewUser("mallory"))
            for user_id in (alice.id, mallory.id):
                assert await tx.identities.groups_of(user_id) == []
                assert await tx.identities.tokens_of(user_id) == []
            assert await tx.identities.token("t1") is None
            assert (await tx.identities.token("t2")).user_id == bob.id
            assert await tx.identities.members("devs") == ["bob"]
            assert await tx.identities.members("ops") == []
            assert await tx.identities.count_users() == 2

    async def test_groups_by_origin(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            ids = tx.identities
            alice = await ids.add_user(NewUser("alice"))
            bob = await ids.add_user(NewUser("bob"))
            await ids.set_groups(alice.id, "ldap", ["ops", "dev", "ops"])
            await ids.add_member("dev", alice.id)
            await ids.add_member("dev", alice.id)  # idempotent
            await ids.add_member("dev", bob.id)
            await ids.set_groups(alice.id, "oidc", ["web"])
            assert await ids.groups_of(alice.id) == ["dev", "ops", "web"]  # distinct, sorted
            await ids.set_groups(alice.id, "ldap", ["qa"])  # replaces ldap's groups only
            assert await ids.groups_of(alice.id) == ["dev", "qa", "web"]
            await ids.set_groups(alice.id, "ldap", [])
            assert await ids.groups_of(alice.id) == ["dev", "web"]
            await ids.set_groups(alice.id, "ldap", ["dev"])
            assert await ids.members("dev") == ["alice", "bob"]
            assert await ids.remove_member("dev", alice.id)  # the local membership only
            assert not await ids.remove_member("dev", alice.id)
            assert await ids.groups_of(alice.id) == ["dev", "web"]
            assert await ids.groups_of(bob.id) == ["dev"]

            assert await ids.add_group("dev", "Developers")
            assert not await ids.add_group("dev", "changed")
            assert await ids.add_group("Ops", None)
            assert await ids.groups() == [("Ops", None), ("dev", "Developers")]
            await ids.add_member("dev", alice.id)
            assert await ids.delete_group("dev")
            assert not await ids.delete_group("dev")
            assert await ids.groups() == [("Ops", None)]
            # Local memberships go with the group; what an identity source vouched for stays.
            assert await ids.groups_of(bob.id) == []
            assert await ids.groups_of(alice.id) == ["dev", "web"]
            assert await ids.members("dev") == ["alice"]

    async def test_access_tokens_belong_to_their_owner(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            alice = await tx.identities.add_user(NewUser("alice"))
            bob = await tx.identities.add_user(NewUser("bob"))
            newer = AccessTokenRecord("t1", alice.id, "ci", 200.0, "h1", expires_at=900.0)
            older = AccessTokenRecord("t0", alice.id, "laptop", 100.0, "h0")
            for token in (newer, older, AccessTokenRecord("t2", bob.id, "ci", 1.0, "h2")):
                await tx.identities.add_token(token)
        with pytest.raises(self.constraint_error):
            async with store.transaction() as tx:
                await tx.identities.add_token(replace(older, user_id=bob.id))
        async with store.transaction() as tx:
            assert await tx.identities.token("t1") == newer
            assert await tx.identities.tokens_of(alice.id) == [older, newer]  # oldest first
            assert not await tx.identities.delete_token(bob.id, "t1")
            await tx.identities.touch_token("t1", 300.5)
            assert await tx.identities.token("t1") == replace(newer, last_used_at=300.5)
            assert await tx.identities.delete_token(alice.id, "t1")
            assert not await tx.identities.delete_token(alice.id, "t1")
            assert await tx.identities.token("t1") is None
            assert [t.id for t in await tx.identities.tokens_of(bob.id)] == ["t2"]

    # --- access ----------------------------------------------------------------------------

    async def test_projects_page_lexically_and_change_visibility(
        self, store: MetadataStore
    ) -> None:
        names = ["team-b", "Team", "team_a", "team", "a.b", "team.c"]
        async with store.transaction() as tx:
            for name in names:
                assert await tx.access.add_project(ProjectRecord(name, False, 1.5, "admin"))
            assert not await tx.access.add_project(ProjectRecord("team", True, 9.0, "eve"))
            assert await tx.access.add_project(ProjectRecord("nobody-made", True, 2.0))
        names.append("nobody-made")
        expected = sorted(names)
        async with store.transaction() as tx:
            assert [p.name for p in await tx.access.projects(None, 100)] == expected
            assert [p.name for p in await tx.access.projects(None, 2)] == expected[:2]
            assert [p.name for p in await tx.access.projects(expected[1], 3)] == expected[2:5]
            assert await tx.access.project("team") == ProjectRecord("team", False, 1.5, "admin")
            assert await tx.access.project("nobody-made") == ProjectRecord("nobody-made", True, 2.0)
            assert await tx.access.project("nope") is None
            assert await tx.access.set_project_public("team", True)
            assert not await tx.access.set_project_public("nope", True)
            assert (await tx.access.project("team")).public is True
            assert (await tx.access.project("team")).quota_bytes is None
            assert await tx.access.set_project_quota("team", 5 * 2**30)
            assert not await tx.access.set_project_quota("nope", 1)
            assert (await tx.access.project("team")).quota_bytes == 5 * 2**30
            assert await tx.access.set_project_quota("team", None)
            assert (await tx.access.project("team")).quota_bytes is None

    async def test_grants_by_user_and_group_within_one_project(self, store: MetadataStore) -> None:
        async with store.transaction() as tx:
            acc = tx.access
            for name in ("team", "team-b"):
                await acc.add_project(ProjectRecord(name, False, 1.0))
            mine = await acc.add_grant("team", "user", "alice", "developer", "*")
            assert await acc.add_grant("team", "user", "alice", "developer", "*") == mine
            group = await acc.add_grant("team", "group", "devs", "guest", "team/web-*")
            other_role = await acc.add_grant("team", "user", "alice", "guest", "*")
            elsewhere = await acc.add_grant("team-b", "user", "alice", "admin", "*")
        assert mine == GrantRecord(mine.id, "team", "user", "alice", "developer", "*")
        assert len({mine.id, group.id, other_role.id, elsewhere.id}) == 4
        with pytest.raises(self.constraint_error):  # no grants in projects that do not exist
            async with store.transaction() as tx:
                await tx.access.add_grant("ghost", "user", "alice", "developer", "*")
        async with store.transaction() as tx:
            acc = tx.access
            assert await acc.grants("team") == [mine, group, other_role]
            assert await acc.grants_for("team", "alice", []) == [mine, other_role]
            assert await acc.grants_for("team", None, ["ops", "devs"]) == [group]
            assert await acc.grants_for("team", "alice", ["devs"]) == [mine, group, other_role]
            assert await acc.grants_for("team", "devs", ["alice"]) == []  # kinds do not mix
            assert await acc.grants_for("team", None, []) == []
            assert await acc.grants_for("team-b", "alice", ["devs"]) == [elsewhere]
            assert await acc.grants_for("ghost", "alice", ["devs"]) == []
            assert not await acc.delete_grant("team-b", mine.id)  # scoped to its project
            assert await acc.delete_grant("team", mine.id)
            assert not await acc.delete_grant("team", mine.id)
            assert await acc.grants("team") == [group, other_role]

    async def test_deleting_a_project_deletes_its_grants_and_robots(
        self, store: MetadataStore
    ) -> None:
        async with store.transaction() as tx:
            acc = tx.access
            for name in ("team", "team-b"):
                await acc.add_project(ProjectRecord(name, False, 1.0))
            await acc.add_grant("team", "user", "alice", "developer", "*")
            kept = await acc.add_grant("team-b", "user", "alice", "developer", "*")
            await acc.add_robot(robot("robot$team+ci", "team"))
            await acc.add_robot(robot("robot$team-b+ci", "team-b"))
            await acc.add_robot(robot("robot$backup", None))
        async with store.transaction() as tx:
            assert await tx.access.delete_project("team")
            assert not await tx.access.delete_project("team")
        async with store.transaction() as tx:
            acc = tx.access
            assert await acc.project("team") is None
            assert await acc.robot("robot$team+ci") is None
            assert await acc.robots("team") == []
            assert [r.name for r in await acc.robots("team-b")] == ["robot$team-b+ci"]
            assert [r.name for r in await acc.robots(None)] == ["robot$backup"]
            assert await acc.grants("team-b") == [kept]
            # A project made again under the old name starts with nobody in it.
            await acc.add_project(ProjectRecord("team", False, 2.0))
            assert await acc.grants("team") == []
            assert await acc.grants_for("team", "alice", []) == []

    async def test_roles_keep_their_actions(self, store: MetadataStore) -> None:
        deployer = RoleRecord("deployer", ("pull", "push", "delete"), "for CI")
        auditor = RoleRecord("auditor", ())
        async with store.transaction() as tx:
            assert await tx.access.add_role(deployer)
            assert not await tx.access.add_role(replace(deployer, actions=("pull",)))
            assert await tx.access.add_role(auditor)
        async with store.transaction() as tx:
            assert await tx.access.role("deployer") == deployer
            assert await tx.access.role("nope") is None
            assert await tx.access.roles() == [auditor, deployer]
            assert await tx.access.delete_role("deployer")
            assert not await tx.access.delete_role("deployer")
            assert await tx.access.roles() == [auditor]

    async def test_robots_of_projects_and_of_the_system(self, store: MetadataStore) -> None:
        ci = replace(
            robot("robot$team+ci", "team"),
            expires_at=99.5,
            description="CI",
            created_by="alice",
        )
        system = robot("robot$backup", None, created_at=11.0)
        async with store.transaction() as tx:
            await tx.access.add_project(ProjectRecord("team", False, 1.0))
            assert await tx.access.add_robot(ci)
            assert not await tx.access.add_robot(replace(ci, project=None, secret_hash="x"))
            assert await tx.access.add_robot(system)
        with pytest.raises(self.constraint_error):
            async with store.transaction() as tx:
                await tx.access.add_robot(robot("robot$ghost+ci", "ghost"))
        narrower = (RobotPermission("team/x", ("pull",)),)
        async with store.transaction() as tx:
            acc = tx.access
            assert await acc.robot("robot$team+ci") == ci
            assert await acc.robots("team") == [ci]
            assert await acc.robots(None) == [system]
            assert await acc.robots("other") == []
            changes = {
                "permissions": narrower,
                "disabled": True,
                "secret_hash": "rotated",
                "expires_at": None,
                "description": None,
            }
            assert await acc.update_robot("robot$team+ci", **changes)
            assert await acc.robot("robot$team+ci") == replace(ci, **changes)
            assert not await acc.update_robot("robot$nope", disabled=True)
            assert await acc.update_robot("robot$team+ci")  # nothing to change
            assert not await acc.update_robot("robot$nope")
            for forbidden in ({"project": None}, {"created_by": "eve"}, {"created_at": 0.0}):
                with pytest.raises(ValueError):
                    await acc.update_robot("robot$team+ci", **forbidden)
            assert await acc.delete_robot("robot$team+ci")
            assert not await acc.delete_robot("robot$team+ci")
            assert await acc.robots("team") == []
