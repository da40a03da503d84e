"""The /api/v1 operations on who you are: sessions, your tokens, users and groups."""

from __future__ import annotations

from dockyard.api.openapi_ops import PAGED, Op, Q

USER_OPERATIONS: list[Op] = [
    # --- sessions ---
    Op(
        "post",
        "/auth/login",
        "Log in; sets the session cookie",
        "auth",
        {200: "LoginOut"},
        body="LoginIn",
        auth="none",
    ),
    Op(
        "post",
        "/auth/logout",
        "Log out; clears the session cookie",
        "auth",
        {204: None},
        auth="none",
    ),
    # --- you ---
    Op("get", "/api/v1/me", "Who you are", "users", {200: "User"}),
    Op("get", "/api/v1/me/tokens", "Your personal access tokens", "users", {200: "Tokens"}),
    Op(
        "post",
        "/api/v1/me/tokens",
        "Create a personal access token (shown once)",
        "users",
        {201: "NewToken"},
        body="TokenIn",
    ),
    Op(
        "delete",
        "/api/v1/me/tokens/{token_id}",
        "Revoke a personal access token",
        "users",
        {204: None},
    ),
    # --- users and groups ---
    Op("get", "/api/v1/users", "List users", "users", {200: "Users"}, params=(*PAGED, Q)),
    Op("post", "/api/v1/users", "Create a local user", "users", {201: "User"}, body="NewUserIn"),
    Op("get", "/api/v1/users/{username}", "One user", "users", {200: "User"}),
    Op(
        "patch",
        "/api/v1/users/{username}",
        "Change a user",
        "users",
        {200: "User"},
        body="UserPatch",
    ),
    Op("delete", "/api/v1/users/{username}", "Delete a user", "users", {204: None}),
    Op(
        "put",
        "/api/v1/users/{username}/password",
        "Set a password",
        "users",
        {204: None},
        body="PasswordIn",
    ),
    Op("get", "/api/v1/groups", "List groups", "users", {200: "Groups"}),
    Op("post", "/api/v1/groups", "Create a group", "users", {201: "Group"}, body="GroupIn"),
    Op("delete", "/api/v1/groups/{group}", "Delete a group", "users", {204: None}),
    Op("put", "/api/v1/groups/{group}/members/{username}", "Add a member", "users", {204: None}),
    Op(
        "delete",
        "/api/v1/groups/{group}/members/{username}",
        "Remove a member",
        "users",
        {204: None},
    ),
]
