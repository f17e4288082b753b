"""The waiting queue: jobs in scheduling order under aging, O(log n) per operation.

* :mod:`prioq.queue.aging` -- the aging policies (how a job's boost grows while it waits)
  and the :class:`AgingPolicy` protocol the queue asks;
* :mod:`prioq.queue._queue` -- :class:`PriorityQueue`: two heaps, lazy aging events;
* :mod:`prioq.queue._phases` -- a policy's phases as the queue keys them;
* :mod:`prioq.queue._exact` -- exact dyadic arithmetic behind the integer keys;
* :mod:`prioq.queue._timeline` -- the aging events in time order.

See ``docs/queue.md``.
"""

from __future__ import annotations

from prioq.queue._queue import PriorityQueue, QueueLevels, QueueStatistics
from prioq.queue.aging import (
    AgingPolicy,
    LinearAging,
    NoAging,
    StepAging,
    dyadic_exponent,
    exact_effective_priority,
)

__all__ = [
    "AgingPolicy",
    "LinearAging",
    "NoAging",
    "PriorityQueue",
    "QueueLevels",
    "QueueStatistics",
    "StepAging",
    "dyadic_exponent",
    "exact_effective_priority",
]
