"""The scheduler facade an orchestrator holds: see :class:`Scheduler` and ``docs/scheduler.md``."""

from __future__ import annotations

from prioq.scheduler._depends import inherited_priorities
from prioq.scheduler._facade import Scheduler
from prioq.scheduler._resume import NodeChanges, Terminating

__all__ = ["NodeChanges", "Scheduler", "Terminating", "inherited_priorities"]
