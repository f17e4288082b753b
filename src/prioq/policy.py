"""``Policy``: every knob of a :class:`prioq.Scheduler` in one validated value (docs/scheduler.md#policy)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import attrs

from prioq._validate import boolean, choice, instance, number, priority, wrong_type
from prioq.errors import InvalidJob, InvalidPolicy
from prioq.fairshare import FairShare, Weights
from prioq.model import PriorityClass
from prioq.placement import PlacementPolicy, placement_policy
from prioq.preemption import Preemption
from prioq.queue.aging import AgingPolicy, NoAging
from prioq.quota import Quotas, quotas

__all__ = ["Policy"]

Queueing = Literal["best-effort", "strict"]


def _placement(value: str | PlacementPolicy) -> PlacementPolicy:
    return placement_policy(value)


def _weights(value: object) -> Weights:
    return value if isinstance(value, Weights) else Weights(value)  # type: ignore[arg-type]  # checked


def _classes(value: object) -> tuple[PriorityClass, ...]:
    """``priority_classes`` as a tuple of :class:`PriorityClass` (``InvalidPolicy`` otherwise)."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise wrong_type(InvalidPolicy, f"policy priority_classes: expected a collection, got {value!r}")
    what = "policy priority_classes item"
    return tuple(instance(pc, PriorityClass, what, error=InvalidPolicy) for pc in value)


def _priority_range(value: object) -> tuple[int, int]:
    """Two ints ``(lo, hi)``, ``lo <= hi``, within ±MAX_PRIORITY (2**53): beyond it a priority is
    not exact in the queue's float arithmetic, and a job stored there could never be requeued."""
    if not isinstance(value, tuple | list):
        raise wrong_type(InvalidPolicy, f"policy priority_range: expected a (low, high) pair, got {value!r}")
    if len(value) != 2:
        raise InvalidPolicy(f"policy priority_range: expected a (low, high) pair, got {value!r}")
    lo, hi = (priority(v, "policy priority_range", error=InvalidPolicy) for v in value)
    if lo > hi:
        raise InvalidPolicy(f"policy priority_range: {lo} > {hi}")
    return lo, hi


@attrs.frozen(slots=True, kw_only=True)
class Policy:
    """How a scheduler orders, places and preempts.

    * ``aging``: :class:`NoAging`, :class:`LinearAging`, :class:`StepAging`, or
      any object implementing :class:`~prioq.queue.aging.AgingPolicy`.
    * ``queueing``: ``"best-effort"`` (a job that cannot start does not block
      lower ones, dstack's behaviour) or ``"strict"`` (the head blocks everything).
    * ``placement``: a name from :data:`prioq.placement.PLACEMENTS` or a
      :class:`~prioq.placement.PlacementPolicy` object.
    * ``preemption``: :class:`Preemption` rules (default: never preempt).
    * ``reservation``: a blocked head job reserves the nodes where it fits
      soonest; others backfill only where they cannot delay it.
    * ``priority_range`` / ``default_priority``: allowed base priorities
      (within ±2**53).
    * ``priority_classes``: named priorities jobs may use instead of a number.
    * ``fair_share``: :class:`~prioq.FairShare` arbitration among owners (``None``: FIFO
      among equal priorities); see docs/fairness.md.
    * ``quotas``: per-owner limits on concurrent resources, Kueue's model
      (``{"team-a": "gpu=16 cpu=256"}``, or :class:`~prioq.Quota` values with cohorts,
      or a :class:`~prioq.Quotas`); see docs/quotas.md.
    * ``weights``: owner -> weight >= 0 (default 1), a :class:`~prioq.Weights`; fair share
      and quota fair sharing divide an owner's dominant resource share by it (0: only idle
      capacity, Kueue's meaning).
    * ``unsatisfiable_after``: seconds; a cycle drops a pending job no node could ever hold
      once it has waited that long since submission (outcome ``"unsatisfiable"``, a
      ``DROPPED`` event). ``None`` (default): such jobs wait (docs/orchestrator.md#demand).

    Every field is validated: :class:`~prioq.errors.InvalidPolicy` (its
    ``InvalidPolicyType`` variant, also a ``TypeError``, for a wrong type).
    """

    aging: AgingPolicy = attrs.field(factory=NoAging)
    queueing: Queueing = "best-effort"
    placement: PlacementPolicy = attrs.field(
        factory=lambda: placement_policy("best-fit"), converter=_placement
    )
    preemption: Preemption = attrs.field(factory=Preemption)
    reservation: bool = True
    priority_range: tuple[int, int] = attrs.field(default=(0, 100), converter=_priority_range)
    default_priority: int = 0
    priority_classes: tuple[PriorityClass, ...] = attrs.field(default=(), converter=_classes)
    fair_share: FairShare | None = None
    quotas: Quotas = attrs.field(factory=Quotas, converter=quotas)
    weights: Weights = attrs.field(factory=Weights, converter=_weights)
    unsatisfiable_after: float | None = None

    def __attrs_post_init__(self) -> None:
        instance(self.aging, AgingPolicy, "policy aging", error=InvalidPolicy)  # type: ignore[type-abstract]
        if isinstance(self.aging, type):  # the class has the protocol's names too
            message = f"policy aging: expected a policy instance, got the class {self.aging!r}"
            raise wrong_type(InvalidPolicy, message)
        choice(self.queueing, ("best-effort", "strict"), "policy queueing", error=InvalidPolicy)
        instance(self.preemption, Preemption, "policy preemption", error=InvalidPolicy)
        boolean(self.reservation, "policy reservation", error=InvalidPolicy)
        if self.fair_share is not None:
            instance(self.fair_share, FairShare, "policy fair_share", error=InvalidPolicy)
        if self.unsatisfiable_after is not None:
            number(self.unsatisfiable_after, "policy unsatisfiable_after", error=InvalidPolicy, minimum=0)
        lo, hi = self.priority_range
        what = "policy default_priority"
        priority(self.default_priority, what, error=InvalidPolicy, minimum=lo, maximum=hi)
        names = set()
        for pc in self.priority_classes:
            if pc.name in names:
                raise InvalidPolicy(f"policy priority_classes: {pc.name!r} defined twice")
            if not lo <= pc.value <= hi:
                raise InvalidPolicy(f"priority class {pc.name}: value {pc.value} outside {lo}..{hi}")
            names.add(pc.name)

    def priority_class(self, name: str) -> PriorityClass:
        for pc in self.priority_classes:
            if pc.name == name:
                return pc
        known = ", ".join(pc.name for pc in self.priority_classes) or "none defined"
        raise InvalidJob(f"unknown priority class {name!r} (known: {known})")
