"""Alembic migrations of the metadata schema (one history for SQLite and PostgreSQL)."""
