"""The layout of a queued job's heap entry, shared by the queue and its invariant checks.

An entry is a tuple, so ``heapq`` compares it in C:
``(key, submitted_at, seq, uid, job_id, job, phase, event)``

* ``key``: the negated exact integer key (a min-heap: highest effective priority first);
* ``uid``: unique per entry; stale and live entries of one job may share seq,
  so uid keeps comparisons from ever reaching the (unorderable) job;
* ``phase``: the job's aging :class:`~prioq.queue._phases.Phase`;
* ``event``: the job's one pending aging event (see :mod:`prioq.queue._timeline`), or ``None``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

__all__ = ["EVENT", "JOB", "JOB_ID", "KEY", "PHASE", "SEQ", "SUBMITTED", "UID", "Entry"]

Entry: TypeAlias = tuple[Any, ...]
KEY, SUBMITTED, SEQ, UID, JOB_ID, JOB, PHASE, EVENT = range(8)
