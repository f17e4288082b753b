"""Named strategies for side-by-side comparisons (``prioq simulate --policies ...``).

A name is a base followed by ``+``-joined modifiers, e.g. ``priority+aging+preemption``:

========================  ======================================================================
``fifo``                  base: every job at the default priority (submission order), best-effort
``priority``              base: jobs' own priorities, best-effort with reservations
``aging``                 ``LinearAging(rate=1/90, max_boost=40)``: +40 after an hour of waiting
``step-aging``            ``StepAging(interval=900, step=10, max_boost=40)``: +10 every 15 minutes
``preemption``            ``Preemption("lower-priority", min_runtime=600, grace=30)``
``strict``                strict queueing (the head blocks everything behind it)
``no-reservation``        no reservation for a blocked head job (pure best-effort)
``no-estimates``          durations hidden from the scheduler (reservations by capacity only)
``quota``                 quotas derived from the trace: each owner an equal share of the GPUs and
                          CPUs, all in one cohort (borrow idle shares, reclaim them back with
                          ``preemption``); see :mod:`prioq.sim.quotas` and docs/quotas.md
``first-fit`` / ``best-fit`` / ``spread`` / ``fgd``   placement policy (``fgd`` = fragmentation-aware)
``fair-share``            ``FairShare()``: lowest weighted dominant share of 7-day decayed usage
                          first among equal priorities (docs/fairness.md)
``fair-share-term``       ``FairShare(mode="term")``: Slurm's fair-share factor, up to +10, added
                          to the effective priority
========================  ======================================================================
"""

from __future__ import annotations

from typing import Any

from prioq import _validate
from prioq.errors import InvalidValue
from prioq.fairshare import FairShare
from prioq.policy import Policy
from prioq.preemption import Preemption
from prioq.queue.aging import LinearAging, StepAging
from prioq.sim.engine import Strategy

__all__ = ["DEFAULT_COMPARISON", "MODIFIERS", "strategy"]

DEFAULT_COMPARISON = ("fifo", "priority", "priority+aging", "priority+aging+preemption")
"""The four strategies the README's main job compares."""

_PLACEMENTS = {
    "first-fit": "first-fit",
    "best-fit": "best-fit",
    "spread": "spread",
    "fgd": "fragmentation-aware",
}

MODIFIERS: dict[str, dict[str, Any]] = {
    "aging": {"aging": LinearAging(rate=1 / 90, max_boost=40)},
    "step-aging": {"aging": StepAging(interval=900, step=10, max_boost=40)},
    "preemption": {"preemption": Preemption(policy="lower-priority", min_runtime=600, grace=30)},
    "strict": {"queueing": "strict"},
    "no-reservation": {"reservation": False},
    **{name: {"placement": policy} for name, policy in _PLACEMENTS.items()},
    "fair-share": {"fair_share": FairShare()},
    "fair-share-term": {"fair_share": FairShare(mode="term")},
}


def strategy(name: str) -> Strategy:
    """The :class:`Strategy` a name describes (see the module docstring); :class:`~prioq.InvalidValue`
    if unknown (:class:`~prioq.InvalidType` if not a string)."""
    _validate.identifier(name, "strategy name")
    if not name.strip():
        raise InvalidValue(f"strategy name must be a non-empty string, got {name!r}")
    base, *mods = name.strip().split("+")
    if base not in ("fifo", "priority"):
        raise InvalidValue(f"strategy {name!r}: must start with 'fifo' or 'priority', not {base!r}")
    fields: dict[str, Any] = {}
    estimates = True
    quotas = False
    for mod in mods:
        if mod == "no-estimates":
            estimates = False
            continue
        if mod == "quota":
            quotas = True
            continue
        if mod not in MODIFIERS:
            known = ", ".join([*MODIFIERS, "no-estimates", "quota"])
            raise InvalidValue(f"strategy {name!r}: unknown modifier {mod!r} (known: {known})")
        fields.update(MODIFIERS[mod])
    policy = Policy(**fields)
    return Strategy(
        name=name, policy=policy, use_priority=base == "priority", estimates=estimates, trace_quotas=quotas
    )
