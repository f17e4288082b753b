"""Stores as prioq wrote them before schema 5 (plain table names, no commit counter), made by
undoing the version 5 step on a store written now: the tests that migrate them back compare the
result with a new store's catalog, so the two directions check each other."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

TABLES = ("meta", "nodes", "jobs", "placement", "extras")
INDEXES = {
    "jobs_pending": "CREATE INDEX jobs_pending ON jobs (priority DESC, submitted_at, seq, id) "
    "WHERE state = 'pending'",
    "jobs_running": "CREATE INDEX jobs_running ON jobs (started_at, id) WHERE state <> 'pending'",
    "jobs_seq": "CREATE UNIQUE INDEX jobs_seq ON jobs (seq)",
    "nodes_ord": "CREATE UNIQUE INDEX nodes_ord ON nodes (ord)",
}


def sqlite_to_v4(path: Path, prefix: str = "prioq_") -> None:
    """Turn a schema 5 SQLite file into the version 4 file the same state had."""
    conn = sqlite3.connect(path)
    for table in TABLES:
        conn.execute(f"ALTER TABLE {prefix}{table} RENAME TO {table}")
    for index, create in INDEXES.items():
        conn.execute(f"DROP INDEX {prefix}{index}")
        conn.execute(create)
    conn.execute("ALTER TABLE meta DROP COLUMN commits")
    conn.execute("UPDATE meta SET schema_version = 4")
    conn.commit()
    conn.close()


def postgres_to_v4(conn: Any, schema: str, prefix: str = "prioq_") -> None:
    """The same on a PostgreSQL schema (``conn``: an autocommit psycopg connection)."""
    s = f'"{schema}".'
    with conn.transaction():
        for table in (*TABLES, "lease"):
            conn.execute(f"ALTER TABLE {s}{prefix}{table} RENAME TO {table}")
            conn.execute(f"ALTER INDEX {s}{prefix}{table}_pkey RENAME TO {table}_pkey")
            if table in ("meta", "placement", "lease"):
                conn.execute(f"ALTER TABLE {s}{table} RENAME CONSTRAINT {prefix}{table}_id_check "
                             f"TO {table}_id_check")
        for index in INDEXES:
            conn.execute(f"ALTER INDEX {s}{prefix}{index} RENAME TO {index}")
        conn.execute(f"ALTER TABLE {s}meta DROP COLUMN commits")
        conn.execute(f"UPDATE {s}meta SET schema_version = 4")


def sqlite_catalog(path: Path) -> list[tuple[Any, ...]]:
    """Every table and index of a SQLite file with its SQL (whitespace normalized), sorted."""
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    # SQLite quotes a renamed table's name in its CREATE text: quotes are not a difference.
    out = sorted((t, n, tbl, " ".join((sql or "").replace("\"", "").split())) for t, n, tbl, sql in rows)
    conn.close()
    return out


def postgres_catalog(conn: Any, schema: str) -> list[tuple[Any, ...]]:
    """Tables, columns, indexes and constraints of a schema, sorted."""
    columns = conn.execute(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = %s", (schema,)).fetchall()
    indexes = conn.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s", (schema,)).fetchall()
    constraints = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = %s::regnamespace", (schema,)).fetchall()
    return sorted(map(tuple, columns)) + sorted(map(tuple, indexes)) + sorted(map(tuple, constraints))
