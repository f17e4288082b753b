"""The queue's aging events in time order (docs/queue.md#how-it-works).

An event is a tuple ``(at, uid, job_id)`` (indices :data:`EVENT_AT`, :data:`EVENT_UID`,
:data:`EVENT_JOB`): ``at`` is the smallest float >= the exact instant at which the
job's aging phase ends, so "due at ``now``" is ``at <= now``, one exact float
comparison (``now`` is a float). ``uid`` is unique, so tuples never compare
further. An event is live while its job's heap entry points to it; others are
stale and dropped lazily.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

__all__ = ["EVENT_AT", "EVENT_JOB", "EVENT_UID", "Event", "Timeline"]

Event: TypeAlias = tuple[Any, ...]
EVENT_AT, EVENT_UID, EVENT_JOB = range(3)


class Timeline:
    """Events in ``at`` order: a FIFO while they arrive in order (jobs pushed as they are
    submitted, the common case: O(1)), a heap for the others (O(log n))."""

    __slots__ = ("fifo", "heap")

    def __init__(self) -> None:
        self.fifo: deque[Event] = deque()
        self.heap: list[Event] = []

    def __len__(self) -> int:
        return len(self.fifo) + len(self.heap)

    def __iter__(self) -> Iterator[Event]:
        return itertools.chain(self.fifo, self.heap)

    def add(self, event: Event) -> None:
        """O(1) if ``event`` is not earlier than the FIFO's last, else O(log n)."""
        fifo = self.fifo
        if not fifo or fifo[-1] <= event:
            fifo.append(event)
        else:
            heapq.heappush(self.heap, event)

    def first(self) -> Event | None:
        """The earliest event (``None`` if empty). O(1)."""
        fifo, heap = self.fifo, self.heap
        if fifo:
            return heap[0] if heap and heap[0] < fifo[0] else fifo[0]
        return heap[0] if heap else None

    def pop(self) -> Event:
        """Remove and return the earliest event. O(1) from the FIFO, O(log n) from the heap."""
        fifo, heap = self.fifo, self.heap
        if fifo and not (heap and heap[0] < fifo[0]):
            return fifo.popleft()
        return heapq.heappop(heap)

    def keep(self, live: Callable[[Event], bool]) -> None:
        """Drop the events ``live`` refuses. O(n)."""
        self.fifo = deque(e for e in self.fifo if live(e))
        self.heap = [e for e in self.heap if live(e)]
        heapq.heapify(self.heap)

    def ordered(self) -> bool:
        """Whether the FIFO is sorted and the heap is a heap (for ``_check``). O(n)."""
        fifo, heap = self.fifo, self.heap
        return all(fifo[i - 1] <= fifo[i] for i in range(1, len(fifo))) and all(
            heap[(i - 1) // 2] <= heap[i] for i in range(1, len(heap))
        )
