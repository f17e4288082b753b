"""Aging policies: how much a waiting job's priority grows with its wait (docs/queue.md#aging).

A policy maps ``wait`` (seconds since ``submitted_at``, never negative) to a
``boost`` that is non-decreasing in ``wait`` and bounded by ``max_boost``; the
queue orders jobs by ``priority + boost(wait)``.

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
from typing import TypeAlias

import attrs

from prioq.errors import InvalidJob, InvalidTime

__all__ = ["AgingPolicy", "LinearAging", "NoAging", "StepAging"]


def _check_param(owner: str, name: str, value: object, *, positive: bool = False, inf: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJob(f"{owner}: {name} must be a number, got {value!r}")
    if math.isnan(value) or (math.isinf(value) and not (inf and value > 0)):
        allowed = "a finite number or math.inf" if inf else "a finite number"
        raise InvalidJob(f"{owner}: {name} must be {allowed}, got {value!r}")
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise InvalidJob(f"{owner}: {name} must be {bound}, got {value!r}")


def _check_wait(wait: object) -> Fraction | None:
    """Validate a wait (a number >= 0, or +inf) and return it exactly; ``None`` stands for +inf."""
    if isinstance(wait, bool) or not isinstance(wait, int | float | Fraction):
        raise InvalidTime(f"wait must be a number, got {wait!r}")
    if isinstance(wait, float) and math.isnan(wait):
        raise InvalidTime(f"wait must not be NaN, got {wait!r}")
    if wait < 0:
        raise InvalidTime(f"wait must be >= 0, got {wait!r}")
    if isinstance(wait, float) and math.isinf(wait):
        return None
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


@attrs.frozen(slots=True)
class NoAging:
    """No aging: ``boost(wait) == 0`` for every wait."""

    @property
    def max_boost(self) -> float:
        """The largest boost: 0."""
        return 0.0

    def boost(self, wait: float) -> float:
        """Always 0.0 (``wait`` is still validated: a number >= 0). O(1)."""
        _check_wait(wait)
        return 0.0

    def exact_boost(self, wait: float | Fraction) -> Fraction:
        """Always ``Fraction(0)`` (``wait`` must be finite). O(1)."""
        _finite_wait(wait)
        return Fraction(0)

    def wait_for(self, boost: float) -> float:
        """Smallest wait whose boost is at least ``boost``: 0.0 if ``boost <= 0``, else ``math.inf``."""
        return 0.0 if _boost_target(boost) <= 0 else math.inf


def _boost_target(boost: object) -> Fraction:
    if isinstance(boost, bool) or not isinstance(boost, int | float) or not math.isfinite(boost):
        raise InvalidJob(f"boost must be a finite number, got {boost!r}")
    return Fraction(boost)


@attrs.frozen(slots=True)
class LinearAging:
    """``boost(wait) = min(rate * wait, max_boost)`` — Slurm's age factor.

    ``rate`` is priority points per second (>= 0); ``max_boost`` >= 0 caps the
    boost, reached after ``max_boost / rate`` seconds (Slurm's ``PriorityMaxAge``).
    ``max_boost=math.inf`` is uncapped aging. ``rate == 0`` or ``max_boost == 0``
    behave like :class:`NoAging`.
    """

    rate: float
    max_boost: float

    def __attrs_post_init__(self) -> None:
        _check_param("LinearAging", "rate", self.rate)
        _check_param("LinearAging", "max_boost", self.max_boost, inf=True)

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
    """

    interval: float
    step: float
    max_boost: float

    def __attrs_post_init__(self) -> None:
        _check_param("StepAging", "interval", self.interval, positive=True)
        _check_param("StepAging", "step", self.step)
        _check_param("StepAging", "max_boost", self.max_boost)

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

    def wait_for(self, boost: float) -> float:
        """Smallest float wait with ``exact_boost(wait) >= boost``; ``math.inf`` if never reached."""
        target = _boost_target(boost)
        if target <= 0:
            return 0.0
        if target > Fraction(self.max_boost) or self.step == 0:
            return math.inf
        steps = math.ceil(target / Fraction(self.step))
        return _float_at_least(steps * Fraction(self.interval))


AgingPolicy: TypeAlias = NoAging | LinearAging | StepAging
"""The aging policies :class:`prioq.PriorityQueue` accepts."""
