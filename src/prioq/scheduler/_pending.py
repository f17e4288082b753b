"""The scheduler's pending set: an active queue plus parked jobs grouped by request shape.

A scheduling cycle must not cost O(pending) when most jobs cannot run (a deep
backlog on a full cluster). A job that found no room even ignoring claims is
*parked* under its shape (request, gang size, and -- when preemption compares
base priorities -- its priority). Frees only shrink within a cycle and jobs of
one shape are interchangeable, so each cycle tries only the head of each
parked shape (in the global order); if the head cannot start, nothing behind
it in that shape can. A cycle then costs O((active + shapes + starts) log n).

Parking is invisible from outside: ``ordered``, ``get``, ``len``... see every
pending job. The global order merges the queues by the exact effective
priority (rational arithmetic on the same values the queue keeps as exact
integers), so it equals the single-queue order, ties included.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterator
from fractions import Fraction

from prioq.errors import UnknownJob
from prioq.model import Job
from prioq.queue import PriorityQueue
from prioq.queue.aging import AgingPolicy

__all__: list[str] = []

Shape = Hashable
OrderKey = tuple[Fraction, float, int, str]


class Pending:
    """Active queue + parked shapes, with the PriorityQueue subset the scheduler uses."""

    def __init__(self, aging: AgingPolicy) -> None:
        self.aging = aging
        self.active = PriorityQueue(aging=aging)
        self.parked: dict[Shape, PriorityQueue] = {}
        self.where: dict[str, Shape] = {}
        self._next_seq = 0

    # -- membership

    def _queue_of(self, job_id: str) -> PriorityQueue:
        shape = self.where.get(job_id)
        if shape is not None:
            return self.parked[shape]
        if job_id in self.active:
            return self.active
        raise UnknownJob(f"no pending job {job_id!r}")

    def __contains__(self, job_id: object) -> bool:
        return job_id in self.where or job_id in self.active

    def __len__(self) -> int:
        return len(self.active) + len(self.where)

    def get(self, job_id: str) -> Job:
        return self._queue_of(job_id).get(job_id)

    def seq_of(self, job_id: str) -> int:
        return self._queue_of(job_id).seq_of(job_id)

    def effective_priority(self, job_id: str, now: float) -> float:
        return self._queue_of(job_id).effective_priority(job_id, now)

    def is_parked(self, job_id: str) -> bool:
        return job_id in self.where

    @property
    def next_seq(self) -> int:
        """Above every sequence number given out or restored. O(1)."""
        return self._next_seq

    def restore_counter(self, next_seq: int) -> None:
        self._next_seq = max(self._next_seq, next_seq)

    # -- changes

    def push(self, job: Job, *, seq: int | None = None) -> int:
        """A new or returning job goes to the active queue. O(log n)."""
        if job.id in self.where:
            from prioq.errors import DuplicateJob

            raise DuplicateJob(f"job {job.id!r} is already queued")
        if seq is None:
            seq = self._next_seq
        pushed = self.active.push(job, seq=seq)
        self._next_seq = max(self._next_seq, pushed + 1)
        return pushed

    def remove(self, job_id: str) -> Job:
        shape = self.where.pop(job_id, None)
        if shape is None:
            return self.active.remove(job_id)
        queue = self.parked[shape]
        job = queue.remove(job_id)
        if not queue:
            del self.parked[shape]
        return job

    def update(self, job_id: str, priority: int) -> Job:
        """Change a priority; a parked job returns to the active queue (its shape may change)."""
        if job_id in self.where:
            self.unpark(job_id)
        return self.active.update(job_id, priority)

    def park(self, job_id: str, shape: Shape) -> None:
        """Move an active job under ``shape``. O(log n)."""
        seq = self.active.seq_of(job_id)
        job = self.active.remove(job_id)
        queue = self.parked.get(shape)
        if queue is None:
            queue = self.parked[shape] = PriorityQueue(aging=self.aging)
        queue.push(job, seq=seq)
        self.where[job_id] = shape

    def unpark(self, job_id: str) -> None:
        """Move a parked job back to the active queue. O(log n)."""
        shape = self.where.pop(job_id)
        queue = self.parked[shape]
        seq = queue.seq_of(job_id)
        job = queue.remove(job_id)
        if not queue:
            del self.parked[shape]
        self.active.push(job, seq=seq)

    # -- order

    def key(self, job: Job, seq: int, now: float) -> OrderKey:
        """The scheduling order key, exactly: (-effective priority, submitted_at, seq, id)."""
        # exact wait: a float subtraction could round two equal keys apart
        wait = max(Fraction(0), Fraction(now) - Fraction(job.submitted_at))
        return (-(job.priority + self.aging.exact_boost(wait)), job.submitted_at, seq, job.id)

    def ordered(self, now: float) -> Iterator[Job]:
        """Every pending job in scheduling order (merged exactly). O(n log n) for all."""
        streams = [self._keyed(self.active, now), *(self._keyed(q, now) for q in self.parked.values())]
        for _, job in heapq.merge(*streams, key=lambda kj: kj[0]):
            yield job

    def _keyed(self, queue: PriorityQueue, now: float) -> Iterator[tuple[OrderKey, Job]]:
        for job in queue.ordered(now):
            yield self.key(job, queue.seq_of(job.id), now), job

    def _check(self) -> None:
        self.active._check()
        for shape, queue in self.parked.items():
            queue._check()
            assert queue, shape
            for job_id in queue:
                assert self.where[job_id] == shape
                assert job_id not in self.active
        assert len(self.where) == sum(len(q) for q in self.parked.values())
        seqs = [self.seq_of(j) for j in [*self.active, *self.where]]
        assert len(seqs) == len(set(seqs)), "sequence numbers must be unique"
