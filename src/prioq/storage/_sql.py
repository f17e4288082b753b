"""All SQL the SQL stores run, written once for both dialects (docs/storage.md#schema).

The schema (version 5); every table and index name starts with the store's prefix
(``prioq_`` by default: ``prioq_meta``, ``prioq_jobs``, ``prioq_jobs_pending``...)::

    meta(id = 1, schema_version, now, next_seq, next_order, commits)
    placement(id = 1, state)                            -- the placement policy's state (text)
    extras(id PRIMARY KEY, data)                        -- policies' keyed state (text)
    nodes(id PRIMARY KEY, ord UNIQUE, data)              -- data: the Node as JSON
    jobs(id PRIMARY KEY, seq UNIQUE, state, priority, submitted_at, started_at,
         data,                                          -- the Job as JSON
         run)                                           -- where it runs, nominations (JSON)
    index jobs_pending(priority DESC, submitted_at, seq, id) WHERE state = 'pending'
    index jobs_running(started_at, id) WHERE state <> 'pending'
    lease(id = 1, holder, epoch, expires_at)            -- PostgreSQL only: leader election

Each version's DDL is below as one template; a :class:`Dialect` fills in what
differs, and that is all that differs:

* column types (``INTEGER``/``REAL``/``TEXT`` in SQLite; ``integer``/``bigint``/
  ``double precision``/``text`` in PostgreSQL, ids ``COLLATE "C"`` so that they
  compare bytewise as SQLite's default collation does and keyset pages agree);
* the parameter mark (``?`` / ``%s``) and the schema qualifier (none / ``"schema".``);
* whether the schema holds the leader ``lease`` row (PostgreSQL, where replicas share it);
* how a commit sends its rows: SQLite runs one statement per row (``executemany``, in
  process, microseconds); PostgreSQL sends each table's rows as *one* JSON array that
  the server unpacks with ``json_array_elements`` (binding one string costs
  microseconds where binding hundreds of values costs milliseconds, and the whole
  commit stays within a fixed number of round trips).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs

__all__ = [
    "CHECKED",
    "DEFAULT_PREFIX",
    "INDEXES",
    "POSTGRESQL",
    "SQLITE",
    "STAMP_VERSION",
    "TABLES",
    "V1_LEASE",
    "V1_ROWS",
    "V1_TABLES",
    "V2_COLUMNS",
    "V2_INDEXES",
    "V2_SPLIT_ROW",
    "V3_TABLES",
    "V4_TABLES",
    "V5_COMMITS",
    "Dialect",
    "Statements",
]


DEFAULT_PREFIX = "prioq_"
"""What prioq's table names start with unless told otherwise: ``prioq_jobs`` never meets an
application's own ``jobs`` table in a shared database."""


@attrs.frozen(slots=True)
class Dialect:
    """What differs between the SQL databases prioq stores into."""

    name: Literal["sqlite", "postgresql"]
    mark: str
    """The parameter placeholder."""
    types: Mapping[str, str]
    """SQL type of each column kind: ``int32``, ``int64``, ``float64``, ``text``, ``key`` (ids)."""
    leader_lease: bool
    """Whether the schema holds the ``lease`` row (replicas electing a leader)."""
    batched_writes: bool
    """Whether a commit sends each table's rows as one JSON array (else one execution per row)."""

    def render(self, template: str, schema: str, prefix: str) -> str:
        """``template`` with ``{s}`` (the schema qualifier: ``""`` or ``'"prioq".'``), ``{p}`` (the
        table prefix, ``prioq_`` by default), ``{mark}`` and the column types filled in."""
        return template.format(s=schema, p=prefix, mark=self.mark, **self.types)


SQLITE = Dialect(
    name="sqlite",
    mark="?",
    types={"int32": "INTEGER", "int64": "INTEGER", "float64": "REAL", "text": "TEXT", "key": "TEXT"},
    leader_lease=False,
    batched_writes=False,
)
POSTGRESQL = Dialect(
    name="postgresql",
    mark="%s",
    types={
        "int32": "integer",
        "int64": "bigint",
        "float64": "double precision",
        "text": "text",
        "key": 'text COLLATE "C"',
    },
    leader_lease=True,
    batched_writes=True,
)

