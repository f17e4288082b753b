"""Aging policies: how much a waiting job's priority grows with its wait (docs/queue.md#aging).

A policy maps ``wait`` (seconds since ``submitted_at``, never negative) to a
``boost`` that is non-decreasing in ``wait`` and bounded by ``max_boost``; the
queue orders jobs by ``priority + boost(wait)``.

* :class:`AgingPolicy` — the protocol the queue asks: the exact boost and the
  rules of its events (when the boost next changes, and whether it is constant
  or grows at the policy's single rate until then). Any object implementing it
  is a policy (docs/queue.md#your-own-aging-policy).
* :class:`NoAging` — no boost: the order is base priority, then arrival.
* :class:`LinearAging` — ``min(rate * wait, max_boost)``, Slurm's age factor
  (``PriorityMaxAge`` is ``max_boost / rate``).
* :class:`StepAging` — ``min(floor(wait / interval) * step, max_boost)``, "raise
  the priority by ``step`` every ``interval`` seconds".

Arithmetic is exact: parameters and times are binary floats, and a boost is
the exact rational value of the formula over those floats (as
:class:`fractions.Fraction` would compute it), never a result of rounded
intermediate steps. :meth:`exact_boost` returns that value; :meth:`boost` returns
it correctly rounded to a float. See ``docs/queue.md`` for why ties need this.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Protocol, runtime_checkable

import attrs

from prioq._validate import number
from prioq.errors import InvalidPolicy, InvalidTime

__all__ = [
    "AgingPolicy",
    "LinearAging",
    "NoAging",
    "StepAging",
    "dyadic_exponent",
    "exact_effective_priority",
]


@runtime_checkable
class AgingPolicy(Protocol):
    """What :class:`~prioq.PriorityQueue` asks an aging policy (docs/queue.md#your-own-aging-policy).

    The boost is a function of the exact wait, made of *phases*: half-open
    intervals of wait ``[start, next_change(start))`` on which it is either
    constant or grows at :attr:`growth_rate` (the one rate of every growing
    phase). The queue keys a job by its phase and re-keys it when its wait
    reaches ``next_change``, so every operation stays O(log n).

    Contract: ``exact_boost`` is exact (a :class:`~fractions.Fraction`), ``>= 0``,
    non-decreasing and ``<= max_boost``; each constant boost, and each growing
    phase's ``exact_boost(w) - growth_rate * w``, is a multiple of
    ``2**-boost_exponent`` (:func:`dyadic_exponent` computes it from the
    parameters); ``next_change(w) > w``. The queue checks what it can and
    raises :class:`~prioq.errors.InvalidPolicy` where a policy breaks it.
    """

    @property
    def max_boost(self) -> float:
        """The largest boost (``math.inf`` if unbounded)."""
        ...

    @property
    def growth_rate(self) -> float:
        """Priority points per second of every growing phase (0.0 if the boost never grows)."""
        ...

    @property
    def boost_exponent(self) -> int:
        """An int ``a >= 0``: every constant boost and growing offset is a multiple of ``2**-a``."""
        ...

    def exact_boost(self, wait: float | Fraction) -> Fraction:
        """The exact boost after waiting ``wait >= 0`` seconds (finite): the one formula."""
        ...

    def boost(self, wait: float) -> float:
        """``exact_boost(wait)`` correctly rounded to a float, for display."""
        ...

    def grows(self, wait: Fraction) -> bool:
        """Whether, from ``wait`` until :meth:`next_change`, the boost grows at :attr:`growth_rate`."""
        ...

    def next_change(self, wait: Fraction) -> Fraction | None:
        """The smallest wait ``> wait`` where the phase containing ``wait`` ends; ``None``: it never does."""
        ...


def dyadic_exponent(*values: float | Fraction) -> int:
    """The smallest ``a >= 0`` with every finite value a multiple of ``2**-a`` (for
    :attr:`AgingPolicy.boost_exponent`). Infinities are skipped; :class:`InvalidPolicy`
    if a value is not a dyadic rational (a denominator that is not a power of two)."""
    exponent = 0
    for value in values:
        if isinstance(value, float) and not math.isfinite(value):
            if math.isnan(value):
                raise InvalidPolicy(f"aging: {value!r} is not a number")
            continue
        den = Fraction(value).denominator
        if den & (den - 1):
            raise InvalidPolicy(f"aging: {value!r} is not a multiple of a power of two")
        exponent = max(exponent, den.bit_length() - 1)
    return exponent


def exact_effective_priority(
    aging: AgingPolicy, priority: int, submitted_at: float, now: float
) -> Fraction:
    """``priority + boost(max(0, now - submitted_at))`` over the exact values of the floats.

    The one definition of the effective priority (docs/architecture.md#the-scheduling-order);
    the wait is exact, as a float subtraction could round two equal keys apart.
    """
    wait = Fraction(now) - Fraction(submitted_at)
    return priority + aging.exact_boost(wait if wait > 0 else Fraction(0))


def _param(owner: str, name: str, value: object, *, positive: bool = False, inf: bool = False) -> float:
    what = f"{owner} {name}"
    if positive:
        return number(value, what, error=InvalidPolicy, above=0, infinite=inf)
    return number(value, what, error=InvalidPolicy, minimum=0, infinite=inf)


def _check_wait(wait: object) -> Fraction | None:
    """Validate a wait (a number >= 0, or +inf) and return it exactly; ``None`` stands for +inf."""
    if type(wait) is Fraction:
        if wait < 0:
            raise InvalidTime(f"wait must be >= 0, got {wait!r}")
        return wait
    as_float = number(wait, "wait", error=InvalidTime, infinite=True, minimum=0)
    if as_float == math.inf:
        return None
    assert isinstance(wait, int | float)  # number() checked it
    return Fraction(wait)


def _finite_wait(wait: object) -> Fraction:
    w = _check_wait(wait)
    if w is None:
        raise InvalidTime(f"wait must be finite here, got {wait!r}")
    return w


def _float_at_least(x: Fraction) -> float:
    """The smallest float >= x (``math.inf`` beyond the float range)."""
    try:
        f = float(x)
    except OverflowError:
        return math.inf
    if Fraction(f) < x:
        f = math.nextafter(f, math.inf)
    return f


def _boost_target(boost: object) -> Fraction:
    number(boost, "boost")  # a finite real number, else InvalidValue (or its ...Type variant)
    assert isinstance(boost, int | float)
    return Fraction(boost)


@attrs.frozen(slots=True)
class NoAging:
    """No aging: ``boost(wait) == 0`` for every wait."""

    @property
    def max_boost(self) -> float:
        """The largest boost: 0."""
        return 0.0

    @property
    def growth_rate(self) -> float:
        """0.0: the boost never grows."""
        return 0.0

    @property
    def boost_exponent(self) -> int:
        """0: the only boost, 0, is an integer."""
        return 0

    def boost(self, wait: float) -> float:
        """Always 0.0 (``wait`` is still validated: a number >= 0). O(1)."""
        _check_wait(wait)
        return 0.0

    def exact_boost(self, wait: float | Fraction) -> Fraction:
        """Always ``Fraction(0)`` (``wait`` must be finite). O(1)."""
        _finite_wait(wait)
        return Fraction(0)

    def grows(self, wait: Fraction) -> bool:
        """Never."""
        return False

    def next_change(self, wait: Fraction) -> Fraction | None:
        """Never: ``None``."""
        return None

    def wait_for(self, boost: float) -> float:
        """Smallest wait whose boost is at least ``boost``: 0.0 if ``boost <= 0``, else ``math.inf``."""
        return 0.0 if _boost_target(boost) <= 0 else math.inf


@attrs.frozen(slots=True)
class LinearAging:
    """``boost(wait) = min(rate * wait, max_boost)`` — Slurm's age factor.

    ``rate`` is priority points per second (>= 0); ``max_boost`` >= 0 caps the
    boost, reached after ``max_boost / rate`` seconds (Slurm's ``PriorityMaxAge``).
    ``max_boost=math.inf`` is uncapped aging. ``rate == 0`` or ``max_boost == 0``
    behave like :class:`NoAging`.

    Phases: growing at ``rate`` on ``[0, max_boost / rate)``, then constant at ``max_boost``.
    """

    rate: float
    max_boost: float

    def __attrs_post_init__(self) -> None:
        _param("LinearAging", "rate", self.rate)
        _param("LinearAging", "max_boost", self.max_boost, inf=True)

    @property
    def growth_rate(self) -> float:
        """``rate``, or 0.0 when the boost is always 0 (``max_boost == 0``)."""
        return float(self.rate) if self.max_boost > 0 else 0.0

    @property
    def boost_exponent(self) -> int:
        """The exponent of ``max_boost``'s denominator (the constant boosts are 0 and ``max_boost``)."""
        return dyadic_exponent(self.max_boost)

    @property
    def saturation_wait(self) -> float:
        """Smallest wait at which the boost reaches ``max_boost`` (``math.inf`` if it never does)."""
        if math.isinf(self.max_boost) or self.rate == 0:
            return 0.0 if self.max_boost == 0 else math.inf
        return _float_at_least(Fraction(self.max_boost) / Fraction(self.rate))

    def boost(self, wait: float) -> float:
        """``min(rate * wait, max_boost)``, correctly rounded (``wait=math.inf`` gives the cap). O(1)."""
        w = _check_wait(wait)
        if w is None:
            return float(self.max_boost) if self.rate > 0 else 0.0
        if type(wait) is float and type(self.rate) is float and type(self.max_boost) is float:
            # One rounding (the product) then an exact min: equals float(exact_boost(wait)).
            return min(self.rate * wait, self.max_boost)
        return float(self.exact_boost(w))

    def exact_boost(self, wait: float | Fraction) -> Fraction:
        """The exact rational boost ``min(rate * wait, max_boost)`` (``wait`` finite). O(1)."""
        w = _finite_wait(wait)
        b = Fraction(self.rate) * w
        if math.isinf(self.max_boost):
            return b
        return min(b, Fraction(self.max_boost))

    def grows(self, wait: Fraction) -> bool:
        """While ``rate * wait < max_boost`` (and the boost can grow at all)."""
        if self.rate == 0 or self.max_boost == 0:
            return False
        return math.isinf(self.max_boost) or self.exact_boost(wait) < Fraction(self.max_boost)

    def next_change(self, wait: Fraction) -> Fraction | None:
        """``max_boost / rate`` (saturation) while growing and capped; else ``None``."""
        if math.isinf(self.max_boost) or not self.grows(wait):
            return None
        return Fraction(self.max_boost) / Fraction(self.rate)

    def wait_for(self, boost: float) -> float:
        """Smallest float wait with ``exact_boost(wait) >= boost``; ``math.inf`` if never reached."""
        target = _boost_target(boost)
        if target <= 0:
            return 0.0
        capped = not math.isinf(self.max_boost) and target > Fraction(self.max_boost)
        if capped or self.rate == 0:
            return math.inf
        return _float_at_least(target / Fraction(self.rate))


@attrs.frozen(slots=True)
class StepAging:
    """``boost(wait) = min(floor(wait / interval) * step, max_boost)``.

    Raise the priority by ``step`` every ``interval`` seconds of waiting, up to
    ``max_boost`` (the policy Kueue users ask for). ``interval`` > 0; ``step``
    and ``max_boost`` >= 0 and finite (each job changes level at most
    ``ceil(max_boost / step)`` times, which bounds the queue's aging work).

    Phases: constant on each ``[k * interval, (k + 1) * interval)`` up to level ``levels``.
    """

    interval: float
    step: float
    max_boost: float

    def __attrs_post_init__(self) -> None:
        _param("StepAging", "interval", self.interval, positive=True)
        _param("StepAging", "step", self.step)
        _param("StepAging", "max_boost", self.max_boost)

    @property
    def growth_rate(self) -> float:
        """0.0: the boost is constant between steps."""
        return 0.0

    @property
    def boost_exponent(self) -> int:
        """Covers every level's boost: the exponents of ``step``'s and ``max_boost``'s denominators."""
        return dyadic_exponent(self.step, self.max_boost)

    @property
    def levels(self) -> int:
        """Number of steps until the cap: ``ceil(max_boost / step)`` (0 if the boost is always 0)."""
        if self.step == 0 or self.max_boost == 0:
            return 0
        return math.ceil(Fraction(self.max_boost) / Fraction(self.step))

    def level(self, wait: float | Fraction) -> int:
        """``min(floor(wait / interval), levels)``, exactly (``wait=math.inf`` gives ``levels``). O(1)."""
        w = _check_wait(wait)
        if w is None:
            return self.levels
        return min(math.floor(w / Fraction(self.interval)), self.levels)

    def boost(self, wait: float) -> float:
        """``min(floor(wait / interval) * step, max_boost)``, correctly rounded. O(1)."""
        return float(min(self.level(wait) * Fraction(self.step), Fraction(self.max_boost)))

    def exact_boost(self, wait: float | Fraction) -> Fraction:
        """The exact rational boost (``wait`` finite). O(1)."""
        return min(self.level(_finite_wait(wait)) * Fraction(self.step), Fraction(self.max_boost))

    def grows(self, wait: Fraction) -> bool:
        """Never: the boost is constant within a level."""
        return False

    def next_change(self, wait: Fraction) -> Fraction | None:
        """The next step boundary ``(level + 1) * interval``; ``None`` once at the top level."""
        level = self.level(wait)
        if level >= self.levels:
            return None
        return (level + 1) * Fraction(self.interval)

    def wait_for(self, boost: float) -> float:
        """Smallest float wait with ``exact_boost(wait) >= boost``; ``math.inf`` if never reached."""
        target = _boost_target(boost)
        if target <= 0:
            return 0.0
        if target > Fraction(self.max_boost) or self.step == 0:
            return math.inf
        steps = math.ceil(target / Fraction(self.step))
        return _float_at_least(steps * Fraction(self.interval))
