"""Persistence: one SQLAlchemy implementation for SQLite and PostgreSQL, behind repositories."""
