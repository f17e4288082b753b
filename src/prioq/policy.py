"""``Policy``: every knob of a :class:`prioq.Scheduler` in one validated value (docs/scheduler.md#policy)."""

from __future__ import annotations

from typing import Literal

import attrs

from prioq.errors import InvalidJob
from prioq.model import PriorityClass
from prioq.placement import PlacementPolicy, placement_policy
from prioq.preemption import Preemption
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging

__all__ = ["Policy"]

Queueing = Literal["best-effort", "strict"]


def _placement(value: str | PlacementPolicy) -> PlacementPolicy:
    return placement_policy(value)


@attrs.frozen(slots=True, kw_only=True)
class Policy:
    """How a scheduler orders, places and preempts.

    * ``aging``: :class:`NoAging`, :class:`LinearAging` or :class:`StepAging`.
    * ``queueing``: ``"best-effort"`` (a job that cannot start does not block
      lower ones, dstack's behaviour) or ``"strict"`` (the head blocks everything).
    * ``placement``: a name from :data:`prioq.placement.PLACEMENTS` or a
      :class:`~prioq.placement.PlacementPolicy` object.
    * ``preemption``: :class:`Preemption` rules (default: never preempt).
    * ``reservation``: a blocked head job reserves the nodes where it fits
      soonest; others backfill only where they cannot delay it.
    * ``priority_range`` / ``default_priority``: allowed base priorities.
    * ``priority_classes``: named priorities jobs may use instead of a number.
    """

    aging: AgingPolicy = attrs.field(factory=NoAging)
    queueing: Queueing = "best-effort"
    placement: PlacementPolicy = attrs.field(
        factory=lambda: placement_policy("best-fit"), converter=_placement
    )
    preemption: Preemption = attrs.field(factory=Preemption)
    reservation: bool = True
    priority_range: tuple[int, int] = (0, 100)
    default_priority: int = 0
    priority_classes: tuple[PriorityClass, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.aging, NoAging | LinearAging | StepAging):
            raise InvalidJob(f"policy aging: expected NoAging, LinearAging or StepAging, got {self.aging!r}")
        if self.queueing not in ("best-effort", "strict"):
            raise InvalidJob(f"policy queueing: expected 'best-effort' or 'strict', got {self.queueing!r}")
        if not isinstance(self.preemption, Preemption):
            raise InvalidJob(f"policy preemption: expected a Preemption, got {self.preemption!r}")
        if not isinstance(self.reservation, bool):
            raise InvalidJob(f"policy reservation: expected a bool, got {self.reservation!r}")
        lo, hi = self.priority_range
        for v in (lo, hi, self.default_priority):
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidJob(f"policy priority_range/default_priority: expected ints, got {v!r}")
        if lo > hi:
            raise InvalidJob(f"policy priority_range: {lo} > {hi}")
        if not lo <= self.default_priority <= hi:
            raise InvalidJob(f"policy default_priority {self.default_priority} outside {lo}..{hi}")
        names = set()
        for pc in self.priority_classes:
            if not isinstance(pc, PriorityClass):
                raise InvalidJob(f"policy priority_classes: expected PriorityClass, got {pc!r}")
            if pc.name in names:
                raise InvalidJob(f"policy priority_classes: {pc.name!r} defined twice")
            if not lo <= pc.value <= hi:
                raise InvalidJob(f"priority class {pc.name}: value {pc.value} outside {lo}..{hi}")
            names.add(pc.name)

    def priority_class(self, name: str) -> PriorityClass:
        for pc in self.priority_classes:
            if pc.name == name:
                return pc
        known = ", ".join(pc.name for pc in self.priority_classes) or "none defined"
        raise InvalidJob(f"unknown priority class {name!r} (known: {known})")