# ----------------------------------------------------------------------------- DDL, by version

V1_TABLES = (
    """CREATE TABLE {s}{p}meta (
        id {int32} PRIMARY KEY CHECK (id = 1),
        schema_version {int32} NOT NULL,
        now {float64},
        next_seq {int64} NOT NULL DEFAULT 0,
        next_order {int64} NOT NULL DEFAULT 0)""",
    "INSERT INTO {s}{p}meta (id, schema_version) VALUES (1, 1)",
    "CREATE TABLE {s}{p}nodes (id {key} PRIMARY KEY, ord {int64} NOT NULL, data {text} NOT NULL)",
    """CREATE TABLE {s}{p}jobs (
        id {key} PRIMARY KEY,
        seq {int64} NOT NULL,
        state {text} NOT NULL,
        priority {int64} NOT NULL,
        submitted_at {float64} NOT NULL,
        data {text} NOT NULL)""",
    "CREATE INDEX {p}jobs_pending ON {s}{p}jobs (state, priority DESC, submitted_at, seq)",
)
"""Version 1: every job row in one JSON object; only a pending index."""

V1_LEASE = (
    """CREATE TABLE {s}{p}lease (
        id {int32} PRIMARY KEY CHECK (id = 1),
        holder {text},
        epoch {int64} NOT NULL DEFAULT 0,
        expires_at timestamptz)""",
    "INSERT INTO {s}{p}lease (id) VALUES (1)",
)
"""Version 1, dialects with :attr:`Dialect.leader_lease`: the lease row."""

V1_ROWS = "SELECT id, data FROM {s}{p}jobs"
V2_COLUMNS = (
    "ALTER TABLE {s}{p}jobs ADD COLUMN started_at {float64}",
    "ALTER TABLE {s}{p}jobs ADD COLUMN run {text}",
)
"""Version 2, before the rows are split: the job and the scheduler's part of a row apart."""
V2_SPLIT_ROW = "UPDATE {s}{p}jobs SET data = {mark}, run = {mark}, started_at = {mark} WHERE id = {mark}"
V2_INDEXES = (
    "DROP INDEX {s}{p}jobs_pending",
    "CREATE INDEX {p}jobs_pending ON {s}{p}jobs (priority DESC, submitted_at, seq, id) "
    "WHERE state = 'pending'",
    "CREATE INDEX {p}jobs_running ON {s}{p}jobs (started_at, id) WHERE state <> 'pending'",
    "CREATE UNIQUE INDEX {p}jobs_seq ON {s}{p}jobs (seq)",
    "CREATE UNIQUE INDEX {p}nodes_ord ON {s}{p}nodes (ord)",
)
"""Version 2, after the rows are split: partial indexes for the read-only queries."""

V3_TABLES = (
    """CREATE TABLE {s}{p}placement (
        id {int32} PRIMARY KEY CHECK (id = 1),
        state {text})""",
    "INSERT INTO {s}{p}placement (id) VALUES (1)",
)
"""Version 3: the placement policy's learnt state (FGD's arrival window), one text in its own
row, written only by a call that changed it: the frequent meta update stays a small row."""

V4_TABLES = ("CREATE TABLE {s}{p}extras (id {key} PRIMARY KEY, data {text} NOT NULL)",)
"""Version 4: the keyed state of the scheduler's policies (fair-share usage per owner, outcomes
of finished jobs, quota marks...), one text per key, so a call writes only the keys it changed."""

V5_COMMITS = "ALTER TABLE {s}{p}meta ADD COLUMN commits {int64} NOT NULL DEFAULT 0"
"""Version 5: a commit counter, so that a store whose rows moved under it (a shared transaction
the application rolled back, a second writer) refuses to write instead of diverging."""

