"""Exact arithmetic on floats as dyadic rationals: the helpers behind the queue's integer keys.

Every finite float is ``num / 2**shift`` for integers ``num`` and ``shift``; the
queue keys jobs by integers built from those, so equal effective priorities
compare equal (docs/queue.md#exact-comparisons). Each helper is O(1) on
numbers of a few hundred bits.
"""

from __future__ import annotations

import math

__all__ = ["ceil_float", "dyadic", "log2", "to_float"]

_TWO_53 = 9007199254740992.0


def log2(power_of_two: int) -> int:
    """``k`` for ``2**k``."""
    return power_of_two.bit_length() - 1


def dyadic(x: float) -> tuple[int, int]:
    """``(num, shift)`` with ``x == num / 2**shift`` exactly and ``shift >= 0`` (not reduced).

    Several times faster than ``float.as_integer_ratio``, which matters on every push.
    """
    m, e = math.frexp(x)
    num = int(m * _TWO_53)  # m * 2**53 is an integer: m has at most 53 bits
    shift = 53 - e
    if shift < 0:
        return num << -shift, 0
    return num, shift


def ceil_float(num: int, den: int) -> float:
    """The smallest float >= num/den (den > 0); ``math.inf`` beyond the float range."""
    try:
        f = num / den  # int true division is correctly rounded
    except OverflowError:
        return math.inf if num > 0 else -math.inf
    fn, shift = dyadic(f)
    if fn * den < num << shift:
        f = math.nextafter(f, math.inf)
    return f


def to_float(num: int, den: int) -> float:
    """``num / den`` correctly rounded, ``±math.inf`` beyond the float range (den > 0)."""
    try:
        return num / den
    except OverflowError:
        return math.inf if num > 0 else -math.inf
