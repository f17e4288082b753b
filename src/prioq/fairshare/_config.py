"""The fair-share knobs of a :class:`~prioq.Policy`: :class:`FairShare` and owner :class:`Weights`.

Both are validated values (:class:`~prioq.errors.InvalidPolicy`, its ``...Type`` variant for a
wrong type); see docs/fairness.md for what each field means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

import attrs

from prioq._frozen import FrozenMap
from prioq._validate import choice, identifier, number, wrong_type
from prioq.errors import InvalidPolicy

__all__ = ["DEFAULT_HALF_LIFE", "FairShare", "Weights", "levels"]

DEFAULT_HALF_LIFE = 7 * 24 * 3600.0
"""Slurm's ``PriorityDecayHalfLife`` default: 7 days, in seconds."""

Mode = Literal["order", "term"]
Basis = Literal["usage", "allocation"]


@attrs.frozen(slots=True, kw_only=True)
class FairShare:
    """How owners share the cluster (docs/fairness.md).

    * ``mode="order"``: among jobs of equal effective priority, the owner with the lowest
      weighted dominant share goes first (instead of FIFO);
      ``mode="term"``: ``term_weight * 2**(-share)`` (Slurm's multifactor fair-share factor,
      in ``[0, term_weight]``) is added to the effective priority.
    * ``basis="usage"``: shares of exponentially decayed resource-seconds (Slurm), with
      ``half_life`` seconds; ``basis="allocation"``: shares of what runs now (Kueue).
    """

    mode: Mode = "order"
    basis: Basis = "usage"
    half_life: float = DEFAULT_HALF_LIFE
    term_weight: float = 10.0

    def __attrs_post_init__(self) -> None:
        choice(self.mode, ("order", "term"), "fair_share mode", error=InvalidPolicy)
        choice(self.basis, ("usage", "allocation"), "fair_share basis", error=InvalidPolicy)
        number(self.half_life, "fair_share half_life", error=InvalidPolicy, above=0)
        # the term is added to exact priorities: a finite, non-negative float
        number(self.term_weight, "fair_share term_weight", error=InvalidPolicy, minimum=0, maximum=2.0**53)

    @property
    def mean_life(self) -> float:
        """``half_life / ln 2``: the decayed usage of one unit held forever (seconds)."""
        return self.half_life / math.log(2)


class Weights(FrozenMap[float]):
    """Owner -> weight (a number >= 0), immutable and hashable; an owner not listed weighs 1.

    Keys are owner paths as in ``Job.owner`` (``"org"``, ``"org/team"``); the default owner
    of jobs without one weighs 1. Weight 0 means "only idle capacity": such an owner sorts
    after every owner with a positive weight at equal priority.
    """

    __slots__ = ()

    def __init__(self, items: Mapping[str, float] = MappingProxyType({})) -> None:
        if isinstance(items, Weights):
            self._items: dict[str, float] = dict(items._items)
            return
        if not isinstance(items, Mapping):
            message = f"policy weights: expected a mapping owner -> weight, got {items!r}"
            raise wrong_type(InvalidPolicy, message)
        data: dict[str, float] = {}
        for owner, weight in items.items():
            name = identifier(owner, "policy weights owner", error=InvalidPolicy)
            data[name] = number(weight, f"policy weight of {name!r}", error=InvalidPolicy, minimum=0)
        self._items = dict(sorted(data.items()))

    def of(self, owner: str) -> float:
        """The weight of an owner path (1 when not listed). O(1)."""
        return self._items.get(owner, 1.0)

    def __repr__(self) -> str:
        return f"Weights({self._items!r})"


def levels(owner: str | None) -> tuple[str, ...]:
    """The owner paths a job's usage counts toward, top level first: ``"org/team"`` ->
    ``("org", "org/team")``; no owner -> ``("",)`` (the default owner). O(depth)."""
    if owner is None:
        return ("",)
    if "/" not in owner:
        return (owner,)
    parts = owner.split("/")
    return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))
