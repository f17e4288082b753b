"""The scheduler facade an orchestrator holds: see :class:`Scheduler` and ``docs/scheduler.md``."""

from __future__ import annotations

from prioq.scheduler._depends import inherited_priorities
from prioq.scheduler._facade import Scheduler

__all__ = ["Scheduler", "inherited_priorities"]
