"""Schema versions and the migrations between them, for both SQL stores.

A new store is migrated from version 0 (empty), so a fresh schema and a migrated one
are the same by construction. ``STEPS[v]`` turns version ``v`` into ``v + 1``; the
caller runs :func:`migrate` inside one transaction that it holds exclusively
(SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock), having re-read the
version inside it, so that concurrent openers migrate once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prioq.errors import StoreError
from prioq.storage._codec import split_v1_row
from prioq.storage._sql import (
    STAMP_VERSION,
    V1_LEASE,
    V1_ROWS,
    V1_TABLES,
    V2_COLUMNS,
    V2_INDEXES,
    V2_SPLIT_ROW,
    V3_TABLES,
    V4_TABLES,
    Dialect,
)

__all__ = ["SCHEMA_VERSION", "STEPS", "check_not_newer", "migrate"]

SCHEMA_VERSION = 4
"""The schema this library writes; stores at a lower version are migrated on open."""

Step = Callable[[Any, Dialect, str], None]
"""``step(db, dialect, prefix)``: ``db`` runs ``execute``/``executemany`` (a sqlite3
connection, a psycopg cursor); ``prefix`` qualifies the table names."""


def _run(db: Any, dialect: Dialect, prefix: str, templates: tuple[str, ...]) -> None:
    # One statement at a time: sqlite3's executescript() would COMMIT first, and a migration is atomic.
    for template in templates:
        db.execute(dialect.render(template, prefix))


def _v0_to_v1(db: Any, dialect: Dialect, prefix: str) -> None:
    """Version 1: every job row in one JSON object; only a pending index; the lease row."""
    _run(db, dialect, prefix, V1_TABLES + (V1_LEASE if dialect.leader_lease else ()))


def _v1_to_v2(db: Any, dialect: Dialect, prefix: str) -> None:
    """Version 2: the job and the scheduler's part of a row stored apart (a start rewrites only
    the small part), ``started_at`` as a column, partial indexes for the read-only queries.
    O(n) rows rewritten; a corrupt row stops the migration (nothing is changed)."""
    _run(db, dialect, prefix, V2_COLUMNS)
    rows = db.execute(dialect.render(V1_ROWS, prefix)).fetchall()
    if rows:
        db.executemany(
            dialect.render(V2_SPLIT_ROW, prefix),
            [(*split_v1_row(data), job_id) for job_id, data in rows],
        )
    _run(db, dialect, prefix, V2_INDEXES)


def _v2_to_v3(db: Any, dialect: Dialect, prefix: str) -> None:
    """Version 3: the ``placement`` row for the placement policy's state, empty (a scheduler
    reopened from a version 2 store learns from its held jobs once, then persists its state)."""
    _run(db, dialect, prefix, V3_TABLES)


def _v3_to_v4(db: Any, dialect: Dialect, prefix: str) -> None:
    """Version 4: the ``extras`` table for the policies' keyed state, empty."""
    _run(db, dialect, prefix, V4_TABLES)


STEPS: dict[int, Step] = {0: _v0_to_v1, 1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}
"""``STEPS[v]`` turns a version ``v`` schema into version ``v + 1`` (inside a transaction).
An empty database is version 0."""

assert sorted(STEPS) == list(range(SCHEMA_VERSION))


def check_not_newer(version: int, where: str) -> None:
    """Refuse a schema this library does not know (``where`` names the store in the message)."""
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where} has schema version {version}, newer than this prioq supports "
            f"({SCHEMA_VERSION}); upgrade prioq to open it"
        )


def migrate(db: Any, dialect: Dialect, prefix: str, version: int) -> None:
    """Bring a version ``version`` schema to :data:`SCHEMA_VERSION`, step by step, recording each
    step in ``meta``. Run inside the caller's transaction."""
    while version < SCHEMA_VERSION:
        STEPS[version](db, dialect, prefix)
        version += 1
        db.execute(dialect.render(STAMP_VERSION, prefix), (version,))
