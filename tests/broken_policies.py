"""Deliberately broken policies: tests/test_testing_toolkit.py shows the toolkit catches each.

* :class:`OverCommit` -- a placement that fits a request against a node's capacity, not
  what is free there;
* :class:`EvictAnyone` -- a preemption rule that lets a job evict any preemptible job,
  higher priorities included (and spares the lowest ones first, so it does);
* :class:`Decaying` -- an aging curve whose boost falls back after a while;
* :class:`StarveFractional` -- a placement that never places a fractional-GPU request.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from prioq.model import Job
from prioq.placement import Allow, BestFit, NodeIndex, NodeState, always
from prioq.preemption import Candidate
from prioq.resources import ResourceRequest, Resources, fit


class OverCommit:
    name = "over-commit"

    def place(self, request: ResourceRequest, index: NodeIndex, allow: Allow = always
              ) -> tuple[NodeState, Resources] | None:
        for ns in index:
            alloc = fit(request, ns.node.capacity)  # the bug: capacity, not ns.free
            if alloc is not None:
                return ns, alloc
        return None

    def observe(self, request: ResourceRequest) -> None:
        return None

    def forget(self, request: ResourceRequest) -> None:
        return None


class EvictAnyone:
    def may_evict(self, preemptor: Job, priority: float, seq: int, victim: Candidate, now: float) -> bool:
        return victim.job.preemptible  # the bug: no priority comparison

    def importance(self, victim: Candidate) -> Any:
        return (victim.priority, victim.job.id)  # and spares the lowest first


class Decaying:
    """``min(wait, 20)`` for 20 s, then falls to 5: the boost decreases."""

    max_boost = 20.0
    growth_rate = 1.0
    boost_exponent = 0

    def exact_boost(self, wait: float | Fraction) -> Fraction:
        w = Fraction(wait)
        return w if w < 20 else Fraction(5)

    def boost(self, wait: float) -> float:
        return float(self.exact_boost(wait))

    def grows(self, wait: Fraction) -> bool:
        return wait < 20

    def next_change(self, wait: Fraction) -> Fraction | None:
        return Fraction(20) if wait < 20 else None


class StarveFractional:
    name = "starve-fractional"

    def __init__(self) -> None:
        self._inner = BestFit()

    def place(self, request: ResourceRequest, index: NodeIndex, allow: Allow = always
              ) -> tuple[NodeState, Resources] | None:
        if request.gpu is not None and request.gpu.fractional:
            return None  # the bug: fractional requests wait forever
        return self._inner.place(request, index, allow)

    def observe(self, request: ResourceRequest) -> None:
        return None

    def forget(self, request: ResourceRequest) -> None:
        return None
