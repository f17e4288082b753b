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
from prioq.fairshare._ranking import DominantShare, OwnerRanking

__all__ = ["DEFAULT_HALF_LIFE", "FairShare", "Weights"]

DEFAULT_HALF_LIFE = 7 * 24 * 3600.0
"""Slurm's ``PriorityDecayHalfLife`` default: 7 days, in seconds."""

Mode = Literal["order", "term"]
Basis = Literal["usage", "allocation"]


def _ranking(value: OwnerRanking | None) -> OwnerRanking | None:
    """The built-in ranking given explicitly is no ranking (one policy, one fingerprint)."""
    return None if type(value) is DominantShare else value


@attrs.frozen(slots=True, kw_only=True, repr=False)
class FairShare:
    """How owners share the cluster (docs/fairness.md).

    * ``mode="order"``: among jobs of equal effective priority, the owner with the lowest
      weighted dominant share goes first (instead of FIFO);
      ``mode="term"``: ``term_weight * 2**(-share)`` (Slurm's multifactor fair-share factor,
      in ``[0, term_weight]``) is added to the effective priority.
    * ``basis="usage"``: shares of exponentially decayed resource-seconds (Slurm), with
      ``half_life`` seconds; ``basis="allocation"``: shares of what runs now (Kueue).
    * ``ranking``: your own :class:`~prioq.fairshare.OwnerRanking` of owners among equal
      effective priorities (``mode="order"`` only); ``None``: the built-in
      :class:`~prioq.fairshare.DominantShare` (docs/testing.md#ordering-among-equals).
    """

    mode: Mode = "order"
    basis: Basis = "usage"
    half_life: float = DEFAULT_HALF_LIFE
    term_weight: float = 10.0
    ranking: OwnerRanking | None = attrs.field(default=None, converter=_ranking)

    def __attrs_post_init__(self) -> None:
        choice(self.mode, ("order", "term"), "fair_share mode", error=InvalidPolicy)
        choice(self.basis, ("usage", "allocation"), "fair_share basis", error=InvalidPolicy)
        number(self.half_life, "fair_share half_life", error=InvalidPolicy, above=0)
        # the term is added to exact priorities: a finite, non-negative float
        number(self.term_weight, "fair_share term_weight", error=InvalidPolicy, minimum=0, maximum=2.0**53)
        if self.ranking is not None:
            if isinstance(self.ranking, type) or not isinstance(self.ranking, OwnerRanking):
                raise wrong_type(
                    InvalidPolicy, f"fair_share ranking: {self.ranking!r} does not implement OwnerRanking"
                )
            if self.mode != "order":
                # term mode walks owners by their own term, which a ranking does not give
                raise InvalidPolicy("fair_share ranking: applies to mode='order' only, not 'term'")

    def __repr__(self) -> str:
        # ``ranking`` only when set: the repr is the policy's stored fingerprint, which stores
        # written before the field existed must still match
        shown = (f for f in attrs.fields(FairShare) if f.name != "ranking" or self.ranking is not None)
        return f"FairShare({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in shown)})"

    @property
    def order(self) -> OwnerRanking:
        """The ranking in force: ``ranking``, or the built-in :class:`DominantShare`."""
        return DominantShare() if self.ranking is None else self.ranking

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
