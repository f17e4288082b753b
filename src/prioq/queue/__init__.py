"""The waiting queue: jobs in scheduling order under aging, O(log n) per operation.

* :mod:`prioq.queue.aging` -- the aging policies (how a job's boost grows while it waits);
* :mod:`prioq.queue._queue` -- :class:`PriorityQueue`, exact integer keys and lazy aging events.

See ``docs/queue.md``.
"""

from __future__ import annotations

from prioq.queue._queue import PriorityQueue, QueueLevels, QueueStatistics
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging

__all__ = [
    "AgingPolicy",
    "LinearAging",
    "NoAging",
    "PriorityQueue",
    "QueueLevels",
    "QueueStatistics",
    "StepAging",
]
