"""An aging policy's phases, as the queue keys them (docs/queue.md#your-own-aging-policy).

The queue never computes a boost itself: it asks the policy (the
:class:`~prioq.queue.aging.AgingPolicy` protocol) for the phase that contains a
wait -- constant, or growing at the policy's single rate -- and for the wait at
which that phase ends. :class:`Phases` turns each answer into a :class:`Phase`
holding the integers the queue's exact keys need, checks the answer against the
protocol's contract, and links each phase to the following one, so that the
events of the common case (a job moves on to the next phase) cost no rational
arithmetic: O(1) after the first job that reached that phase.
"""

from __future__ import annotations

import math
from fractions import Fraction

from prioq._validate import boolean, integer, number, wrong_type
from prioq.errors import InvalidPolicy
from prioq.queue._exact import log2
from prioq.queue.aging import AgingPolicy

__all__ = ["Phase", "Phases", "phases_of"]


class Phase:
    """One phase of the boost, ``[start, until)`` in wait, as integers scaled by ``2**exponent``.

    ``offset`` is the constant boost times ``2**exponent``, or for a growing
    phase the offset of ``boost(wait) = offset + rate * wait``, times ``2**exponent``.
    """

    __slots__ = ("capped", "following", "grows", "offset", "until", "until_den", "until_num", "until_past")

    def __init__(self, *, grows: bool, offset: int, until: Fraction | None, capped: bool) -> None:
        self.grows = grows
        self.offset = offset
        self.until = until  # the wait at which the phase ends (None: never)
        self.until_num = until.numerator if until is not None else 0
        self.until_den = until.denominator if until is not None else 1
        # A float a little above `until`: a float wait beyond it is surely past the phase's end
        # (a float subtraction errs by 2**-53 relative), so a jump in time skips the exact check.
        self.until_past = _above(until) if until is not None else math.inf
        self.capped = capped  # constant at max_boost > 0, for ever (QueueLevels.capped)
        self.following: Phase | None = None  # the phase from `until` on, once asked

    def __repr__(self) -> str:
        kind = "growing" if self.grows else "constant"
        return f"Phase({kind}, offset={self.offset}, until={self.until})"


def _above(until: Fraction) -> float:
    try:
        return float(until) * (1 + 1e-12) + 1e-300
    except OverflowError:
        return math.inf


class Phases:
    """The phases of one policy, asked on demand and memoized along the chain ``following``.

    ``exponent``: the static keys' scale ``2**exponent`` (the policy's
    ``boost_exponent``). ``rate_num / rate_den``: ``growth_rate`` exactly (the
    denominator is a power of two, ``2**rate_exponent``). ``first`` is the phase at
    wait 0; ``waiting`` is where a job not yet submitted at ``now`` sits (boost
    ``boost(0)``, constant, ending at wait 0 if ``first`` grows).
    """

    __slots__ = (
        "exponent",
        "first",
        "max_boost",
        "policy",
        "rate",
        "rate_den",
        "rate_exponent",
        "rate_num",
        "waiting",
    )

    def __init__(self, policy: AgingPolicy) -> None:
        self.policy = policy
        name = type(policy).__name__
        error = InvalidPolicy
        self.exponent = integer(policy.boost_exponent, f"{name} boost_exponent", error=error, minimum=0)
        rate = number(policy.growth_rate, f"{name} growth_rate", error=InvalidPolicy, minimum=0)
        self.rate = Fraction(rate)
        self.rate_num, self.rate_den = rate.as_integer_ratio()
        self.rate_exponent = log2(self.rate_den)
        max_boost = number(policy.max_boost, f"{name} max_boost", error=error, minimum=0, infinite=True)
        self.max_boost = Fraction(max_boost) if max_boost < math.inf else None
        self.first = self.at(Fraction(0))
        if self.first.grows:
            boost = self._scaled(policy.exact_boost(Fraction(0)), None)
            self.waiting = Phase(grows=False, offset=boost, until=Fraction(0), capped=False)
            self.waiting.following = self.first
        else:
            self.waiting = self.first

    def after(self, phase: Phase) -> Phase:
        """The phase that starts where ``phase`` ends (``phase.until`` is not None). O(1) once known."""
        following = phase.following
        if following is None:
            assert phase.until is not None
            following = phase.following = self.at(phase.until)
        return following

    def at(self, wait: Fraction) -> Phase:
        """The phase containing the exact ``wait >= 0``, from the policy's answers (checked)."""
        policy = self.policy
        name = type(policy).__name__
        grows = boolean(policy.grows(wait), f"{name}.grows({wait})", error=InvalidPolicy)
        if grows and not self.rate:
            raise InvalidPolicy(f"{name}.grows({wait}) is True but growth_rate is 0")
        until = self._until(policy.next_change(wait), wait)
        boost = policy.exact_boost(wait)
        if not isinstance(boost, Fraction | int) or isinstance(boost, bool):
            raise wrong_type(InvalidPolicy, f"{name}.exact_boost({wait}): expected a Fraction, got {boost!r}")
        capped = (
            not grows and until is None and self.max_boost is not None and 0 < self.max_boost == boost
        )
        offset = self._scaled(boost, wait if grows else None)
        return Phase(grows=grows, offset=offset, until=until, capped=capped)

    def _scaled(self, boost: Fraction | int, wait: Fraction | None) -> int:
        """``(boost - rate * wait) * 2**exponent`` (``wait`` None: constant), which must be an int."""
        offset = Fraction(boost) - (self.rate * wait if wait is not None else 0)
        scaled = offset * (1 << self.exponent)
        if scaled.denominator != 1:
            raise InvalidPolicy(
                f"{type(self.policy).__name__}: boost {boost} at wait {wait} is not a multiple of "
                f"2**-{self.exponent} (boost_exponent)"
            )
        return scaled.numerator

    def _until(self, until: object, wait: Fraction) -> Fraction | None:
        if until is None:
            return None
        name = type(self.policy).__name__
        if isinstance(until, bool) or not isinstance(until, Fraction | int | float):
            raise wrong_type(InvalidPolicy, f"{name}.next_change({wait}): expected a Fraction, got {until!r}")
        if isinstance(until, float) and not math.isfinite(until):
            raise InvalidPolicy(f"{name}.next_change({wait}): expected a finite wait or None, got {until!r}")
        exact = Fraction(until)
        if not exact > wait:
            raise InvalidPolicy(f"{name}.next_change({wait}) must be > {wait}, got {until!r}")
        return exact


_CACHE: dict[AgingPolicy, Phases] = {}
_CACHE_SIZE = 64


def phases_of(policy: AgingPolicy) -> Phases:
    """The (shared, memoized) phases of ``policy``; queues of one scheduler share them. O(1) when known."""
    try:
        phases = _CACHE.get(policy)
    except TypeError:  # an unhashable user policy: not shared
        return Phases(policy)
    if phases is None:
        phases = Phases(policy)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[policy] = phases
    return phases
