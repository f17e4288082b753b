"""One place for the checks every public call makes on numbers, ints, bools, ids and time.

Each helper takes the value, a name for messages (``"job train: priority"``) and
the error family to raise (:class:`~prioq.errors.InvalidJob` for job fields,
:class:`~prioq.errors.InvalidPolicy` for policy parameters, ...). A value of the
wrong type raises the family's ``...Type`` variant, which is also a
``TypeError``; a bad value raises the family itself (a ``ValueError``). No
builtin exception escapes: ints too large for a float, NaN, unhashable ids and
bools posing as ints are all refused here, with the value in the message.

Rules shared by every caller (docs/architecture.md#validation):

* bools are never numbers;
* an instant (``now``, ``submitted_at``) is a finite number exactly
  representable as a float, so that every later comparison is exact;
* priorities are ints within ``±MAX_PRIORITY`` (2**53), so that priority
  arithmetic in floats stays exact;
* ids are non-empty strings; a collection of ids is never a plain string.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import TypeVar

from prioq.errors import (
    InvalidCursor,
    InvalidCursorType,
    InvalidJob,
    InvalidJobType,
    InvalidNode,
    InvalidNodeType,
    InvalidPolicy,
    InvalidPolicyType,
    InvalidSpec,
    InvalidSpecType,
    InvalidTime,
    InvalidTimeType,
    InvalidType,
    InvalidValue,
)

__all__ = [
    "MAX_COUNTER",
    "MAX_GANG",
    "MAX_PRIORITY",
    "boolean",
    "choice",
    "identifier",
    "identifiers",
    "instance",
    "instant",
    "integer",
    "lookup_id",
    "now_after",
    "number",
    "priority",
    "wrong_type",
]

MAX_PRIORITY = 2**53
"""Largest absolute priority: priorities and aging boosts stay exact in float arithmetic."""

MAX_COUNTER = 2**63 - 1
"""Largest sequence number or count a store can hold (a 64-bit SQL integer)."""

MAX_GANG = 1_000_000
"""Largest gang size (``Job.nodes``): more nodes than any cluster has, well within storage."""

T = TypeVar("T")

_TYPE_VARIANT: dict[type[InvalidValue], type[InvalidValue]] = {
    InvalidValue: InvalidType,
    InvalidJob: InvalidJobType,
    InvalidNode: InvalidNodeType,
    InvalidPolicy: InvalidPolicyType,
    InvalidTime: InvalidTimeType,
    InvalidSpec: InvalidSpecType,
    InvalidCursor: InvalidCursorType,
}


def wrong_type(error: type[InvalidValue], message: str) -> InvalidValue:
    """The exception for a value of the wrong type: ``error``'s variant that is also a ``TypeError``."""
    for cls in error.__mro__:
        variant = _TYPE_VARIANT.get(cls)
        if variant is not None:
            return variant(message)
    return InvalidType(message)  # pragma: no cover - every family derives from InvalidValue


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def number(
    value: object,
    what: str,
    *,
    error: type[InvalidValue] = InvalidValue,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    infinite: bool = False,
) -> float:
    """``value`` as a float: a real number (not a bool), finite unless ``infinite`` allows
    ``+inf``, and within ``minimum <= value <= maximum`` (``value > above``). Ints too
    large for a float are refused, not an ``OverflowError``."""
    if not _is_number(value):
        raise wrong_type(error, f"{what}: expected a number, got {value!r}")
    assert isinstance(value, int | float)
    try:
        as_float = float(value)
    except OverflowError:
        raise error(f"{what}: {value!r} is beyond the range of a float") from None
    if math.isnan(as_float) or (math.isinf(as_float) and not (infinite and as_float > 0)):
        allowed = "a finite number or math.inf" if infinite else "a finite number"
        raise error(f"{what}: expected {allowed}, got {value!r}")
    if minimum is not None and as_float < minimum:
        raise error(f"{what}: must be >= {minimum:g}, got {value!r}")
    if maximum is not None and as_float > maximum:
        raise error(f"{what}: must be <= {maximum:g}, got {value!r}")
    if above is not None and not as_float > above:
        raise error(f"{what}: must be > {above:g}, got {value!r}")
    return as_float


