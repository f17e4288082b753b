"""List ordering and keyset pagination for a server's ``runs/list`` and ``jobs/list``.

An :class:`Order` is a composite order over named fields — ``Order([("priority",
"desc"), ("submitted_at", "desc"), ("id", "asc")])`` — with explicit NULL
placement per field. The same order works three ways, with the same result:

- in Python: :meth:`Order.key`, :meth:`Order.sort` and :func:`paginate`;
- in SQL (SQLite >= 3.30 and PostgreSQL): :meth:`Order.order_by_sql` and
  :meth:`Order.keyset_sql`, identifiers quoted and values bound as parameters;
- in SQLAlchemy (optional extra): :meth:`Order.sqlalchemy_order_by` and
  :meth:`Order.sqlalchemy_keyset`.

Pages continue from a *cursor*: an opaque, URL-safe, versioned token holding
the typed sort values of the last row served, bound to the order it was made
for and integrity-checked (a keyed HMAC when the order has a ``secret``, a
checksum otherwise). Keyset pagination never skips or repeats a row, even when
rows are inserted between page fetches, provided the order is total (its last
field is unique, like ``id``). See ``docs/ordering.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, TypeAlias, TypeVar, cast

import attrs

from prioq._validate import boolean, integer, wrong_type
from prioq.errors import InvalidCursor, InvalidValue

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

__all__ = [
    "DEFAULT_MAX_LIMIT",
    "MAX_CURSOR_CHARS",
    "RUNS_LIST",
    "RUNS_LIST_NOT_NULL",
    "SCHEDULING",
    "ColumnName",
    "Dialect",
    "Direction",
    "Field",
    "Nulls",
    "Order",
    "Page",
    "Value",
    "check_limit",
]

#: A sort value: what a field may hold in a row and in a cursor.
Value: TypeAlias = bool | int | float | str | datetime | None
Direction: TypeAlias = Literal["asc", "desc"]
Nulls: TypeAlias = Literal["first", "last"]
Dialect: TypeAlias = Literal["sqlite", "postgresql"]
#: A column in SQL: one identifier, or a qualified name as a tuple (``("r", "priority")``).
ColumnName: TypeAlias = str | tuple[str, ...]

#: ``paginate``/``check_limit`` default upper bound for a page size.
DEFAULT_MAX_LIMIT = 1000
#: Longest cursor accepted (and produced): bounds the work a hostile cursor can cause.
MAX_CURSOR_CHARS = 4096

T = TypeVar("T")

_CURSOR_VERSION = 1
_MAC_BYTES = 16
# Without a secret the MAC key is public: the tag is then a checksum that catches
# corruption and truncation, not forgery (forged values are still only data).
_PUBLIC_KEY = b"prioq.ordering cursor checksum v1"
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


# Largest magnitude of an int a cursor may hand to SQL: SQLite INTEGER and PostgreSQL bigint.
_SQL_INT_MIN, _SQL_INT_MAX = -(2**63), 2**63 - 1


def _invalid(message: str, *, wrong_type_: bool = False) -> NoReturn:
    """Bad orders, rows and limits: :class:`InvalidValue` (a ``ValueError``); a value of the
    wrong type raises :class:`~prioq.errors.InvalidType`, which is also a ``TypeError``."""
    raise wrong_type(InvalidValue, message) if wrong_type_ else InvalidValue(message)


def _direction(value: object) -> Direction:
    if isinstance(value, str) and value.lower() in ("asc", "desc"):
        return cast(Direction, value.lower())
    _invalid(
        f"order direction must be 'asc' or 'desc', got {value!r}", wrong_type_=not isinstance(value, str)
    )


def _nulls(value: object) -> Nulls | None:
    if value is None:
        return None
    if isinstance(value, str):
        v = value.lower().removeprefix("nulls_").removeprefix("nulls ")
        if v in ("first", "last"):
            return cast(Nulls, v)
    _invalid(f"nulls must be 'first' or 'last', got {value!r}", wrong_type_=not isinstance(value, str))


def _field_name(_: object, __: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value or "\x00" in value:
        _invalid(
            f"field name must be a non-empty string without NUL, got {value!r}",
            wrong_type_=not isinstance(value, str),
        )


def _flag(_: object, attribute: attrs.Attribute[Any], value: bool) -> None:
    boolean(value, f"field {attribute.name} (a bool)")


@attrs.frozen(slots=True)
class Field:
    """One sort field: ``name``, ``direction``, where NULLs go, and SQL hints.

    ``nulls``: ``"first"`` or ``"last"`` whatever the direction (``None``: the
    :class:`Order`'s default). ``nullable=False`` declares the field never NULL:
    a NULL value is then an error, and SQL needs no NULL handling (row-value
    comparison becomes possible). ``text=True`` makes SQL compare the column
    byte-wise (``COLLATE "C"`` on PostgreSQL, ``COLLATE BINARY`` on SQLite), the
    code-point order Python uses for ``str``. ``kind`` (``"int"``, ``"float"``,
    ``"number"``, ``"str"``, ``"bool"``, ``"datetime"``; ``None``: any) declares the
    values the field holds: a cursor holding another kind is an :class:`InvalidCursor`
    before any SQL runs (a str where the column holds integers, an int beyond 64 bits).
    """

    name: str = attrs.field(validator=_field_name)
    direction: Direction = attrs.field(default="asc", converter=_direction)
    nulls: Nulls | None = attrs.field(default=None, converter=_nulls)
    nullable: bool = attrs.field(default=True, validator=_flag)
    text: bool = attrs.field(default=False, validator=_flag)
    kind: str | None = attrs.field(default=None, validator=lambda _, __, v: _kind_name(v))


_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float,),
    "number": (int, float),
    "str": (str,),
    "bool": (bool,),
    "datetime": (datetime,),
}


def _kind_name(value: object) -> None:
    if value is not None and value not in _KINDS:
        _invalid(f"field kind must be one of {sorted(_KINDS)} or None, got {value!r}",
                 wrong_type_=not isinstance(value, str))


def _of_kind(field: Field, value: object) -> bool:
    """Whether a non-NULL ``value`` is of the field's declared kind (bools are no ints or floats)."""
    kind = field.kind
    if kind is None:
        return True
    if isinstance(value, bool):
        return kind == "bool"
    return isinstance(value, _KINDS[kind])


FieldSpec: TypeAlias = Field | str | tuple[str, ...]

_OPTIONS = {
    "asc": ("direction", "asc"),
    "desc": ("direction", "desc"),
    "nulls_first": ("nulls", "first"),
    "nulls_last": ("nulls", "last"),
    "first": ("nulls", "first"),
    "last": ("nulls", "last"),
    "not_null": ("nullable", False),
    "text": ("text", True),
    **{kind: ("kind", kind) for kind in _KINDS},
}


def _parse_field(spec: object) -> Field:
    if isinstance(spec, Field):
        return spec
    if isinstance(spec, str):
        return Field(spec)
    if isinstance(spec, tuple) and spec and all(isinstance(p, str) for p in spec):
        name, *options = spec
        kwargs: dict[str, Any] = {}
        for option in options:
            key = option.lower().replace(" ", "_")
            if key not in _OPTIONS:
                _invalid(f"field {name!r}: unknown option {option!r} (expected one of {sorted(_OPTIONS)})")
            attr, value = _OPTIONS[key]
            if attr in kwargs:
                _invalid(f"field {name!r}: {attr} given twice in {spec!r}")
            kwargs[attr] = value
        return Field(name, **kwargs)
    _invalid(
        f"order field must be a Field, a name or a (name, direction, *options) tuple, got {spec!r}",
        wrong_type_=True,
    )


def _secret(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes) and value:
        return value
    _invalid(
        "cursor secret must be non-empty bytes or str, or None", wrong_type_=not isinstance(value, bytes)
    )


class _Rev:
    """Reverses the order of a non-numeric value (numbers are simply negated)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rev) and bool(self.v == other.v)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _Rev):
            return NotImplemented
        return bool(other.v < self.v)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, _Rev):
            return NotImplemented
        return bool(other.v > self.v)

    __hash__ = None  # type: ignore[assignment]


_PLAIN_KINDS = frozenset({int, str, bool, datetime})


def _get(row: object, name: str) -> object:
    if isinstance(row, Mapping):
        try:
            return row[name]
        except KeyError:
            _invalid(f"row has no field {name!r}: {row!r}")
    # Row types that index by name without being Mappings (sqlite3.Row).
    if callable(getattr(type(row), "keys", None)) and hasattr(type(row), "__getitem__"):
        try:
            return cast(Any, row)[name]
        except (KeyError, IndexError):
            _invalid(f"row has no field {name!r}: {row!r}")
    try:
        return getattr(row, name)
    except AttributeError:
        _invalid(f"row has no field {name!r}: {row!r}")


def _check_value(field: Field, value: object) -> Value:
    if value is None:
        if not field.nullable:
            _invalid(f"field {field.name!r} is declared not_null but the row holds None")
        return None
    if isinstance(value, float):
        if math.isnan(value):
            _invalid(f"field {field.name!r}: NaN has no place in an order")
        if not _of_kind(field, value):
            _invalid(f"field {field.name!r} holds {field.kind} values, got {value!r}", wrong_type_=True)
        return value
    if isinstance(value, bool | int | str | datetime):
        if not _of_kind(field, value):
            _invalid(f"field {field.name!r} holds {field.kind} values, got {value!r}", wrong_type_=True)
        return value
    _invalid(
        f"field {field.name!r}: cannot order by {type(value).__name__} value {value!r} "
        "(expected None, bool, int, float, str or datetime)",
        wrong_type_=True,
    )


def _encode_value(field: Field, value: Value) -> object:
    if isinstance(value, float):
        return {"f": repr(value)}
    if isinstance(value, datetime):
        return {"d": value.isoformat()}
    if isinstance(value, str):
        if "\x00" in value:
            _invalid(f"field {field.name!r}: a cursor cannot hold a string with NUL: {value!r}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            _invalid(f"field {field.name!r}: a cursor cannot hold a lone surrogate: {value!r}")
    return value


def _reject_constant(text: str) -> NoReturn:
    raise ValueError(f"unexpected JSON constant {text}")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) != 1:
        raise ValueError("typed value must have exactly one key")
    return dict(pairs)


def _decode_value(field: Field, raw: object) -> Value:
    if raw is None:
        if not field.nullable:
            raise ValueError(f"NULL for not_null field {field.name!r}")
        return None
    if isinstance(raw, bool | int):
        return raw
    if isinstance(raw, str):
        if "\x00" in raw:
            raise ValueError("NUL in a string value")
        raw.encode("utf-8")  # lone surrogates from \\ud800 escapes: UnicodeEncodeError
        return raw
    if isinstance(raw, dict):
        ((tag, text),) = raw.items()
        if isinstance(text, str):
            if tag == "f":
                f = float(text)
                if math.isnan(f) or repr(f) != text:
                    raise ValueError(f"non-canonical float {text!r}")
                return f
            if tag == "d":
                d = datetime.fromisoformat(text)
                if d.isoformat() != text:
                    raise ValueError(f"non-canonical datetime {text!r}")
                return d
    raise ValueError(f"unsupported value {raw!r}")


def _short(token: object) -> str:
    text = repr(token)
    return text if len(text) <= 48 else text[:45] + "..."


def _kind(value: object) -> str | None:
    """What a value compares as: numbers with numbers, str with str, naive datetimes with naive ones."""
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return "number"
    if isinstance(value, datetime):
        return "naive datetime" if value.utcoffset() is None else "aware datetime"
    return type(value).__name__


def _incomparable(
    order: Order, rows: Sequence[object], cursor: str | None, after: Sequence[Value] | None
) -> InvalidValue:
    """The error for a ``TypeError`` raised while comparing keys (the error path only: O(n·fields)).

    Rows whose field mixes kinds are the caller's data (:class:`~prioq.errors.InvalidType`);
    a cursor value of another kind than the rows' is the client's (:class:`InvalidCursor`).
    """
    seen: list[dict[str, object]] = [{} for _ in order.fields]
    for row in rows:
        for kinds, value in zip(seen, order.values(row), strict=True):
            kind = _kind(value)
            if kind is not None:
                kinds.setdefault(kind, value)
    for field, kinds in zip(order.fields, seen, strict=True):
        if len(kinds) > 1:
            shown = ", ".join(f"{k} {v!r}" for k, v in kinds.items())
            return wrong_type(
                InvalidValue, f"rows cannot be ordered: field {field.name!r} holds values of kinds "
                f"that do not compare ({shown}); a field holds one kind of value"
            )
    if after is not None:
        for field, kinds, value in zip(order.fields, seen, after, strict=True):
            kind = _kind(value)
            if kind is not None and kinds and kind not in kinds:
                return InvalidCursor(
                    f"cursor {_short(cursor)} holds the {kind} value {value!r} for field {field.name!r}, "
                    f"whose rows hold {', '.join(kinds)} values"
                )
    return wrong_type(InvalidValue, f"rows cannot be ordered by {list(order.names)}: values do not compare")


def _sql_values(values: tuple[Value, ...], cursor: str) -> tuple[Value, ...]:
    """Cursor values bound as SQL parameters: an int beyond 64 bits fits no SQLite INTEGER or
    PostgreSQL bigint (sqlite3 would raise ``OverflowError`` at execute), so it is refused here."""
    for value in values:
        if isinstance(value, int) and not _SQL_INT_MIN <= value <= _SQL_INT_MAX:
            raise InvalidCursor(f"cursor {_short(cursor)} holds {_short(value)}, beyond a 64-bit SQL integer")
    return values


@attrs.frozen(slots=True)
class Page(Generic[T]):
    """One page of a list: ``items`` in order, and the cursor of the next page (``None``: last page)."""

    items: tuple[T, ...]
    next_cursor: str | None


def check_limit(limit: object, max_limit: int = DEFAULT_MAX_LIMIT) -> int:
    """Validate a page size: an ``int`` in ``1..max_limit`` (bools are refused); returns it.

    Raises :class:`~prioq.errors.InvalidValue` (a ``ValueError``; a wrong type also a
    ``TypeError``), never :class:`~prioq.errors.InvalidCursor`: map both to HTTP 400."""
    integer(max_limit, "max_limit", minimum=1)
    return integer(limit, f"limit (an integer in 1..{max_limit})", minimum=1, maximum=max_limit)


@attrs.frozen(slots=True, init=False)
class Order:
    """A composite sort order; build with ``Order([("priority", "desc"), ("id", "asc")], nulls="last")``.

    Each field is a :class:`Field`, a name (ascending), or a tuple
    ``(name, direction, *options)`` with options ``"nulls_first"``,
    ``"nulls_last"``, ``"not_null"`` and ``"text"``. ``nulls`` is the default
    NULL placement for fields that do not set one. ``secret`` (bytes or str)
    turns the cursor checksum into an HMAC, so clients cannot forge cursors.
    Keyset pagination needs a total order: end with a unique field.
    """

    fields: tuple[Field, ...]
    secret: bytes | None = attrs.field(default=None, repr=False)
    _digest: str = attrs.field(init=False, repr=False, eq=False)
    _plan: tuple[tuple[int, bool, bool, int, int], ...] = attrs.field(init=False, repr=False, eq=False)
    _names: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)

    def __init__(
        self, fields: Iterable[FieldSpec], *, nulls: Nulls = "last", secret: bytes | str | None = None
    ) -> None:
        if isinstance(fields, str | bytes | Field) or not isinstance(fields, Iterable):
            _invalid(f"Order takes a list of fields, got {fields!r}", wrong_type_=True)
        default = _nulls(nulls)
        if default is None:
            _invalid("Order nulls default must be 'first' or 'last', got None")
        parsed = []
        for spec in fields:
            field = _parse_field(spec)
            if field.nulls is None:
                field = attrs.evolve(field, nulls=default)
            parsed.append(field)
        if not parsed:
            _invalid("an Order needs at least one field")
        names = [f.name for f in parsed]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            _invalid(f"field listed twice in the order: {duplicates}")
        self.__attrs_init__(tuple(parsed), _secret(secret))

    def __attrs_post_init__(self) -> None:
        # A declared kind joins the digest only when set: orders without kinds keep their cursors.
        spec = [[f.name, f.direction, f.nulls, f.nullable, *([f.kind] if f.kind else [])]
                for f in self.fields]
        canonical = json.dumps(spec, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        object.__setattr__(self, "_digest", hashlib.sha256(canonical).hexdigest()[:12])
        # Per field: index, desc, nullable, NULL's rank, a value's rank — so key() does no lookups.
        plan = tuple(
            (i, f.direction == "desc", f.nullable, int(f.nulls != "first"), int(f.nulls == "first"))
            for i, f in enumerate(self.fields)
        )
        object.__setattr__(self, "_plan", plan)
        object.__setattr__(self, "_names", tuple(f.name for f in self.fields))

    # -- Python -------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The field names, in order."""
        return tuple(f.name for f in self.fields)

    @property
    def digest(self) -> str:
        """A short digest of the order's definition; cursors carry it to refuse foreign orders."""
        return self._digest

    def with_secret(self, secret: bytes | str | None) -> Order:
        """The same order whose cursors are signed with ``secret`` (an HMAC-SHA256 tag)."""
        return Order(self.fields, secret=secret)

    def values(self, row: object) -> tuple[Value, ...]:
        """The row's sort values, validated (a mapping, sqlite3.Row, attrs/dataclass or plain object)."""
        return tuple(_check_value(f, _get(row, f.name)) for f in self.fields)

    def key(self, row: object) -> tuple[Any, ...]:
        """A sort key: ``sorted(rows, key=order.key)`` follows the order. O(fields).

        Keys of rows whose field mixes kinds (an int and a str) do not compare:
        :meth:`sort` and :func:`paginate` then raise :class:`~prioq.errors.InvalidType`."""
        if type(row) is dict:  # the common case, without the generic accessor's checks
            try:
                return self._key([row[name] for name in self._names])
            except KeyError:
                pass  # the generic path names the missing field
        return self._key([_get(row, name) for name in self._names])

    def _key(self, values: Sequence[object]) -> tuple[Any, ...]:
        # Validates as it goes: key() is the hot path of sort and paginate.
        out: list[Any] = []
        for (i, desc, nullable, null_rank, value_rank), v in zip(self._plan, values, strict=True):
            if v is None:
                if not nullable:
                    _check_value(self.fields[i], v)
                out += (null_rank, None)
                continue
            kind = type(v)
            if kind is float:
                if v != v:
                    _check_value(self.fields[i], v)
            elif kind not in _PLAIN_KINDS:
                _check_value(self.fields[i], v)  # subclasses pass, anything else raises
            if nullable:
                out.append(value_rank)
            if desc:
                out.append(-v if isinstance(v, int | float) else _Rev(v))
            else:
                out.append(v)
        return tuple(out)

    def sort(self, rows: Iterable[T]) -> list[T]:
        """A new list of ``rows`` in this order (stable). O(n log n)."""
        if not isinstance(rows, Iterable):
            _invalid(f"sort takes an iterable of rows, got {rows!r}", wrong_type_=True)
        listed = list(rows)
        try:
            return sorted(listed, key=self.key)
        except TypeError as exc:
            if isinstance(exc, InvalidValue):
                raise  # a bad value key() refused, already named
            raise _incomparable(self, listed, None, None) from None

    # -- cursors ------------------------------------------------------------------------

    @property
    def _mac_key(self) -> bytes:
        return self.secret if self.secret is not None else _PUBLIC_KEY

    def cursor(self, row: object) -> str:
        """The cursor of the page that continues right after ``row``. O(fields)."""
        return self.cursor_from_values(self.values(row))

    def cursor_from_values(self, values: Sequence[Value]) -> str:
        """The cursor continuing after a row whose sort values are ``values`` (one per field)."""
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) != len(self.fields):
            _invalid(
                f"expected {len(self.fields)} values for fields {list(self.names)}, got {values!r}",
                wrong_type_=not isinstance(values, Sequence),
            )
        checked = [_check_value(f, v) for f, v in zip(self.fields, values, strict=True)]
        encoded = [_encode_value(f, v) for f, v in zip(self.fields, checked, strict=True)]
        payload = json.dumps([self._digest, encoded], separators=(",", ":"), ensure_ascii=False)
        body = bytes([_CURSOR_VERSION]) + payload.encode("utf-8")
        tag = hmac.new(self._mac_key, body, hashlib.sha256).digest()[:_MAC_BYTES]
        token = base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode("ascii")
        if len(token) > MAX_CURSOR_CHARS:
            _invalid(f"cursor would be {len(token)} characters, over MAX_CURSOR_CHARS={MAX_CURSOR_CHARS}")
        return token

    def parse_cursor(self, cursor: object) -> tuple[Value, ...]:
        """The typed sort values in ``cursor``; :class:`InvalidCursor` unless it is intact and ours."""
        if not isinstance(cursor, str):
            raise InvalidCursor(f"a cursor is a string, got {_short(cursor)}")
        if not cursor or len(cursor) > MAX_CURSOR_CHARS or not _B64URL.fullmatch(cursor):
            raise InvalidCursor(f"malformed cursor {_short(cursor)}")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursor(f"malformed cursor {_short(cursor)}") from None
        # Base64 can spell the same bytes more than one way; only our own spelling is accepted.
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != cursor:
            raise InvalidCursor(f"malformed cursor {_short(cursor)}")
        if len(raw) <= 1 + _MAC_BYTES:
            raise InvalidCursor(f"truncated cursor {_short(cursor)}")
        if raw[0] != _CURSOR_VERSION:
            raise InvalidCursor(f"unsupported cursor version {raw[0]} in {_short(cursor)}")
        body, tag = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        expected = hmac.new(self._mac_key, body, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(tag, expected):
            raise InvalidCursor(
                f"cursor {_short(cursor)} is corrupt, truncated, or signed with another secret"
            )
        try:
            data = json.loads(
                body[1:].decode("utf-8"),
                parse_float=_reject_constant,
                parse_constant=_reject_constant,
                object_pairs_hook=_pairs,
            )
        except (ValueError, RecursionError):
            raise InvalidCursor(f"cursor {_short(cursor)} does not hold a valid payload") from None
        if not (isinstance(data, list) and len(data) == 2 and isinstance(data[1], list)):
            raise InvalidCursor(f"cursor {_short(cursor)} does not hold a valid payload")
        digest, raw_values = data
        if digest != self._digest:
            raise InvalidCursor(f"cursor {_short(cursor)} was made for a different order, not {self!r}")
        if len(raw_values) != len(self.fields):
            raise InvalidCursor(
                f"cursor {_short(cursor)} holds {len(raw_values)} values, not {len(self.fields)}"
            )
        try:
            values = tuple(_decode_value(f, v) for f, v in zip(self.fields, raw_values, strict=True))
        except (ValueError, TypeError) as e:
            raise InvalidCursor(f"cursor {_short(cursor)} holds a bad value: {e}") from None
        for field, value in zip(self.fields, values, strict=True):
            if value is not None and not _of_kind(field, value):
                raise InvalidCursor(
                    f"cursor {_short(cursor)} holds {_short(value)} for field {field.name!r}, "
                    f"which holds {field.kind} values"
                )
            if field.kind in ("int", "number") and isinstance(value, int) and not (
                _SQL_INT_MIN <= value <= _SQL_INT_MAX
            ):
                raise InvalidCursor(f"cursor {_short(cursor)} holds {_short(value)}, beyond a 64-bit integer")
        return values

    def page(self, fetched: Sequence[T], limit: int, *, max_limit: int = DEFAULT_MAX_LIMIT) -> Page[T]:
        """A page from up to ``limit + 1`` rows already in this order (a ``LIMIT limit + 1`` query).

        The extra row only tells that a next page exists; the next cursor is made
        from the page's last item. O(limit).
        """
        check_limit(limit, max_limit)
        if not isinstance(fetched, Sequence):
            _invalid(f"page takes the fetched rows as a sequence, got {fetched!r}", wrong_type_=True)
        items = tuple(fetched[:limit])
        more = len(fetched) > limit
        return Page(items, self.cursor(items[-1]) if more else None)

    # -- SQL ------------------------------------------------------------------------------

    def order_by_sql(
        self, columns: Mapping[str, ColumnName] | None = None, dialect: Dialect = "sqlite"
    ) -> str:
        """The ``ORDER BY`` list (without the keywords) for this order, NULL placement explicit.

        ``columns`` maps field names to column names (default: the field name);
        identifiers are always quoted.
        """
        from prioq.ordering._sql import order_by

        return order_by(self.fields, _columns(self, columns), _dialect(dialect))

    def keyset_sql(
        self,
        columns: Mapping[str, ColumnName] | None,
        cursor: str | None,
        dialect: Dialect = "sqlite",
    ) -> tuple[str, list[Value]]:
        """``(fragment, params)``: a parenthesized ``WHERE`` condition selecting the rows after ``cursor``.

        Values are only ever parameters (``?`` for sqlite3, ``%s`` for psycopg),
        in order; a ``None`` cursor gives ``("(1 = 1)", [])``. Raises
        :class:`InvalidCursor` for a bad cursor, including one holding an int
        beyond 64 bits (no SQL integer column holds it; sqlite3 cannot bind it).
        """
        from prioq.ordering._sql import keyset

        cols, d = _columns(self, columns), _dialect(dialect)
        if cursor is None:
            return "(1 = 1)", []
        return keyset(self.fields, cols, _sql_values(self.parse_cursor(cursor), cursor), d)

    def keyset_branches(
        self,
        columns: Mapping[str, ColumnName] | None,
        cursor: str | None,
        dialect: Dialect = "sqlite",
    ) -> list[tuple[str, list[Value]]]:
        """The rows after ``cursor`` as a list of ``(fragment, params)`` conditions, each an index
        seek, in the order their rows come (``[("(1 = 1)", [])]`` for no cursor).

        For an order whose directions change (``SCHEDULING``: priority desc, then ascending) or
        whose fields are nullable (``RUNS_LIST``), no single condition seeks past the first
        change: a deep page would scan the rest of the cursor's priority, or more. Run the
        branches in turn -- ``SELECT ... WHERE <your filters> AND <fragment> ORDER BY
        <order_by_sql> LIMIT ?`` with what is still missing of ``limit + 1`` -- and stop once
        you have them: at most one query per direction change (and per nullable field), each
        O(log n + limit). Nullable fields seek too: a field's non-NULL values after the cursor's
        and its NULLs are two branches (``RUNS_LIST`` needs up to five queries).
        """
        from prioq.ordering._sql import branches

        cols, d = _columns(self, columns), _dialect(dialect)
        if cursor is None:
            return [("(1 = 1)", [])]
        return branches(self.fields, cols, _sql_values(self.parse_cursor(cursor), cursor), d)

    def index_sql(
        self,
        table: ColumnName,
        columns: Mapping[str, ColumnName] | None = None,
        dialect: Dialect = "sqlite",
        *,
        name: str | None = None,
    ) -> str:
        """The ``CREATE INDEX`` statement of the index that serves this order: its columns in the
        order's sequence, directions, collation and (PostgreSQL) NULL placement, so that a page
        is an index range scan starting at the cursor -- O(log n + limit) at any depth.

        ``table``: a name or ``(schema, name)``; ``name``: the index's (default
        ``<table>_<field>[_desc]_...``, at most 63 characters). SQLite cannot place NULLs in an
        index against its own rule (first ascending, last descending): declare such fields
        ``not_null`` where the column is ``NOT NULL``, as the presets ``*_NOT_NULL`` do."""
        from prioq.ordering._sql import index

        parts = (table,) if isinstance(table, str) else table
        if not isinstance(parts, tuple) or not 1 <= len(parts) <= 2 or not all(
            isinstance(p, str) and p and "\x00" not in p for p in parts
        ):
            _invalid(f"table must be a name or a (schema, name) tuple, got {table!r}",
                     wrong_type_=not isinstance(parts, tuple))
        if name is None:
            words = [w for f in self.fields for w in (f.name, "desc")[: 1 + (f.direction == "desc")]]
            name = "_".join((parts[-1], *words))[:63]
        elif not isinstance(name, str) or not name or "\x00" in name:
            _invalid(f"index name must be a non-empty string, got {name!r}",
                     wrong_type_=not isinstance(name, str))
        return index(self.fields, _columns(self, columns), parts, name, _dialect(dialect))

    def sqlalchemy_order_by(self, columns: object) -> list[ColumnElement[Any]]:
        """SQLAlchemy ``order_by`` clauses. ``columns``: a mapping, a Table/subquery, or a mapped class."""
        from prioq.ordering._sqlalchemy import order_by

        return order_by(self.fields, columns)

    def sqlalchemy_keyset(self, columns: object, cursor: str | None) -> ColumnElement[bool]:
        """A SQLAlchemy ``where`` expression selecting the rows after ``cursor`` (``true()`` for None).

        Raises :class:`InvalidCursor` for a bad cursor, and for one whose value does not suit
        its column's type (a str for an ``Integer`` column, an int beyond 64 bits, ...)."""
        from prioq.ordering._sqlalchemy import keyset

        values = None if cursor is None else _sql_values(self.parse_cursor(cursor), cursor)
        return keyset(self.fields, columns, values, cursor)


def _dialect(dialect: object) -> Dialect:
    if dialect == "sqlite" or dialect == "postgresql":
        return dialect
    _invalid(
        f"dialect must be 'sqlite' or 'postgresql', got {dialect!r}", wrong_type_=not isinstance(dialect, str)
    )


def _columns(order: Order, columns: Mapping[str, ColumnName] | None) -> tuple[tuple[str, ...], ...]:
    if columns is None:
        columns = {}
    if not isinstance(columns, Mapping):
        _invalid(f"columns must be a mapping of field name to column name, got {columns!r}", wrong_type_=True)
    # Extra entries are fine: one mapping describes a table that several orders share.
    out = []
    for name in order.names:
        col = columns.get(name, name)
        parts = (col,) if isinstance(col, str) else col
        if not isinstance(parts, tuple) or not parts or not all(
            isinstance(p, str) and p and "\x00" not in p for p in parts
        ):
            _invalid(
                f"column for field {name!r} must be a non-empty name or tuple of names, got {col!r}",
                wrong_type_=not isinstance(parts, tuple) or not all(isinstance(p, str) for p in parts),
            )
        out.append(parts)
    return tuple(out)


#: The run list dstack users asked for: most important first, newest first, then id.
#: Its first fields are nullable: a deep page seeks on ``priority`` only (see ``RUNS_LIST_NOT_NULL``).
RUNS_LIST = Order([("priority", "desc"), ("submitted_at", "desc"), ("id", "asc", "not_null")], nulls="last")
#: ``RUNS_LIST`` for ``NOT NULL`` columns: every page, the thousandth as the first, is one index
#: seek (``RUNS_LIST_NOT_NULL.index_sql("runs")`` prints the index).
RUNS_LIST_NOT_NULL = Order([
    ("priority", "desc", "not_null", "int"),
    ("submitted_at", "desc", "not_null"),
    ("id", "asc", "not_null"),
])
#: The scheduling order (docs/architecture.md#the-scheduling-order) on *base* priority:
#: aging needs the scheduler.
SCHEDULING = Order(
    [("priority", "desc", "not_null"), ("submitted_at", "asc", "not_null"), ("id", "asc", "not_null")]
)
