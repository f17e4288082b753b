"""The effective priority in the scheduling order key as an exact integer, for
``LinearAging`` (the common case): no ``Fraction`` arithmetic on a cycle's hot path.

Every finite float is a multiple of ``2**-1074``, and a float ``rate`` is ``num / 2**k``;
so ``(priority + min(rate * wait, max_boost)) * 2**(1074 + k)`` is an integer, equal to
the exact effective priority (:func:`prioq.queue.exact_effective_priority`) times one
constant power of two. Keys built this way have the same order and the same ties as
the exact values (docs/queue.md#exact-comparisons); one is about 15x cheaper to build
and 10x cheaper to compare than the ``Fraction``.
"""

from __future__ import annotations

import math
from fractions import Fraction

from prioq.queue import AgingPolicy, exact_effective_priority
from prioq.queue.aging import LinearAging

__all__ = ["LinearKeys"]

_TIME_BITS = 1074


class LinearKeys:
    """Effective priorities under one ``LinearAging`` times ``2**shift``, as ints."""

    __slots__ = ("_at", "_now", "aging", "cap", "rate", "shift")

    def __init__(self, aging: LinearAging, rate: int, shift: int, cap: int | None) -> None:
        self.aging = aging
        self.rate = rate  # the policy's rate times 2**(shift - 1074)
        self.shift = shift
        self.cap = cap  # max_boost times 2**shift; None: uncapped
        self._at = math.nan  # the last now seen, and it times 2**1074 (one cycle, one now)
        self._now: int | None = None

    @staticmethod
    def of(aging: AgingPolicy) -> LinearKeys | None:
        """For a ``LinearAging`` (exactly that type) with dyadic parameters (every float
        is one); ``None`` for any other policy. O(1)."""
        if type(aging) is not LinearAging:
            return None
        rate = Fraction(aging.rate)
        if rate.denominator & (rate.denominator - 1):
            return None
        shift = _TIME_BITS + rate.denominator.bit_length() - 1
        cap = None
        if math.isfinite(aging.max_boost):
            scaled = Fraction(aging.max_boost) * 2**shift
            if scaled.denominator != 1:
                return None
            cap = scaled.numerator
        return LinearKeys(aging, rate.numerator, shift, cap)

    def effective(self, priority: int, submitted_at: float, now: float) -> int | Fraction:
        """``exact_effective_priority(aging, priority, submitted_at, now) * 2**shift``. O(1)."""
        if self._at != now:
            self._at, self._now = now, _time(now)
        scaled_now = self._now
        if scaled_now is not None:
            if submitted_at >= now:  # wait = max(0, now - submitted_at): no boost yet
                return priority << self.shift
            scaled_sub = _time(submitted_at)
            if scaled_sub is not None:
                boost = self.rate * (scaled_now - scaled_sub)
                if self.cap is not None and boost > self.cap:
                    boost = self.cap
                return (priority << self.shift) + boost
        return self.scaled(exact_effective_priority(self.aging, priority, submitted_at, now))

    def scaled(self, value: int | Fraction) -> int | Fraction:
        """An effective-priority value (a priority, a priority plus a boost) in these units."""
        out = Fraction(value) * 2**self.shift
        return int(out) if out.denominator == 1 else out


def _time(t: float) -> int | None:
    """``t * 2**1074`` as an int; ``None`` if ``t`` is not a multiple of ``2**-1074``."""
    num, den = t.as_integer_ratio()
    if den & (den - 1):
        return None
    bits = den.bit_length() - 1
    return None if bits > _TIME_BITS else num << (_TIME_BITS - bits)
