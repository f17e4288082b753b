"""Ordering among equal effective priorities: the :class:`OwnerRanking` protocol, the
:class:`UsageView` it reads, and the built-in :class:`DominantShare` (docs/fairness.md,
docs/testing.md#ordering-among-equals).

With ``Policy(fair_share=FairShare(...))`` in ``mode="order"`` the scheduling order is
(effective priority, **the owner's rank**, ``submitted_at``, arrival, id). The rank is
what an :class:`OwnerRanking` returns for the job's owner at ``now``; the built-in ranks
by weighted dominant share, level by level (DRF). The scheduler keeps jobs indexed by
owner and ranks owners, never jobs, so a ranking costs O(1) calls per owner a cycle
visits, not per job (docs/fairness.md#cost).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from prioq.errors import InvalidPolicy
from prioq.fairshare._owners import levels

if TYPE_CHECKING:
    from prioq.fairshare._ledger import Rank

__all__ = ["RANK_DEPTH", "DominantShare", "OwnerRanking", "UsageView", "user_rank"]

RANK_DEPTH = 4
"""Owner levels the built-in ranking compares (deeper levels are accounted but do not order)."""


@runtime_checkable
class UsageView(Protocol):
    """What a ranking may read of the owners' accounts (a :class:`~prioq.fairshare.Ledger`).

    Paths are owner levels (``"org"``, ``"org/team"``; ``""`` for jobs without an owner);
    resources are ``(gpu, cpu, memory)`` in milli-GPUs, milli-CPUs and bytes."""

    def usage(self, path: str, now: float) -> tuple[float, float, float]:
        """Decayed resource-seconds at ``now`` (``FairShare.half_life``)."""
        ...

    def running(self, path: str) -> tuple[int, int, int]:
        """What the path's running jobs hold now."""
        ...

    def capacity(self) -> tuple[int, int, int]:
        """The cluster's total of each resource."""
        ...

    def weight(self, path: str) -> float:
        """``Policy.weights`` of the path (1 when not listed)."""
        ...

    def share(self, path: str, now: float) -> float:
        """The dominant share, unweighted (``FairShare.basis``: of decayed usage or of what
        runs now)."""
        ...

    def normalised(self, path: str, now: float) -> float:
        """:meth:`share` times one factor common to every path at ``now``: the same order,
        and constant in ``now`` for a path with nothing running (docs/fairness.md#the-share)."""
        ...


@runtime_checkable
class OwnerRanking(Protocol):
    """Orders owners among jobs of equal effective priority: lower rank first, then FIFO.
    Set as ``FairShare(ranking=...)``; :class:`DominantShare` is what no ranking means.

    Contract (the scheduler's owner index and caches rely on it; docs/testing.md):

    * ``rank`` returns a tuple of real numbers (ints or floats, no NaN), compared
      lexicographically as floats; the same for the same inputs (no randomness);
    * it depends only on ``owner``, ``now``, and what ``usage`` shows of ``owner``'s own
      levels (``levels("org/team") == ("org", "org/team")``), the capacity and the weights:
      the scheduler re-ranks an owner when one of those changes, not when another owner's
      account does;
    * at one ``now``, a start of one of an owner's jobs never lowers the rank of an owner
      under the same top level (what an owner holds counts against it, never for it);
      within a cycle the scheduler re-ranks such owners lazily, as it does its own.
    """

    def rank(self, owner: str | None, now: float, usage: UsageView) -> tuple[float, ...]:
        """``owner``'s place among owners at ``now``: lower goes first."""
        ...


@attrs.frozen(slots=True)
class DominantShare:
    """The built-in ranking: the owner's weighted dominant share, level by level from the top
    (DRF; docs/fairness.md#the-share). Per level ``0, share / weight``, or ``1, share`` for
    weight 0 (only idle capacity: after every positive weight); always :data:`RANK_DEPTH`
    levels, an owner with fewer repeating its last one. Shares are normalised
    (:meth:`~prioq.fairshare.Ledger.normalised`): compare only ranks taken at one ``now``.
    O(depth)."""

    def rank(self, owner: str | None, now: float, usage: UsageView) -> Rank:
        """``(flag, share, flag, share, ...)`` level by level: a tuple of numbers, as the
        scheduler's keys hold it and as a ranking of yours may build on it. O(depth)."""
        normalised = usage.normalised
        parts: list[float] = []
        for path in levels(owner)[:RANK_DEPTH]:
            w = usage.weight(path)
            s = normalised(path, now)
            parts += (0.0, s / w) if w > 0 else (1.0, s)
        # an owner with fewer levels is its own only child at the levels it lacks, so
        # "other" ties with "org/team" when "other" and "org" tie and "org/team" has
        # org's share: the order is then FIFO, not "shallower owners first"
        parts += parts[-2:] * (RANK_DEPTH - len(parts) // 2)
        return tuple(parts)


def user_rank(ranking: OwnerRanking, owner: str | None, now: float, usage: UsageView) -> Rank:
    """A user ranking's answer as the keys hold ranks, a tuple of floats (``()`` stays ``()``,
    which the floors of the owners' index and of parked groups, ``()`` too, still bound);
    :class:`~prioq.errors.InvalidPolicy` if it is not a tuple of real numbers. O(len)."""
    got = ranking.rank(owner, now, usage)
    if not isinstance(got, tuple):
        what = f"ranking {ranking!r} ranked owner {owner!r} as {got!r}"
        raise InvalidPolicy(f"{what}: expected a tuple of numbers")
    out = []
    for x in got:
        try:
            ok = not isinstance(x, bool) and isinstance(x, int | float) and not math.isnan(float(x))
        except OverflowError:  # an int beyond a float's range
            ok = False
        if not ok:
            raise InvalidPolicy(f"ranking {ranking!r} ranked owner {owner!r} as {got!r}: {x!r} is not "
                                f"a number a float can hold")
        out.append(float(x))
    return tuple(out)
