"""User rankings (``FairShare(ranking=...)``) for tests/test_ranking.py and the toolkit tests.

* :class:`Tiers` -- a static preference among top-level owners, then the fewest GPUs held;
* :class:`FlatDominantShare` -- the built-in DominantShare rewritten as a user would, as a flat
  tuple of numbers: a user ranking that must decide exactly as the built-in does;
* :class:`HeldShare` / :class:`DecayedShare` -- the built-in's formula on what runs now / on
  decayed (not normalised) shares: ranks that fall at a stop / as time passes;
* :class:`Shifted` -- FlatDominantShare's numbers less 10: negative ranks, the built-in's order;
* :class:`Greedy` -- broken: a start lowers its owner's rank;
* :class:`Envious` -- broken: ranks an owner by what *another* owner holds, which the
  scheduler's caches do not follow (the contract: only the owner's own levels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from prioq.fairshare import RANK_DEPTH, UsageView, levels


class Tiers:
    """Among equal priorities: owners under "prod" first, then "research", then the rest;
    within a tier, the owner holding the fewest GPUs now."""

    TIERS: ClassVar[dict[str, int]] = {"prod": 0, "research": 1, "team-a": 1}

    def rank(self, owner: str | None, now: float, usage: UsageView) -> tuple[float, ...]:
        top = levels(owner)[0]
        return (self.TIERS.get(top, 2), usage.running(levels(owner)[-1])[0])


def flat_levels(owner: str | None, usage: UsageView, share: Callable[[str], float]) -> tuple[float, ...]:
    """What ``DominantShare`` computes, flattened, from ``share(path)``: per level (padded to
    RANK_DEPTH as it does) ``0, share / weight``, or ``1, share`` for weight 0."""
    out: list[float] = []
    paths = levels(owner)[:RANK_DEPTH]
    for path in paths + (paths[-1],) * (RANK_DEPTH - len(paths)):
        w, s = usage.weight(path), share(path)
        out += [0, s / w] if w > 0 else [1, s]
    return tuple(out)


class FlatDominantShare:
    """What ``DominantShare`` computes, flattened: per level (flag, weighted share)."""

    def rank(self, owner: str | None, now: float, usage: UsageView) -> tuple[float, ...]:
        return flat_levels(owner, usage, lambda path: usage.normalised(path, now))


class Shifted:
    """FlatDominantShare with every number less 10: negative ranks in the built-in's order
    (a shrunk bound of a negative key lies above it, so keys must be kept as they are)."""

    def rank(self, owner: str | None, now: float, usage: UsageView) -> tuple[float, ...]:
        return tuple(x - 10 for x in FlatDominantShare().rank(owner, now, usage))


class Envious:
    """Broken: ranks owners by what team-b holds (team-a after the others the more it holds),
    a dependency on another owner's account that the contract rules out."""

    def rank(self, owner: str | None, now: float, usage: UsageView) -> tuple[float, ...]:
        held = usage.running("team-b")[0]
        return (0 if owner == "team-b" else held if owner == "team-a" else -held,)


class HeldShare:
    """The built-in ranking under ``basis="allocation"`` (weighted dominant share of what runs
    now, level by level), computed from ``usage.running`` whatever the fair share's basis:
    under ``basis="usage"`` it must decide as the built-in does under ``"allocation"``."""

    def rank(self, owner: str | None, now: float, usage: UsageView) -> tuple[float, ...]:
        cap = usage.capacity()

        def held(path: str) -> float:
            return max((h / c for h, c in zip(usage.running(path), cap, strict=True) if c > 0), default=0.0)

        return flat_levels(owner, usage, held)


class DecayedShare:
    """The built-in ranking from ``usage.share`` (the decayed share at ``now``, which falls
    as an idle owner's usage decays) instead of the normalised one: the same order at each
    ``now``, but no rank computed once bounds a later one."""

    def rank(self, owner: str | None, now: float, usage: UsageView) -> tuple[float, ...]:
        return flat_levels(owner, usage, lambda path: usage.share(path, now))


class Greedy:
    """Broken: the owner holding the most GPUs goes first ("rich get richer"), so a start
    lowers its owner's rank, which the contract rules out (the cycle's lazy order)."""

    def rank(self, owner: str | None, now: float, usage: UsageView) -> tuple[float, ...]:
        return (-usage.running(levels(owner)[-1])[0],)
