"""The store that keeps its state in this process (the scheduler's default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prioq._validate import lookup_id
from prioq.storage._pages import page_in_memory
from prioq.storage._rows import Changes, JobRow, NodeRow, Snapshot, check_changes

if TYPE_CHECKING:
    from prioq.ordering import Page

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps the state in this process: nothing survives a restart, but a
    scheduler reopened on the same object resumes (useful in tests)."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobRow] = {}
        self._nodes: dict[str, NodeRow] = {}
        self._now: float | None = None
        self._next_seq = 0
        self._next_order = 0
        self._placement: str | None = None
        self._extras: dict[str, str] = {}

    def load(self) -> Snapshot:
        """The state as last committed. O(n log n)."""
        return Snapshot(
            nodes=tuple(sorted(self._nodes.values(), key=lambda r: r.order)),
            jobs=tuple(sorted(self._jobs.values(), key=lambda r: r.seq)),
            now=self._now,
            next_seq=self._next_seq,
            next_order=self._next_order,
            placement=self._placement,
            extras=dict(self._extras),
        )

    def commit(self, changes: Changes) -> None:
        """Apply ``changes``. O(k) for k rows; a bad value raises before anything changes."""
        changes = check_changes(changes)
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
        if changes.placement is not None:
            self._placement = changes.placement
        for key, text in changes.extras.items():
            if text is None:
                self._extras.pop(key, None)
            else:
                self._extras[key] = text

    def close(self) -> None:
        return None

    # Read-only queries (QueryStore).

    def pending_jobs(
        self, limit: int, cursor: str | None = None, *, secret: bytes | str | None = None
    ) -> Page[JobRow]:
        """One page of pending jobs in base-priority order, cursors signed with ``secret``.
        O(n log n): memory keeps no index."""
        return page_in_memory(self._jobs.values(), limit, cursor, secret)

    def running_jobs(self) -> list[JobRow]:
        """Running and terminating jobs by ``started_at`` then id. O(r log r)."""
        rows = (r for r in self._jobs.values() if r.state != "pending")
        return sorted(rows, key=lambda r: (r.started_at, r.job.id))

    def get_job(self, job_id: str) -> JobRow | None:
        """One job by id, ``None`` if not held. O(1)."""
        return self._jobs.get(lookup_id(job_id))
