"""The access-control tables: identities, projects and grants, tokens, audit, sessions.

Users, groups, projects with their roles, grants and robots, access tokens, the audit log,
login throttling, signing keys and sessions. Apart from the registry's content tables
(meta/schema.py, which re-exports these as `t.<name>`) because their own sub-stores read them
(meta/sql_identities.py, sql_access.py, sql_auth.py) and they change for their own reasons.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from dockyard.meta.schema_base import NAME, metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", NAME, nullable=False, unique=True),
    Column("password_hash", Text),  # argon2; NULL for users who log in elsewhere
    Column("email", String(255)),
    Column("display_name", String(255)),
    Column("source", String(16), nullable=False),  # local, ldap, oidc, saml
    Column("subject", String(500)),  # the identity source's stable id
    Column("is_admin", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    # Bumped on password change or disable: refresh tokens carry it and die with it.
    Column("token_version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_login_at", Float),
    Index("ix_users_source_subject", "source", "subject", unique=True),
)

groups = Table(
    "groups",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("description", Text),
    Column("created_at", Float, nullable=False),
)

# Membership of local groups (origin "local") and the groups an identity source vouched for at
# the user's last login (origin "ldap", "oidc", "saml"), replaced at every login.
user_groups = Table(
    "user_groups",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("group_name", NAME, primary_key=True),
    Column("origin", String(16), primary_key=True),
    ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
    Index("ix_user_groups_group", "group_name"),
)

projects = Table(
    "projects",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("public", Boolean, nullable=False),
    Column("created_by", NAME),
    Column("created_at", Float, nullable=False),
    # Soft limit on the distinct blob bytes the project's repositories link; NULL: unlimited.
    Column("quota_bytes", BigInteger),
)

roles = Table(
    "roles",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("description", Text),
    Column("actions", Text, nullable=False),  # JSON list of action names
    Column("created_at", Float, nullable=False),
)

project_grants = Table(
    "project_grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", NAME, nullable=False),
    Column("subject_kind", String(8), nullable=False),  # user, group
    Column("subject", NAME, nullable=False),
    Column("role", String(100), nullable=False),
    Column("repositories", String(255), nullable=False),  # a glob, "*" for the whole project
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"], ondelete="CASCADE"),
    Index(
        "ix_project_grants_unique",
        "project",
        "subject_kind",
        "subject",
        "role",
        "repositories",
        unique=True,
    ),
    Index("ix_project_grants_subject", "subject_kind", "subject"),
)

robots = Table(
    "robots",
    metadata,
    Column("name", NAME, primary_key=True),  # robot$<project>+<name> or robot$<name>
    Column("project", NAME),  # NULL: a system robot
    Column("description", Text),
    Column("secret_hash", String(128), nullable=False),
    Column("permissions", Text, nullable=False),  # JSON [{"repositories", "actions"}]
    Column("expires_at", Float),
    Column("disabled", Boolean, nullable=False),
    Column("created_by", NAME),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"], ondelete="CASCADE"),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("expires_at", Float),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
    Index("ix_access_tokens_user", "user_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", NAME, nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("address", String(64)),
    Column("action", String(64), nullable=False),
    Column("target", String(500)),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor", "actor", "at"),
    Index("ix_audit_log_action", "action", "at"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(300), primary_key=True),  # user:<name> or address:<ip>
    Column("failures", Integer, nullable=False),
    Column("window_start", Float, nullable=False),
    Column("locked_until", Float),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),  # es256 (registry tokens), session (UI cookies)
    Column("material", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),
)

# Dashboard and management API sessions: the cookie names one, and logout deletes it.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the random id in the cookie
    Column("username", NAME, nullable=False),
    Column("stamp", String(200), nullable=False),  # the credential fingerprint at login
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_sessions_username", "username"),
    Index("ix_sessions_expires_at", "expires_at"),
)
