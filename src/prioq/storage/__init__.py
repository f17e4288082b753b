"""Pluggable storage for scheduler state (DESIGN section 8).

A :class:`Store` persists what a :class:`prioq.Scheduler` must not lose: its
nodes, every job it holds (pending, running, terminating) with the data its
order depends on, and a little metadata (the clock and counters). Free
resources and indexes are derived from these on load, never stored.

The scheduler hands each public call's changes to :meth:`Store.commit` as one
:class:`Changes` value *before* it answers; the store applies them atomically
or raises :class:`prioq.StoreError` (and the scheduler rolls its memory back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

import attrs

from prioq.model import Job, Node
from prioq.resources import Resources

__all__ = [
    "Changes",
    "JobRow",
    "MemoryStore",
    "NodeRow",
    "Snapshot",
    "Store",
    "open_store",
]

JobState = Literal["pending", "running", "terminating"]


@attrs.frozen(slots=True, kw_only=True)
class JobRow:
    """Everything the scheduler keeps about one job."""

    job: Job
    seq: int
    state: JobState
    node_ids: tuple[str, ...] = ()
    allocation: tuple[Resources, ...] = ()
    started_at: float | None = None
    start_priority: float | None = None
    """Effective priority frozen when the job started (``compare="effective"``)."""
    preempted_by: str | None = None
    """For a terminating victim: the preemptor it makes room for."""
    nominated: tuple[str, ...] = ()
    """For a pending preemptor: the nodes its victims are freeing."""


@attrs.frozen(slots=True, kw_only=True)
class NodeRow:
    node: Node
    order: int


@attrs.frozen(slots=True, kw_only=True)
class Snapshot:
    """A whole scheduler state, as a store loads it."""

    nodes: tuple[NodeRow, ...] = ()
    jobs: tuple[JobRow, ...] = ()
    now: float | None = None
    next_seq: int = 0
    next_order: int = 0

    def is_empty(self) -> bool:
        return not self.nodes and not self.jobs and self.now is None


@attrs.frozen(slots=True, kw_only=True)
class Changes:
    """One public call's changes: rows to upsert (or delete, ``None``) by id, and new metadata."""

    jobs: Mapping[str, JobRow | None] = attrs.field(factory=dict)
    nodes: Mapping[str, NodeRow | None] = attrs.field(factory=dict)
    now: float | None = None
    next_seq: int = 0
    next_order: int = 0


@runtime_checkable
class Store(Protocol):
    """What a scheduler needs from storage."""

    def load(self) -> Snapshot:
        """The stored state (empty for a new store)."""
        ...

    def commit(self, changes: Changes) -> None:
        """Apply ``changes`` atomically, or raise ``StoreError`` and apply nothing."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """Keeps the state in this process: nothing survives a restart, but a
    scheduler reopened on the same object resumes (useful in tests)."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobRow] = {}
        self._nodes: dict[str, NodeRow] = {}
        self._now: float | None = None
        self._next_seq = 0
        self._next_order = 0

    def load(self) -> Snapshot:
        return Snapshot(
            nodes=tuple(sorted(self._nodes.values(), key=lambda r: r.order)),
            jobs=tuple(sorted(self._jobs.values(), key=lambda r: r.seq)),
            now=self._now,
            next_seq=self._next_seq,
            next_order=self._next_order,
        )

    def commit(self, changes: Changes) -> None:
        for job_id, row in changes.jobs.items():
            if row is None:
                self._jobs.pop(job_id, None)
            else:
                self._jobs[job_id] = row
        for node_id, nrow in changes.nodes.items():
            if nrow is None:
                self._nodes.pop(node_id, None)
            else:
                self._nodes[node_id] = nrow
        self._now = changes.now
        self._next_seq = changes.next_seq
        self._next_order = changes.next_order

    def close(self) -> None:
        return None


def open_store(url: str) -> Store:
    """A store by URL: ``memory://``, ``sqlite:///path``, ``postgresql://...``."""
    from prioq.errors import StoreError

    if not isinstance(url, str):
        raise StoreError(f"store URL must be a string, got {url!r}")
    if url == "memory://" or url == "memory:":
        return MemoryStore()
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise StoreError(f"unknown store URL scheme {scheme!r} in {url!r}; use memory://, sqlite:///path "
                     "or postgresql://")
