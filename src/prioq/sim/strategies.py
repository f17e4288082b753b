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
``module:Name``           your own policy, by import path (docs/testing.md): a class (called with
                          no arguments), a factory or an instance implementing
                          :class:`~prioq.placement.PlacementPolicy`,
                          :class:`~prioq.queue.aging.AgingPolicy`,
                          :class:`~prioq.preemption.PreemptionRule` (with the ``preemption``
                          settings above unless ``preemption`` is given too) or
                          :class:`~prioq.fairshare.OwnerRanking` (as ``fair-share``'s ranking,
                          with its settings unless another fair share is given); or a whole
                          :class:`~prioq.Policy`. Alone (``mymodule:MyPlacement``) it modifies
                          ``priority``.
========================  ======================================================================
"""

from __future__ import annotations

import importlib
from typing import Any

import attrs

from prioq import _validate
from prioq.errors import InvalidValue
from prioq.fairshare import FairShare, OwnerRanking
from prioq.placement import PlacementPolicy
from prioq.policy import Policy
from prioq.preemption import Preemption, PreemptionRule
from prioq.queue.aging import AgingPolicy, LinearAging, StepAging
from prioq.sim.engine import Strategy

__all__ = ["DEFAULT_COMPARISON", "MODIFIERS", "imported_policy", "strategy"]

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


def imported_policy(path: str) -> object:
    """The object ``path`` (``"package.module:Name"``, dots allowed after the colon) names,
    called with no arguments when it is a class, or a factory that is not itself a
    policy: a fresh instance per call, so a policy that learns starts clean in each run.
    :class:`~prioq.InvalidValue` if it cannot be imported."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise InvalidValue(f"policy path {path!r}: expected 'module:Name'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidValue(f"policy path {path!r}: cannot import {module_name!r} ({exc})") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidValue(f"policy path {path!r}: {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    kinds = (Policy, PlacementPolicy, AgingPolicy, PreemptionRule, OwnerRanking)
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, kinds)):
        obj = obj()
    return obj


def _imported_fields(path: str, name: str, fields: dict[str, Any]) -> None:
    """Add the fields a ``module:Name`` modifier sets to ``fields``."""
    obj = imported_policy(path)
    if isinstance(obj, Policy):
        fields.update({f: getattr(obj, f) for f in attrs.fields_dict(Policy)})
    elif isinstance(obj, PlacementPolicy):
        fields["placement"] = obj
    elif isinstance(obj, PreemptionRule):
        base = fields.get("preemption") or MODIFIERS["preemption"]["preemption"]
        fields["preemption"] = attrs.evolve(base, rule=obj)
    elif isinstance(obj, AgingPolicy):
        fields["aging"] = obj
    elif isinstance(obj, OwnerRanking):
        base = fields.get("fair_share") or MODIFIERS["fair-share"]["fair_share"]
        fields["fair_share"] = attrs.evolve(base, ranking=obj)
    else:
        kinds = "a Policy, PlacementPolicy, AgingPolicy, PreemptionRule or OwnerRanking"
        raise InvalidValue(f"strategy {name!r}: {path} is {obj!r}, not {kinds}")


def strategy(name: str) -> Strategy:
    """The :class:`Strategy` a name describes (see the module docstring); :class:`~prioq.InvalidValue`
    if unknown (:class:`~prioq.InvalidType` if not a string)."""
    _validate.identifier(name, "strategy name")
    if not name.strip():
        raise InvalidValue(f"strategy name must be a non-empty string, got {name!r}")
    base, *mods = name.strip().split("+")
    if ":" in base:  # "mymodule:MyPlacement" alone modifies "priority"
        base, mods = "priority", [base, *mods]
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
        if ":" in mod:
            _imported_fields(mod, name, fields)
            continue
        if mod not in MODIFIERS:
            known = ", ".join([*MODIFIERS, "no-estimates", "quota"])
            raise InvalidValue(f"strategy {name!r}: unknown modifier {mod!r} (known: {known})")
        for key, value in MODIFIERS[mod].items():  # keep an imported rule or ranking
            if key == "preemption" and key in fields and fields[key].rule is not None:
                value = attrs.evolve(value, rule=fields[key].rule)
            elif key == "fair_share" and key in fields and fields[key].ranking is not None:
                value = attrs.evolve(value, ranking=fields[key].ranking)
            fields[key] = value
    policy = Policy(**fields)
    return Strategy(
        name=name, policy=policy, use_priority=base == "priority", estimates=estimates, trace_quotas=quotas
    )
