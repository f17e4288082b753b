"""The scheduler facade an orchestrator holds: see :class:`Scheduler` and ``docs/scheduler.md``."""

from __future__ import annotations

from prioq.scheduler._depends import inherited_priorities
from prioq.scheduler._events import DEFAULT_RETENTION
from prioq.scheduler._facade import Scheduler
from prioq.scheduler._resume import NodeChanges, Terminating

__all__ = ["DEFAULT_RETENTION", "NodeChanges", "Scheduler", "Terminating", "inherited_priorities"]