TABLES = ("meta", "nodes", "jobs", "placement", "extras")
"""prioq's tables (plus ``lease`` where the dialect has it), each named ``prefix + name``."""
INDEXES = {
    "jobs_pending": "CREATE INDEX {p}jobs_pending ON {s}{p}jobs (priority DESC, submitted_at, seq, id) "
    "WHERE state = 'pending'",
    "jobs_running": "CREATE INDEX {p}jobs_running ON {s}{p}jobs (started_at, id) WHERE state <> 'pending'",
    "jobs_seq": "CREATE UNIQUE INDEX {p}jobs_seq ON {s}{p}jobs (seq)",
    "nodes_ord": "CREATE UNIQUE INDEX {p}nodes_ord ON {s}{p}nodes (ord)",
}
"""Version 2's indexes by name (``prefix + name`` in the database): version 5 renames them."""
CHECKED = ("meta", "placement", "lease")
"""Tables with a ``CHECK (id = 1)`` (PostgreSQL names it ``<table>_id_check``)."""

STAMP_VERSION = "UPDATE {s}{p}meta SET schema_version = {mark} WHERE id = 1"
"""Records each migration step's new version."""

# ----------------------------------------------------------------------------- reads and writes

ROW_COLUMNS = "id, seq, state, data, run"
"""The columns a job row is read from, in the order :func:`prioq.storage._reads.job_row` takes."""

_JOB_COLUMNS = (
    ("id", "key"), ("seq", "int64"), ("state", "text"), ("priority", "int64"),
    ("submitted_at", "float64"), ("started_at", "float64"), ("data", "text"), ("run", "text"),
)
"""Columns of a job upsert, in the order of :attr:`prioq.storage._writes.Writes.job_upserts`."""
_RUN_COLUMNS = (
    ("seq", "int64"), ("state", "text"), ("priority", "int64"), ("submitted_at", "float64"),
    ("started_at", "float64"), ("run", "text"), ("id", "key"),
)
"""Columns of a run-state update (the job's text unchanged), as in ``Writes.run_updates``."""
_NODE_COLUMNS = (("id", "key"), ("ord", "int64"), ("data", "text"))
_EXTRA_COLUMNS = (("id", "key"), ("data", "text"))

# JSON text -> column: ->> gives text; numbers need a cast back.
_JSON_CASTS = {"int64": "::bigint", "float64": "::float8", "text": "", "key": ""}


def _json_fields(columns: tuple[tuple[str, str], ...]) -> str:
    fields = []
    for i, (_, kind) in enumerate(columns):
        cast = _JSON_CASTS[kind]
        fields.append(f"(e->>{i}){cast}" if cast else f"e->>{i}")
    return ", ".join(fields)


def _rows_source(dialect: Dialect, columns: tuple[tuple[str, str], ...]) -> str:
    """Where an INSERT's rows come from: one row of parameters, or one JSON array of rows."""
    if dialect.batched_writes:
        return f"SELECT {_json_fields(columns)} FROM json_array_elements({dialect.mark}::json) AS e"
    return f"VALUES ({', '.join(dialect.mark for _ in columns)})"


def _upsert(dialect: Dialect, table: str, columns: tuple[tuple[str, str], ...]) -> str:
    names = [name for name, _ in columns]
    updates = ", ".join(f"{name} = excluded.{name}" for name in names[1:])
    return (
        f"INSERT INTO {table} ({', '.join(names)}) {_rows_source(dialect, columns)} "
        f"ON CONFLICT (id) DO UPDATE SET {updates}"
    )


def _delete(dialect: Dialect, table: str) -> str:
    if dialect.batched_writes:
        return f"DELETE FROM {table} WHERE id IN (SELECT json_array_elements_text({dialect.mark}::json))"
    return f"DELETE FROM {table} WHERE id = {dialect.mark}"