def integer(
    value: object,
    what: str,
    *,
    error: type[InvalidValue] = InvalidValue,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """``value`` as an int (not a bool, not a float) within ``minimum..maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(error, f"{what}: expected an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise error(f"{what}: must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise error(f"{what}: must be <= {maximum}, got {value!r}")
    return value


def boolean(value: object, what: str, *, error: type[InvalidValue] = InvalidValue) -> bool:
    """``value`` if it is a bool (``0``/``1`` are not)."""
    if not isinstance(value, bool):
        raise wrong_type(error, f"{what}: expected a bool, got {value!r}")
    return value


def instant(value: object, what: str, *, error: type[InvalidValue] = InvalidTime) -> float:
    """An instant: a finite number exactly representable as a float, returned as that float."""
    as_float = number(value, what, error=error)
    if as_float != value:
        raise error(f"{what}: must be exactly representable as a float, got {value!r}")
    return as_float


def now_after(now: object, last: float | None) -> float:
    """A call's ``now``: an :func:`instant` not earlier than ``last``, the latest one seen."""
    # Every public call checks its now: the common case (a finite float, in order) is one
    # comparison chain (x - x is 0.0 only for finite x).
    if type(now) is float and now - now == 0.0 and (last is None or now >= last):
        return now
    as_float = instant(now, "now")
    if last is not None and as_float < last:
        raise InvalidTime(f"now={now!r} is earlier than {last!r}, the latest now already seen")
    return as_float


def priority(
    value: object,
    what: str,
    *,
    error: type[InvalidValue] = InvalidJob,
    minimum: int = -MAX_PRIORITY,
    maximum: int = MAX_PRIORITY,
) -> int:
    """A priority: an int within ``minimum..maximum`` (by default ``±MAX_PRIORITY``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(error, f"{what}: priority must be an int, got {value!r}")
    if not minimum <= value <= maximum:
        raise error(f"{what}: priority {value} outside the allowed range {minimum}..{maximum}")
    return value


def identifier(value: object, what: str, *, error: type[InvalidValue] = InvalidValue) -> str:
    """An id: a non-empty string."""
    if not isinstance(value, str):
        raise wrong_type(error, f"{what}: expected a non-empty string, got {value!r}")
    if not value:
        raise error(f"{what}: expected a non-empty string, got ''")
    return value


def identifiers(value: object, what: str, *, error: type[InvalidValue] = InvalidValue) -> tuple[str, ...]:
    """A tuple of ids from an iterable of non-empty strings; a plain string is refused
    (``after="train"`` would otherwise mean the five ids ``t``, ``r``, ``a``, ...)."""
    if type(value) is tuple and all(type(v) is str and v for v in value):
        return value  # already what it must be (the scheduler's own decisions): no copy
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise wrong_type(error, f"{what}: expected a collection of ids (not a string), got {value!r}")
    return tuple(identifier(v, f"{what} item", error=error) for v in value)


def lookup_id(value: object, what: str = "job id") -> str:
    """An id used to look something up: refuses what could never be one (unhashable,
    not a string) with a ``TypeError`` that is a :class:`~prioq.PrioqError`."""
    if not isinstance(value, str):
        shown = value if isinstance(value, Hashable) else type(value).__name__
        raise InvalidType(f"{what}: expected a string, got {shown!r}")
    return value


def instance(value: object, cls: type[T], what: str, *, error: type[InvalidValue] = InvalidValue) -> T:
    """``value`` if it is a ``cls``."""
    if not isinstance(value, cls):
        # prioq's types are named as users import them (prioq.Job), not by private module
        module = "prioq" if cls.__module__.startswith("prioq.") else cls.__module__
        raise wrong_type(error, f"{what}: expected a {module}.{cls.__qualname__}, got {value!r}")
    return value


def choice(
    value: object, options: Iterable[str], what: str, *, error: type[InvalidValue] = InvalidValue
) -> str:
    """``value`` if it is one of ``options``."""
    allowed = tuple(options)
    if not isinstance(value, str):
        raise wrong_type(error, f"{what}: expected one of {', '.join(map(repr, allowed))}, got {value!r}")
    if value not in allowed:
        raise error(f"{what}: expected one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value
