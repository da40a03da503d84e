"""People and permissions: users, groups, robot accounts, project members and roles.

Each page reads and changes through `UserAdmin` / `ProjectAdmin`, the services behind the
management API: they decide who may (a non-admin gets their 403) and they audit every change.
Forms post back to their own page with an `op` field and are answered with a redirect (so a
reload never repeats a change); a mistake (a taken name, a short password) comes back as a
message on the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response

from dockyard.auth.actions import REPOSITORY_ACTIONS, Action
from dockyard.auth.policy import decide
from dockyard.errors import Problem, invalid
from dockyard.ext.base import ExtensionContext
from dockyard.ext.ui.registry_pages import inventory
from dockyard.ext.ui.web import View
from dockyard.meta.auth_records import RobotPermission

ROBOT_ACTIONS = [a.value for a in Action if a in REPOSITORY_ACTIONS]
SHOWN_AS_MESSAGE = (404, 409, 422)


async def _apply(view: View, url: str, change: Callable[[], Awaitable[str]]) -> Response:
    """Run one change; back to `url` with its message, or with the service's objection."""
    try:
        message = await change()
    except Problem as exc:
        if exc.status not in SHOWN_AS_MESSAGE:
            raise
        return view.redirect(url, exc.detail, level="error")
    return view.redirect(url, message)


def _days(text: str | None) -> int | None:
    if not text:
        return None
    try:
        days = int(text)
    except ValueError:
        raise invalid("expiry must be a whole number of days") from None
    if not 1 <= days <= 3650:
        raise invalid("expiry must be between 1 and 3650 days")
    return days