def _update_runs(dialect: Dialect, table: str) -> str:
    names = [name for name, _ in _RUN_COLUMNS]
    if dialect.batched_writes:
        sets = ", ".join(f"{name} = u.{name}" for name in names[:-1])
        return (
            f"UPDATE {table} AS j SET {sets} "
            f"FROM ({_rows_source(dialect, _RUN_COLUMNS)}) AS u({', '.join(names)}) WHERE j.id = u.id"
        )
    sets = ", ".join(f"{name} = {dialect.mark}" for name in names[:-1])
    return f"UPDATE {table} SET {sets} WHERE id = {dialect.mark}"


@attrs.frozen(slots=True, kw_only=True)
class Statements:
    """Every statement a store runs, rendered once for its dialect and table prefix."""

    dialect: Dialect
    schema: str
    """The schema qualifier (``""``, or ``'"prioq".'`` on PostgreSQL)."""
    prefix: str
    """The table prefix."""
    jobs: str
    """The jobs table's qualified name."""
    schema_version: str
    load_meta: str
    load_placement: str
    load_nodes: str
    load_jobs: str
    running_jobs: str
    get_job: str
    delete_jobs: str
    delete_nodes: str
    upsert_nodes: str
    upsert_jobs: str
    update_runs: str
    """Rows whose job text is unchanged: the run state and the sort columns only."""
    update_meta: str
    """The clock and counters, and one more commit, if the commit counter is the one loaded
    (``(now, next_seq, next_order, commits)``; no row updated: the store moved under us)."""
    update_meta_unchecked: str
    """The same, for a store committed to before any load (nothing to check against)."""
    update_placement: str
    """Only in a commit whose ``Changes.placement`` is set."""
    load_extras: str
    delete_extras: str
    upsert_extras: str
    lease: str
    """The lease table's qualified name (PostgreSQL)."""

    @classmethod
    def of(cls, dialect: Dialect, schema: str = "", prefix: str = DEFAULT_PREFIX) -> Statements:
        """The statements of ``dialect`` on the tables ``schema + prefix + "jobs"`` etc."""
        mark = dialect.mark
        q = schema + prefix
        jobs, nodes, meta = f"{q}jobs", f"{q}nodes", f"{q}meta"
        return cls(
            dialect=dialect,
            schema=schema,
            prefix=prefix,
            jobs=jobs,
            schema_version=f"SELECT schema_version FROM {meta} WHERE id = 1",
            load_meta=f"SELECT now, next_seq, next_order, commits FROM {meta} WHERE id = 1",
            load_placement=f"SELECT state FROM {q}placement WHERE id = 1",
            load_nodes=f"SELECT id, ord, data FROM {nodes} ORDER BY ord",
            load_jobs=f"SELECT {ROW_COLUMNS}, priority, submitted_at, started_at FROM {jobs} ORDER BY seq",
            running_jobs=f"SELECT {ROW_COLUMNS} FROM {jobs} WHERE state <> 'pending' ORDER BY started_at, id",
            get_job=f"SELECT {ROW_COLUMNS} FROM {jobs} WHERE id = {mark}",
            delete_jobs=_delete(dialect, jobs),
            delete_nodes=_delete(dialect, nodes),
            upsert_nodes=_upsert(dialect, nodes, _NODE_COLUMNS),
            upsert_jobs=_upsert(dialect, jobs, _JOB_COLUMNS),
            update_runs=_update_runs(dialect, jobs),
            update_meta=f"UPDATE {meta} SET now = {mark}, next_seq = {mark}, next_order = {mark}, "
            f"commits = commits + 1 WHERE id = 1 AND commits = {mark}",
            update_meta_unchecked=f"UPDATE {meta} SET now = {mark}, next_seq = {mark}, next_order = {mark}, "
            "commits = commits + 1 WHERE id = 1",
            update_placement=f"UPDATE {q}placement SET state = {mark} WHERE id = 1",
            load_extras=f"SELECT id, data FROM {q}extras ORDER BY id",
            delete_extras=_delete(dialect, f"{q}extras"),
            upsert_extras=_upsert(dialect, f"{q}extras", _EXTRA_COLUMNS),
            lease=f"{q}lease",
        )
