"""SQLAlchemy expressions for :mod:`prioq.ordering` (the ``sqlalchemy`` extra; imported lazily).

The same order and keyset logic as :mod:`prioq.ordering._sql`, as SQLAlchemy
Core expressions over mapped attributes or ``Column`` objects; values become
bound parameters processed by the column's type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, bindparam, false, or_, true, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from prioq._validate import wrong_type
from prioq.errors import InvalidCursor, InvalidValue

if TYPE_CHECKING:
    from sqlalchemy.sql.compiler import SQLCompiler

    from prioq.ordering._core import Field, Value

__all__ = ["keyset", "order_by"]


class _Bytewise(ColumnElement[Any]):
    """``expr`` compared byte-wise: ``COLLATE "C"`` on PostgreSQL, ``COLLATE BINARY`` on SQLite."""

    inherit_cache = True
    _traverse_internals = [("expr", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, expr: ColumnElement[Any]) -> None:
        self.expr = expr
        # Values compared with this bind as plain strings: the column's own type may carry a
        # collation (`%s::VARCHAR COLLATE "x"`) that would clash with ours on PostgreSQL.
        self.type = String()


@compiles(_Bytewise)
def _bytewise_default(element: _Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.expr, **kw)


@compiles(_Bytewise, "postgresql")
def _bytewise_postgresql(element: _Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return f'{compiler.process(element.expr, **kw)} COLLATE "C"'


@compiles(_Bytewise, "sqlite")
def _bytewise_sqlite(element: _Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.expr, **kw)} COLLATE BINARY"


def _column(columns: object, name: str) -> ColumnElement[Any]:
    if isinstance(columns, Mapping):
        if name not in columns:
            raise InvalidValue(f"columns has no entry for field {name!r}")
        col = columns[name]
    else:
        # A Table or subquery exposes its columns as .c; a mapped class as attributes.
        source = getattr(columns, "c", columns)
        try:
            col = getattr(source, name)
        except AttributeError:
            raise wrong_type(InvalidValue, f"{columns!r} has no column for field {name!r}") from None
    expr = getattr(col, "__clause_element__", None)
    element = expr() if callable(expr) else col
    if not isinstance(element, ColumnElement):
        raise wrong_type(InvalidValue, f"column for field {name!r} is not a SQLAlchemy column: {col!r}")
    return element


def _bind(col: ColumnElement[Any], value: Value) -> ColumnElement[Any]:
    # An explicit bind parameter of the column's type: SQLAlchemy refuses `col > True` and
    # would otherwise guess types from the Python value.
    return bindparam(None, value, type_=col.type, unique=True)


def _resolve(fields: Sequence[Field], columns: object) -> list[tuple[ColumnElement[Any], ColumnElement[Any]]]:
    out = []
    for f in fields:
        col = _column(columns, f.name)
        out.append((col, _Bytewise(col) if f.text else col))
    return out


def order_by(fields: Sequence[Field], columns: object) -> list[ColumnElement[Any]]:
    """``order_by`` clauses with explicit NULL placement for nullable fields."""
    clauses: list[ColumnElement[Any]] = []
    for f, (_, cmp) in zip(fields, _resolve(fields, columns), strict=True):
        clause = cmp.asc() if f.direction == "asc" else cmp.desc()
        if f.nullable:
            clause = clause.nulls_first() if f.nulls == "first" else clause.nulls_last()
        clauses.append(clause)
    return clauses


_NUMERIC = (int, float, Decimal)


def _suits(col: ColumnElement[Any], value: Value) -> bool:
    """Whether a cursor value can be bound to ``col``: numbers for numeric columns, else an
    instance of the column type's Python type. Types without one are not checked."""
    try:
        python_type = col.type.python_type
    except NotImplementedError:
        return True
    if isinstance(python_type, type) and issubclass(python_type, _NUMERIC) and python_type is not bool:
        return isinstance(value, int | float)
    if python_type is bool:  # SQLAlchemy's Boolean also binds 0 and 1
        return isinstance(value, bool) or (type(value) is int and value in (0, 1))
    if python_type is datetime or python_type is str:
        return isinstance(value, python_type)
    return True


def _check_types(
    fields: Sequence[Field], resolved: list[tuple[ColumnElement[Any], ColumnElement[Any]]],
    values: Sequence[Value], cursor: str | None,
) -> None:
    # SQLAlchemy's bind processors would raise TypeError (a str for a Float) only at execute.
    for f, (col, _), v in zip(fields, resolved, values, strict=True):
        if v is not None and not _suits(col, v):
            shown = repr(cursor) if cursor is None or len(cursor) <= 48 else repr(cursor[:45]) + "..."
            raise InvalidCursor(
                f"cursor {shown} holds {type(v).__name__} value {v!r} for field {f.name!r}, "
                f"whose column is {col.type}"
            )


def _after(
    f: Field, col: ColumnElement[Any], cmp: ColumnElement[Any], v: Value
) -> ColumnElement[bool] | None:
    if v is None:
        return col.is_not(None) if f.nullable and f.nulls == "first" else None
    beyond = cmp > _bind(cmp, v) if f.direction == "asc" else cmp < _bind(cmp, v)
    return or_(beyond, col.is_(None)) if f.nullable and f.nulls == "last" else beyond


def keyset(
    fields: Sequence[Field], columns: object, values: Sequence[Value] | None, cursor: str | None = None
) -> ColumnElement[bool]:
    """A ``where`` expression for the rows strictly after ``values`` (``true()`` if None).

    Raises :class:`~prioq.errors.InvalidCursor` when a value does not suit its column's type."""
    resolved = _resolve(fields, columns)
    if values is None:
        return true()
    _check_types(fields, resolved, values, cursor)
    if len(fields) > 1 and len({f.direction for f in fields}) == 1 and not any(f.nullable for f in fields):
        left = tuple_(*(cmp for _, cmp in resolved))
        right = tuple_(*(_bind(cmp, v) for (_, cmp), v in zip(resolved, values, strict=True)))
        return left > right if fields[0].direction == "asc" else left < right
    terms = []
    equal: list[ColumnElement[bool]] = []
    for f, (col, cmp), v in zip(fields, resolved, values, strict=True):
        after = _after(f, col, cmp, v)
        if after is not None:
            terms.append(and_(*equal, after))
        equal.append(col.is_(None) if v is None else cmp == _bind(cmp, v))
    if not terms:
        return false()
    body = or_(*terms)
    f0, v0 = fields[0], values[0]
    if len(terms) > 1 and v0 is not None and (not f0.nullable or f0.nulls == "first"):
        cmp0 = resolved[0][1]
        bound = _bind(cmp0, v0)
        return and_(cmp0 >= bound if f0.direction == "asc" else cmp0 <= bound, body)
    return body
