"""prioq.testing: property-test scheduling policies, yours and prioq's (docs/testing.md).

* :mod:`prioq.testing.checkers` -- :func:`check_scheduler`, :func:`check_queue`,
  :func:`check_preemption_plan`, :func:`check_decisions`, :func:`check_aging`: each raises
  :class:`InvariantError` with a readable account of what broke. No hypothesis needed.
* :mod:`prioq.testing.strategies` -- hypothesis strategies for specs, requests, devices,
  nodes, clusters, jobs, workloads and policies.
* :class:`SchedulerStateMachine` -- the stateful test: subclass it with your policy.

The last two need hypothesis (``pip install 'prioq[testing]'``); they are imported on
first use, with an ``ImportError`` that says so when it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prioq.testing.checkers import (
    InvariantError,
    SchedulerView,
    check_aging,
    check_decisions,
    check_preemption_plan,
    check_queue,
    check_scheduler,
    view,
)

if TYPE_CHECKING:
    from prioq.testing import strategies
    from prioq.testing.machine import SchedulerStateMachine

__all__ = [
    "InvariantError",
    "SchedulerStateMachine",
    "SchedulerView",
    "check_aging",
    "check_decisions",
    "check_preemption_plan",
    "check_queue",
    "check_scheduler",
    "strategies",
    "view",
]


def __getattr__(name: str) -> Any:
    # hypothesis is optional: imported only when these are first asked for
    if name == "strategies":
        import importlib

        return importlib.import_module("prioq.testing.strategies")
    if name == "SchedulerStateMachine":
        from prioq.testing.machine import SchedulerStateMachine

        return SchedulerStateMachine
    raise AttributeError(f"module 'prioq.testing' has no attribute {name!r}")
