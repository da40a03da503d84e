"""One schema for SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

NAME = String(255)
DIGEST = String(150)

repositories = Table(
    "repositories",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("created_at", Float, nullable=False),
    # Usage, kept up to date by registry/usage.py: pushes in the push's transaction, pulls
    # counted in memory and added every few seconds. 0 in last_pushed_at means never.
    Column("project", NAME),  # the first path segment of the name
    Column("pulls", BigInteger, nullable=False, server_default="0"),
    Column("pushes", BigInteger, nullable=False, server_default="0"),
    Column("last_pushed_at", Float, nullable=False, server_default="0"),
    Column("last_pulled_at", Float),
    Index("ix_repositories_project_name", "project", "name"),
    Index("ix_repositories_project_pulls", "project", "pulls", "name"),
    Index("ix_repositories_project_pushed", "project", "last_pushed_at", "name"),
    Index("ix_repositories_pulls", "pulls", "name"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("path", String(300), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_blobs_path", "path"),
)

blob_links = Table(
    "blob_links",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["repository"], ["repositories.name"], ondelete="CASCADE"),
    ForeignKeyConstraint(["digest"], ["blobs.digest"]),
    Index("ix_blob_links_digest", "digest"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("repository", NAME, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("hash_state", LargeBinary),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # No foreign key: a repository exists once content is in it, not when an upload starts.
    Index("ix_uploads_updated_at", "updated_at"),
)

manifests = Table(
    "manifests",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("subject", DIGEST),
    Column("size", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("annotations", Text),
    Column("created_at", Float, nullable=False),
    ForeignKeyConstraint(["repository"], ["repositories.name"], ondelete="CASCADE"),
    # Referrers of a subject in push order, straight from the index.
    Index("ix_manifests_subject", "repository", "subject", "created_at", "digest"),
    # Newest first listings, and a repository's manifest bytes summed from the index alone.
    Index("ix_manifests_pushed", "repository", "created_at", "digest", "size"),
    # Whether any repository still holds a digest (what is kept per digest: scan reports).
    Index("ix_manifests_digest", "digest"),
)

manifest_references = Table(
    "manifest_references",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("manifest", DIGEST, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("kind", String(16), nullable=False),
    ForeignKeyConstraint(
        ["repository", "manifest"],
        ["manifests.repository", "manifests.digest"],
        ondelete="CASCADE",
    ),
    Index("ix_manifest_references_digest", "digest"),
)

# Tags are listed in byte order (the spec's "lexical"); on PostgreSQL the column says so itself,
# so that the primary key serves `ORDER BY name COLLATE "C"` pages instead of a sort of them all.
TAG = String(128).with_variant(String(128, collation="C"), "postgresql")

tags = Table(
    "tags",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("name", TAG, primary_key=True),
    Column("digest", DIGEST, nullable=False),
    Column("updated_at", Float, nullable=False),
    ForeignKeyConstraint(
        ["repository", "digest"],
        ["manifests.repository", "manifests.digest"],
        ondelete="CASCADE",
    ),
    Index("ix_tags_digest", "repository", "digest", "name"),  # an artifact's tags, in order
)

# Pulls per manifest (no foreign key: counts flushed after a delete must not fail the flush).
manifest_pulls = Table(
    "manifest_pulls",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("pulls", BigInteger, nullable=False),
    Column("last_pulled_at", Float, nullable=False),
)

# Pulls and pushes per repository and day (days since the epoch, UTC).
daily_usage = Table(
    "daily_usage",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("pulls", BigInteger, nullable=False, server_default="0"),
    Column("pushes", BigInteger, nullable=False, server_default="0"),
    Index("ix_daily_usage_day", "day"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Index("ix_outbox_pending", "delivered_at", "id"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("next_run_at", Float, nullable=False),
    Column("lease_owner", String(200)),
    Column("lease_until", Float),
    Column("last_run_at", Float),
    Column("last_error", Text),
)

# --- access control -------------------------------------------------------------------------

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

# --- vulnerability database -----------------------------------------------------------------
# OSV advisories shared by every replica (dockyard.ext.scanning.vulndb imports them). An import
# replaces one ecosystem's advisories ("feed") in one transaction.

advisories = Table(
    "advisories",
    metadata,
    Column("id", String(100), primary_key=True),  # GHSA-…, PYSEC-…, GO-…, DSA-…
    Column("feed", String(50), nullable=False),  # the ecosystem whose import wrote the row
    Column("modified", String(40), nullable=False),  # RFC 3339, as the advisory says
    Column("published", String(40)),
    Column("withdrawn", String(40)),
    Column("summary", Text),
    Column("severity", String(16), nullable=False),  # CRITICAL … UNKNOWN
    Column("score", Float),  # CVSS base score, when the advisory has a vector
    Column("aliases", Text, nullable=False),  # JSON list: CVE-…, GHSA-…
    Column("body", Text, nullable=False),  # compact OSV JSON: what matching and reports use
    Index("ix_advisories_feed", "feed"),
)

# Where each advisory is found: (ecosystem without release, package name as matched: PEP 503
# for PyPI, the source package for distributions). Withdrawn advisories have no rows here.
advisory_packages = Table(
    "advisory_packages",
    metadata,
    Column("ecosystem", String(50), primary_key=True),
    Column("name", String(300), primary_key=True),
    Column("advisory_id", String(100), primary_key=True),
    ForeignKeyConstraint(["advisory_id"], ["advisories.id"], ondelete="CASCADE"),
    Index("ix_advisory_packages_advisory", "advisory_id"),
)

# One row per import; the newest row's db_version is the version every scan report cites.
vulndb_imports = Table(
    "vulndb_imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("imported_at", Float, nullable=False),
    Column("source", Text, nullable=False),
    Column("feeds", Text, nullable=False),  # JSON {ecosystem: {advisories, withdrawn, hash}}
    Column("state", Text, nullable=False),  # JSON {ecosystem: content hash} after the import
    Column("db_version", String(64), nullable=False),
)

# --- scanning: status, reports, findings -----------------------------------------------------
# One status row per artifact a scan was asked for; a worker claims a queued row with a lease
# (exactly once across replicas), like the jobs table. Gone with the manifest.
scan_status = Table(
    "scan_status",
    metadata,
    Column("repository", NAME, primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("state", String(16), nullable=False),  # queued, running, done, failed
    Column("reason", String(16), nullable=False),  # push, manual, rescan
    Column("queued_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("progress_done", Integer, nullable=False, server_default="0"),
    Column("progress_total", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(200)),
    Column("lease_until", Float),
    Column("error", Text),
    ForeignKeyConstraint(
        ["repository", "digest"],
        ["manifests.repository", "manifests.digest"],
        ondelete="CASCADE",
    ),
    Index("ix_scan_status_state", "state", "queued_at"),
    # Reports and findings are per digest: which repositories hold a reported image.
    Index("ix_scan_status_digest", "digest"),
)

# The newest report per image manifest (one platform) and scanner: content-addressed, so one
# report serves every repository holding the digest. Severity counts are columns so the
# registry-wide breakdown is one aggregate query.
scan_reports = Table(
    "scan_reports",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("scanner", String(100), primary_key=True),  # name/version
    Column("db_version", String(64), nullable=False),
    Column("scanned_at", Float, nullable=False),
    Column("packages", Integer, nullable=False),
    Column("critical", Integer, nullable=False),
    Column("high", Integer, nullable=False),
    Column("medium", Integer, nullable=False),
    Column("low", Integer, nullable=False),
    Column("unknown", Integer, nullable=False),  # UNKNOWN and NONE
    Column("report", LargeBinary, nullable=False),  # gzip JSON: inventory, findings, problems
    Index("ix_scan_reports_db_version", "db_version"),
    # The most exposed images, read in order instead of sorting every report.
    Index("ix_scan_reports_exposure", "critical", "high", "medium", "low"),
)

# Every finding of the newest reports, one row per (image, advisory, package): which images an
# advisory affects, the most exposed images, allow-lists applied in SQL. first_seen_at tells a
# newly imported advisory's findings from old ones.
scan_findings = Table(
    "scan_findings",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("advisory_id", String(100), primary_key=True),
    Column("package", String(300), primary_key=True),
    Column("version", String(255), primary_key=True),
    Column("ecosystem", String(50), nullable=False),
    Column("severity", Integer, nullable=False),  # Severity's value: 5 critical … 0 unknown
    Column("fixed", String(255)),
    Column("first_seen_at", Float, nullable=False),
    Index("ix_scan_findings_advisory", "advisory_id"),
    Index("ix_scan_findings_first_seen", "first_seen_at"),
)

# --- supply-chain policies -------------------------------------------------------------------

project_policies = Table(
    "project_policies",
    metadata,
    Column("project", NAME, primary_key=True),
    Column("scan_on_push", Boolean, nullable=False),
    Column("require_signature", Boolean, nullable=False),  # by one of trusted_keys
    Column("max_severity", String(16)),  # refuse pulls with a finding at or above; NULL: off
    Column("deny_unscanned", Boolean, nullable=False),
    Column("trusted_keys", Text, nullable=False),  # JSON list of PEM public keys
    Column("updated_at", Float, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"], ondelete="CASCADE"),
)

# Advisories a project (or, with project "", the whole registry) accepts, until they expire.
vulnerability_allowlist = Table(
    "vulnerability_allowlist",
    metadata,
    Column("project", NAME, primary_key=True),
    Column("advisory_id", String(100), primary_key=True),
    Column("expires_at", Float),  # NULL: no expiry
    Column("reason", Text),
    Column("created_by", NAME),
    Column("created_at", Float, nullable=False),
)
