"""Pluggable storage for scheduler state (docs/storage.md).

A :class:`Store` persists what a :class:`prioq.Scheduler` must not lose: its
nodes, every job it holds (pending, running, terminating) with the data its
order depends on, and a little metadata (the clock and counters). Free
resources and indexes are derived from these on load, never stored.

The scheduler hands each public call's changes to :meth:`Store.commit` as one
:class:`Changes` value *before* it answers; the store applies them atomically
or raises :class:`prioq.StoreError` (and the scheduler rolls its memory back).

This module only re-exports; one module per question:

* ``_protocol`` — what a store is (:class:`Store`, :class:`QueryStore`);
* ``_rows`` — the values stores exchange (:class:`JobRow`, :class:`NodeRow`,
  :class:`Snapshot`, :class:`Changes`) and the check every commit makes;
* ``_memory`` — :class:`MemoryStore`; ``_open`` — :func:`open_store`; ``_options`` — URLs and options;
* ``_pages`` — pages of pending jobs (:func:`pending_order`, in memory and in SQL);
* the SQL stores' shared parts: ``_sql`` (every statement and the DDL, per dialect),
  ``_migrations`` (schema versions), ``_codec`` (rows <-> JSON text),
  ``_writes`` (a commit's batched rows, the job-text cache), ``_reads`` (rows back into values);
* :mod:`prioq.storage.sqlite` and :mod:`prioq.storage.postgres` — what is specific to each database;
* ``_shared`` — :func:`shared` / :func:`shared_async`: stores that write through the application's
  own connection, inside its transactions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prioq.storage._memory import MemoryStore
from prioq.storage._open import open_store
from prioq.storage._pages import pending_order
from prioq.storage._protocol import QueryStore, Store
from prioq.storage._rows import Changes, JobRow, NodeRow, Snapshot

if TYPE_CHECKING:
    from prioq.storage._shared import shared, shared_async

if TYPE_CHECKING:
    from prioq.storage.postgres import PostgresStore
    from prioq.storage.sqlite import SQLiteStore

__all__ = [
    "Changes",
    "JobRow",
    "MemoryStore",
    "NodeRow",
    "PostgresStore",
    "QueryStore",
    "SQLiteStore",
    "Snapshot",
    "Store",
    "open_store",
    "pending_order",
    "shared",
    "shared_async",
]


def __getattr__(name: str) -> Any:
    # The backends load on first use: sqlite3 and the PostgreSQL module stay out of ``import prioq``.
    if name == "SQLiteStore":
        from prioq.storage.sqlite import SQLiteStore

        return SQLiteStore
    if name == "PostgresStore":
        from prioq.storage.postgres import PostgresStore

        return PostgresStore
    if name in ("shared", "shared_async"):
        # The shared stores build on both backends: loaded on first use too.
        from prioq.storage import _shared

        return getattr(_shared, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
