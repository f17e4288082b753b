"""Schema versions and the migrations between them, for both SQL stores.

A new store is migrated from version 0 (empty), so a fresh schema and a migrated one
are the same by construction. Versions 1 to 4 named their tables plainly (``meta``,
``jobs``...); version 5 gives them the store's prefix (``prioq_meta``...): the steps
before it run on the names the store has (:attr:`Names.old`: ``""`` for a store written
before version 5, the prefix itself for a new one), and step 4 -> 5 renames tables and
indexes from ``old`` to ``prefix`` (nothing to rename for a new store).

``STEPS[v]`` turns version ``v`` into ``v + 1``; the caller runs :func:`migrate` inside one
transaction that it holds exclusively (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory
lock), having re-read the version inside it, so that concurrent openers migrate once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from prioq.errors import StoreError
from prioq.storage._codec import split_v1_row
from prioq.storage._sql import (
    CHECKED,
    INDEXES,
    STAMP_VERSION,
    TABLES,
    V1_LEASE,
    V1_ROWS,
    V1_TABLES,
    V2_COLUMNS,
    V2_INDEXES,
    V2_SPLIT_ROW,
    V3_TABLES,
    V4_TABLES,
    V5_COMMITS,
    Dialect,
)

__all__ = ["SCHEMA_VERSION", "STEPS", "Names", "check_not_newer", "migrate"]

SCHEMA_VERSION = 5
"""The schema this library writes; stores at a lower version are migrated on open."""

@attrs.frozen(slots=True)
class Names:
    """Where a store's tables are: ``schema`` qualifies them (``""``, or ``'"prioq".'``), and
    their names start with ``prefix``; before the version 5 step they start with ``old``."""

    schema: str
    prefix: str
    old: str

    def render(self, dialect: Dialect, template: str, version: int) -> str:
        """``template`` on the names a version ``version`` store has."""
        return dialect.render(template, self.schema, self.prefix if version >= 5 else self.old)


Step = Callable[[Any, Dialect, Names], None]
"""``step(db, dialect, names)``: ``db`` runs ``execute``/``executemany`` (a sqlite3
connection, a psycopg cursor, a shared connection's adapter)."""


def _run(db: Any, dialect: Dialect, names: Names, templates: tuple[str, ...]) -> None:
    # One statement at a time: sqlite3's executescript() would COMMIT first, and a migration is atomic.
    for template in templates:
        db.execute(names.render(dialect, template, 4))


def _v0_to_v1(db: Any, dialect: Dialect, names: Names) -> None:
    """Version 1: every job row in one JSON object; only a pending index; the lease row."""
    _run(db, dialect, names, V1_TABLES + (V1_LEASE if dialect.leader_lease else ()))


def _v1_to_v2(db: Any, dialect: Dialect, names: Names) -> None:
    """Version 2: the job and the scheduler's part of a row stored apart (a start rewrites only
    the small part), ``started_at`` as a column, partial indexes for the read-only queries.
    O(n) rows rewritten; a corrupt row stops the migration (nothing is changed)."""
    _run(db, dialect, names, V2_COLUMNS)
    rows = db.execute(names.render(dialect, V1_ROWS, 4)).fetchall()
    if rows:
        db.executemany(
            names.render(dialect, V2_SPLIT_ROW, 4),
            [(*split_v1_row(data), job_id) for job_id, data in rows],
        )
    _run(db, dialect, names, V2_INDEXES)


def _v2_to_v3(db: Any, dialect: Dialect, names: Names) -> None:
    """Version 3: the ``placement`` row for the placement policy's state, empty (a scheduler
    reopened from a version 2 store learns from its held jobs once, then persists its state)."""
    _run(db, dialect, names, V3_TABLES)


def _v3_to_v4(db: Any, dialect: Dialect, names: Names) -> None:
    """Version 4: the ``extras`` table for the policies' keyed state, empty."""
    _run(db, dialect, names, V4_TABLES)


def _v4_to_v5(db: Any, dialect: Dialect, names: Names) -> None:
    """Version 5: tables and indexes renamed from ``names.old`` to ``names.prefix`` (``meta`` ->
    ``prioq_meta``), so that prioq lives beside an application's own tables; the commit counter.
    Renaming is O(1) per table on both databases; SQLite has no ``ALTER INDEX``, so its four
    indexes are rebuilt (O(n log n)). A name already taken stops the migration (nothing changed)."""
    s, old, new = names.schema, names.old, names.prefix
    if old != new:
        tables = TABLES + (("lease",) if dialect.leader_lease else ())
        for table in tables:
            db.execute(f"ALTER TABLE {s}{old}{table} RENAME TO {new}{table}")
        for index, create in INDEXES.items():
            if dialect.name == "postgresql":
                db.execute(f"ALTER INDEX {s}{old}{index} RENAME TO {new}{index}")
            else:
                db.execute(f"DROP INDEX {s}{old}{index}")
                db.execute(dialect.render(create, s, new))
        if dialect.name == "postgresql":
            # The names PostgreSQL gave the constraints follow the table's name at creation.
            for table in tables:
                db.execute(f"ALTER INDEX {s}{old}{table}_pkey RENAME TO {new}{table}_pkey")
                if table in CHECKED:
                    db.execute(f"ALTER TABLE {s}{new}{table} RENAME CONSTRAINT {old}{table}_id_check "
                               f"TO {new}{table}_id_check")
    db.execute(dialect.render(V5_COMMITS, s, new))


STEPS: dict[int, Step] = {0: _v0_to_v1, 1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5}
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


def migrate(db: Any, dialect: Dialect, names: Names, version: int) -> None:
    """Bring a version ``version`` schema to :data:`SCHEMA_VERSION`, step by step, recording each
    step in ``meta``. Run inside the caller's transaction."""
    while version < SCHEMA_VERSION:
        STEPS[version](db, dialect, names)
        version += 1
        db.execute(names.render(dialect, STAMP_VERSION, version), (version,))


_META_COLUMNS = frozenset({"id", "schema_version", "now", "next_seq", "next_order"})


def locate(
    tables: set[str],
    prefix: str,
    columns: Callable[[str], set[str]],
    stamp: Callable[[str], object],
    where: str,
) -> tuple[int, str]:
    """``(version, old)``: the schema version of the store whose tables start with ``prefix``
    among the database's ``tables``, and the prefix its tables have now (``old``, see :class:`Names`).

    ``columns(table)`` lists a table's columns, ``stamp(table)`` reads ``schema_version`` from
    a meta table; neither may fail on a table that is not prioq's (a failed statement would
    abort a shared PostgreSQL transaction). Other tables are the application's: ignored.

    * ``<prefix>meta`` exists: its version; :class:`StoreError` if it is not prioq's.
    * else, with a non-empty prefix, a store written before version 5 (plain ``meta``, ``jobs``,
      ``nodes``, a version 1..4 stamp): its version, ``old = ""`` (the migration renames it).
    * else 0: a new store (other tables are left alone).
    """
    meta = prefix + "meta"
    if meta in tables:
        if not columns(meta) >= _META_COLUMNS:
            raise StoreError(
                f"{where}: table {meta!r} exists but is not a prioq meta table (columns: "
                f"{', '.join(sorted(columns(meta)))}); choose another table prefix"
            )
        version = stamp(meta)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise StoreError(f"{where}: table {meta!r} holds no valid schema_version ({version!r})")
        return version, prefix
    if prefix and {"meta", "jobs", "nodes"} <= tables and columns("meta") >= _META_COLUMNS:
        version = stamp("meta")
        if not isinstance(version, bool) and isinstance(version, int) and 1 <= version < 5:
            return version, ""
    return 0, prefix
