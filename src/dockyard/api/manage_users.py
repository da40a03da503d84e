"""The management API for people: you and your tokens, users, groups and their members."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard.api.manage_common import (
    logged_in,
    page_limit,
    record_json,
    user_admin,
    user_json,
    v1_route,
)
from dockyard.api.manage_models import (
    GroupIn,
    NewUserIn,
    PasswordIn,
    TokenIn,
    UserPatch,
    body,
)


async def users(request: Request) -> Response:
    actor = await logged_in(request)
    if request.method == "POST":
        new = await body(request, NewUserIn)
        user = await user_admin(request).create(
            actor, new.username, new.password, new.email, new.admin
        )
        return JSONResponse(user_json(user), status_code=201)
    q = request.query_params
    found = await user_admin(request).list(actor, q.get("last"), page_limit(request), q.get("q"))
    return JSONResponse({"users": [user_json(u) for u in found]})


async def user(request: Request) -> Response:
    actor, name, admin = (
        await logged_in(request),
        request.path_params["username"],
        user_admin(request),
    )
    if request.method == "DELETE":
        await admin.delete(actor, name)
        return Response(status_code=204)
    if request.method == "PATCH":
        patch = await body(request, UserPatch)
        found = await admin.update(
            actor, name, email=patch.email, is_admin=patch.admin, disabled=patch.disabled
        )
    else:
        found = await admin.get(actor, name)
    return JSONResponse(user_json(found, await admin.groups_of(found)))


async def password(request: Request) -> Response:
    actor, change = await logged_in(request), await body(request, PasswordIn)
    name = request.path_params["username"]
    await user_admin(request).set_password(actor, name, change.password, change.current_password)
    return Response(status_code=204)


async def me(request: Request) -> Response:
    actor = await logged_in(request)
    if actor.kind.value != "user":
        return JSONResponse({"username": actor.name, "kind": actor.kind.value})
    found = await user_admin(request).get(actor, actor.name)
    return JSONResponse({**user_json(found, list(actor.groups)), "kind": "user"})


async def tokens(request: Request) -> Response:
    actor = await logged_in(request)
    if request.method == "POST":
        new = await body(request, TokenIn)
        created = await user_admin(request).create_token(actor, new.name, new.expires_in_days)
        return JSONResponse(
            {**record_json(created.record), "token": created.token}, status_code=201
        )
    return JSONResponse(
        {"tokens": [record_json(t) for t in await user_admin(request).tokens(actor)]}
    )


async def token(request: Request) -> Response:
    actor = await logged_in(request)
    await user_admin(request).revoke_token(actor, request.path_params["token_id"])
    return Response(status_code=204)


async def groups(request: Request) -> Response:
    actor = await logged_in(request)
    if request.method == "POST":
        new = await body(request, GroupIn)
        await user_admin(request).create_group(actor, new.name, new.description)
        return JSONResponse({"name": new.name, "description": new.description}, status_code=201)
    found = await user_admin(request).groups(actor)
    return JSONResponse(
        {"groups": [{"name": n, "description": d, "members": m} for n, d, m in found]}
    )


async def group(request: Request) -> Response:
    actor = await logged_in(request)
    await user_admin(request).delete_group(actor, request.path_params["group"])
    return Response(status_code=204)


async def group_member(request: Request) -> Response:
    actor, p = await logged_in(request), request.path_params
    await user_admin(request).set_member(actor, p["group"], p["username"], request.method == "PUT")
    return Response(status_code=204)


routes = [
    v1_route("/me", me, "GET"),
    v1_route("/me/tokens", tokens, "GET", "POST"),
    v1_route("/me/tokens/{token_id}", token, "DELETE"),
    v1_route("/users", users, "GET", "POST"),
    v1_route("/users/{username}", user, "GET", "PATCH", "DELETE"),
    v1_route("/users/{username}/password", password, "PUT"),
    v1_route("/groups", groups, "GET", "POST"),
    v1_route("/groups/{group}", group, "DELETE"),
    v1_route("/groups/{group}/members/{username}", group_member, "PUT", "DELETE"),
]
