"""Store URLs and options: parsing, validation and redaction shared by the backends.

A bad option (a value out of range, a typo in a URL query) raises
:class:`prioq.InvalidValue` (its ``InvalidType`` variant for a wrong type) before
anything is opened or created; :class:`prioq.StoreError` is kept for what is
found at the location (no such directory, not a prioq store, cannot connect).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

from prioq._validate import number, wrong_type
from prioq.errors import InvalidValue

__all__ = ["redact_url", "seconds", "split_url", "table_prefix", "url_seconds"]


def split_url(url: str) -> SplitResult:
    """``urlsplit(url)``, raising :class:`InvalidValue` instead of ``ValueError`` (``[::1`` ...)."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise InvalidValue(f"malformed store URL {redact_url(url)!r}: {exc}") from None


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for error messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable URL>"


def seconds(value: object, what: str, *, above: float | None = None, below: float) -> float:
    """A duration option in seconds: a finite number ``>= 0`` (``> above`` when given), ``< below``."""
    as_float = number(value, what, minimum=None if above is not None else 0.0, above=above)
    if not as_float < below:
        raise InvalidValue(f"{what}: must be < {below:g} seconds, got {value!r}")
    return as_float


def url_seconds(text: str, what: str, url: str) -> float:
    """A number of seconds written in a URL query (range checked later, with the keyword argument)."""
    try:
        return float(text)
    except ValueError:
        shown = redact_url(url)
        raise InvalidValue(f"{what} must be seconds (a number), got {text!r} in {shown!r}") from None


_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,29}")


def table_prefix(value: object) -> str:
    """A table prefix: ``""`` or a lower-case SQL identifier of at most 30 characters (``prioq_``).
    Lower case: PostgreSQL folds unquoted names, and prioq's names are written unquoted."""
    if not isinstance(value, str):
        raise wrong_type(InvalidValue, f"table prefix must be a string, got {value!r}")
    if value and not _PREFIX.fullmatch(value):
        raise InvalidValue(
            f"table prefix must be empty or [a-z_][a-z0-9_]* (at most 30 characters), got {value!r}"
        )
    return value