class AdminPages:
    def __init__(self, context: ExtensionContext, page_size: int) -> None:
        self.users_admin = context.user_admin
        self.projects_admin = context.project_admin
        self.context = context
        self.page_size = page_size

    # --- users -------------------------------------------------------------------------------

    async def users(self, view: View) -> Response:
        if view.request.method == "POST":
            form = await view.form()
            return await _apply(view, "/admin/users", lambda: self._change_user(view, form))
        params = view.request.query_params
        q, last = params.get("q", "").strip(), params.get("last") or None
        found = await self.users_admin.list(view.principal, last, self.page_size + 1, q or None)
        more = len(found) > self.page_size
        found = found[: self.page_size]
        return view.render(
            "users.html",
            partial="_user_rows.html",
            users=found,
            q=q,
            last=last,
            next_last=found[-1].username if more else None,
        )

    async def _change_user(self, view: View, form: dict[str, str]) -> str:
        op, name, actor = form.get("op"), form.get("username", "").strip(), view.principal
        if op == "create":
            await self.users_admin.create(
                actor, name, form.get("password", ""), form.get("email") or None, "admin" in form
            )
            return f"User {name} created."
        if op in ("disable", "enable"):
            await self.users_admin.update(actor, name, disabled=op == "disable")
            return f"User {name} {op}d."
        raise invalid(f"unknown operation {op!r}")

    # --- groups ------------------------------------------------------------------------------

    async def groups(self, view: View) -> Response:
        if view.request.method == "POST":
            form = await view.form()
            return await _apply(view, "/admin/groups", lambda: self._change_group(view, form))
        found = await self.users_admin.groups(view.principal)
        return view.render("groups.html", groups=found)

    async def _change_group(self, view: View, form: dict[str, str]) -> str:
        op, group, actor = form.get("op"), form.get("group", "").strip(), view.principal
        user = form.get("username", "").strip()
        if op == "create":
            await self.users_admin.create_group(actor, group, form.get("description") or None)
            return f"Group {group} created."
        if op in ("add", "remove"):
            await self.users_admin.set_member(actor, group, user, op == "add")
            return f"{user} {'added to' if op == 'add' else 'removed from'} {group}."
        if op == "delete":
            await self.users_admin.delete_group(actor, group)
            return f"Group {group} deleted."
        raise invalid(f"unknown operation {op!r}")

    # --- robots (system-wide at /admin/robots, a project's at /projects/{p}/robots) ----------

    async def robots(self, view: View) -> Response:
        project: str | None = view.path_params.get("project")
        url = f"/projects/{project}/robots" if project else "/admin/robots"
        if view.request.method == "POST":
            lists = await view.form_lists()
            form = {k: v[-1] for k, v in lists.items()}
            form_actions = lists.get("actions", [])
            return await self._robot_change(view, url, project, form, form_actions)
        found = await self.projects_admin.robots(view.principal, project)
        record = await self.projects_admin.get(view.principal, project) if project else None
        return view.render(
            "robots.html",
            robots=found,
            project=record,
            actions=ROBOT_ACTIONS,
            can_manage=await self._may(view, Action.MANAGE_ROBOTS, project),
        )

    async def _robot_change(
        self,
        view: View,
        url: str,
        project: str | None,
        form: dict[str, str],
        actions: list[str],
    ) -> Response:
        op, admin, actor = form.get("op"), self.projects_admin, view.principal
        robot = form.get("robot", "")
        pattern = form.get("repositories", "*").strip() or "*"
        if op in ("create", "rotate"):
            # The secret rides in the one-time message: shown on the next page, never again.
            try:
                if op == "create":
                    created = await admin.create_robot(
                        actor,
                        project,
                        form.get("name", "").strip(),
                        [RobotPermission(pattern, tuple(actions))],
                        _days(form.get("expires_in_days")),
                        form.get("description") or None,
                    )
                    robot, secret = created.record.name, created.secret
                else:
                    secret = await admin.rotate_robot(actor, robot)
            except Problem as exc:
                if exc.status not in SHOWN_AS_MESSAGE:
                    raise
                return view.redirect(url, exc.detail, level="error")
            verb = "created" if op == "create" else "has a new secret"
            return view.redirect(url, f"Robot {robot} {verb}.", robot=robot, secret=secret)

        async def change() -> str:
            if op in ("disable", "enable"):
                await admin.set_robot_disabled(actor, robot, op == "disable")
                return f"Robot {robot} {op}d."
            if op == "delete":
                await admin.delete_robot(actor, robot)
                return f"Robot {robot} deleted."
            raise invalid(f"unknown operation {op!r}")

        return await _apply(view, url, change)

    # --- project members and roles -----------------------------------------------------------

    async def members(self, view: View) -> Response:
        project = view.path_params["project"]
        url = f"/projects/{project}/members"
        if view.request.method == "POST":
            form = await view.form()
            return await _apply(view, url, lambda: self._change_member(view, project, form))
        record = await self.projects_admin.get(view.principal, project)
        grants = await self.projects_admin.grants(view.principal, project)
        return view.render(
            "members.html",
            project=record,
            grants=grants,
            roles=await self.projects_admin.roles(),
            can_manage=await self._may(view, Action.MANAGE_MEMBERS, project),
        )

    async def _change_member(self, view: View, project: str, form: dict[str, str]) -> str:
        op, admin, actor = form.get("op"), self.projects_admin, view.principal
        if op == "grant":
            kind, subject = form.get("kind", "user"), form.get("subject", "").strip()
            role, repositories = form.get("role", ""), form.get("repositories", "*").strip()
            await admin.grant(actor, project, kind, subject, role, repositories or "*")
            return f"{subject} is now {role} in {project}."
        if op == "revoke":
            try:
                grant_id = int(form.get("grant", ""))
            except ValueError:
                raise invalid("no such grant") from None
            await admin.revoke(actor, project, grant_id)
            return "Role revoked."
        raise invalid(f"unknown operation {op!r}")

    async def _may(self, view: View, action: Action, project: str | None) -> bool:
        """Whether to offer the forms; the service decides again when they are sent."""
        if project is None:
            return view.principal.is_admin
        facts = await inventory(view).visibility(view.principal).facts(project)
        return bool(decide(view.principal, action, facts, None))
