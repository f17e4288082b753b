"""SQL text for :mod:`prioq.ordering`: ``ORDER BY`` lists and keyset ``WHERE`` fragments.

Identifiers are always quoted; values never enter the SQL text, they are
returned as parameters (``?`` for sqlite3, ``%s`` for psycopg), so a hostile
cursor or column name can only ever be data or an odd identifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prioq.ordering._core import Dialect, Field, Value

__all__ = ["branches", "index", "keyset", "order_by", "quote_ident"]


def quote_ident(name: str, dialect: Dialect) -> str:
    """``name`` as a quoted identifier (embedded ``"`` doubled).

    psycopg scans the whole query for ``%`` placeholders, quoted or not, so on
    PostgreSQL an identifier holding ``%`` is spelled as a Unicode-escape
    identifier (``U&"a\\0025b"``) in which no ``%`` appears.
    """
    if dialect == "postgresql" and "%" in name:
        body = name.replace("\\", "\\\\").replace('"', '""').replace("%", "\\0025")
        return f'U&"{body}"'
    return '"' + name.replace('"', '""') + '"'


def _column(parts: tuple[str, ...], dialect: Dialect) -> str:
    return ".".join(quote_ident(p, dialect) for p in parts)


def _compared(field: Field, column: str, dialect: Dialect) -> str:
    # Byte-wise text comparison is Python's code-point order for str (UTF-8 preserves it).
    if field.text:
        return f'{column} COLLATE "C"' if dialect == "postgresql" else f"{column} COLLATE BINARY"
    return column


def order_by(fields: Sequence[Field], columns: Sequence[tuple[str, ...]], dialect: Dialect) -> str:
    """``"a" DESC NULLS LAST, "id" ASC``: NULL placement spelled out for nullable fields. O(fields)."""
    items = []
    for field, parts in zip(fields, columns, strict=True):
        item = f"{_compared(field, _column(parts, dialect), dialect)} {field.direction.upper()}"
        # A not_null field gets no NULLS clause, so a plain index on it still matches.
        if field.nullable:
            item += f" NULLS {(field.nulls or 'last').upper()}"
        items.append(item)
    return ", ".join(items)


def _after(field: Field, column: str, compared: str, value: Value, ph: str) -> tuple[str, list[Value]] | None:
    """Condition for "this field sorts strictly after ``value``", or None when nothing can."""
    op = ">" if field.direction == "asc" else "<"
    if value is None:
        # A NULL cursor value: only non-NULLs can follow, and only if NULLs come first.
        if field.nullable and field.nulls == "first":
            return f"{column} IS NOT NULL", []
        return None
    if field.nullable and field.nulls == "last":
        return f"{compared} {op} {ph} OR {column} IS NULL", [value]
    return f"{compared} {op} {ph}", [value]


def _seek_prefix(fields: Sequence[Field], values: Sequence[Value]) -> int:
    """How many leading fields are not_null, of the first one's direction, with a value: the
    prefix an index seeks to with one (row-value) comparison."""
    m = 0
    for field, value in zip(fields, values, strict=True):
        if field.nullable or value is None or field.direction != fields[0].direction:
            break
        m += 1
    return m


def keyset(
    fields: Sequence[Field], columns: Sequence[tuple[str, ...]], values: Sequence[Value], dialect: Dialect
) -> tuple[str, list[Value]]:
    """``(fragment, params)`` selecting the rows strictly after the row with sort ``values``.

    When the order starts with not_null fields of one direction (the prefix ``P``), the form an
    index *seeks* with: ``P <= (?, ...) AND (P < (?, ...) OR <the rest after its values>)`` (``>``
    for ascending), the rest written the same way, recursively -- a row-value comparison for a
    prefix of two or more fields. That is one range bound the planner starts the index scan at
    (SQLite and PostgreSQL), so a deep page costs what the first does. Otherwise (a nullable
    first field) the expanded form ``(a > ?) OR (a = ? AND b > ?) OR ...`` with the NULL rules.
    O(fields²) text.
    """
    ph = "?" if dialect == "sqlite" else "%s"
    cols = [_column(p, dialect) for p in columns]
    compared = [_compared(f, c, dialect) for f, c in zip(fields, cols, strict=True)]
    m = _seek_prefix(fields, values)
    if m:
        op = ">" if fields[0].direction == "asc" else "<"
        prefix = list(values[:m])
        left = f"({', '.join(compared[:m])})" if m > 1 else compared[0]
        right = f"({', '.join([ph] * m)})" if m > 1 else ph
        if m == len(fields):
            return f"({left} {op} {right})", prefix
        rest, rest_params = keyset(fields[m:], columns[m:], values[m:], dialect)
        return f"({left} {op}= {right} AND ({left} {op} {right} OR {rest}))", [*prefix, *prefix, *rest_params]

    terms: list[str] = []
    params: list[Value] = []
    equal_sql: list[str] = []
    equal_params: list[Value] = []
    for field, col, cmp, value in zip(fields, cols, compared, values, strict=True):
        after = _after(field, col, cmp, value, ph)
        if after is not None:
            # Each term is parenthesized below; an OR inside needs its own only after ANDs.
            cond = f"({after[0]})" if equal_sql and " OR " in after[0] else after[0]
            terms.append(" AND ".join([*equal_sql, cond]))
            params += equal_params + after[1]
        if value is None:
            equal_sql.append(f"{col} IS NULL")
        else:
            equal_sql.append(f"{cmp} = {ph}")
            equal_params.append(value)
    if not terms:
        return "(1 = 0)", []
    body = " OR ".join(f"({t})" for t in terms)
    first, v0 = fields[0], values[0]
    if len(terms) > 1 and v0 is not None and (not first.nullable or first.nulls == "first"):
        # Redundant but index-friendly: every later row has the leading field on this side of v0.
        op = ">=" if first.direction == "asc" else "<="
        return f"({compared[0]} {op} {ph} AND ({body}))", [v0, *params]
    return f"({body})", params


def index(
    fields: Sequence[Field], columns: Sequence[tuple[str, ...]], table: tuple[str, ...], name: str,
    dialect: Dialect,
) -> str:
    """``CREATE INDEX IF NOT EXISTS`` for an order: each field's column (collated as compared),
    direction and, on PostgreSQL, NULL placement for nullable fields. O(fields)."""
    items = []
    for field, parts in zip(fields, columns, strict=True):
        item = f"{_compared(field, _column(parts, dialect), dialect)} {field.direction.upper()}"
        if field.nullable and dialect == "postgresql":
            item += f" NULLS {(field.nulls or 'last').upper()}"
        items.append(item)
    target = quote_ident(table[-1], dialect)
    index_name = quote_ident(name, dialect)
    if len(table) == 2:
        if dialect == "sqlite":  # SQLite qualifies the index, PostgreSQL the table
            index_name = f"{quote_ident(table[0], dialect)}.{index_name}"
        else:
            target = f"{quote_ident(table[0], dialect)}.{target}"
    return f"CREATE INDEX IF NOT EXISTS {index_name} ON {target} ({', '.join(items)})"


def branches(
    fields: Sequence[Field], columns: Sequence[tuple[str, ...]], values: Sequence[Value], dialect: Dialect
) -> list[tuple[str, list[Value]]]:
    """The rows after ``values`` as disjoint conditions, each of which an index *seeks* to, in the
    order their rows come.

    The fields are cut into segments: runs of not_null fields of one direction, and each nullable
    field alone. Branch by branch, from the last segment to the first: the segments before it
    equal to the cursor's values (``IS NULL`` for a NULL), and the segment strictly after its
    values -- a row-value bound for a run; for a nullable field its non-NULL values after the
    cursor's, then its NULLs when they sort last (or, after a NULL that sorts first, every
    non-NULL value). O(fields²) text."""
    ph = "?" if dialect == "sqlite" else "%s"
    cols = [_column(c, dialect) for c in columns]
    compared = [_compared(f, c, dialect) for f, c in zip(fields, cols, strict=True)]
    segments: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(fields) + 1):
        run = (i < len(fields) and not fields[i].nullable and not fields[start].nullable
               and fields[i].direction == fields[start].direction)
        if not run:
            segments.append((start, i))
            start = i
    out: list[tuple[str, list[Value]]] = []
    for lo, hi in reversed(segments):
        equal: list[str] = []
        equal_params: list[Value] = []
        for i in range(lo):
            if values[i] is None:
                equal.append(f"{cols[i]} IS NULL")
            else:
                equal.append(f"{compared[i]} = {ph}")
                equal_params.append(values[i])
        field, value = fields[lo], values[lo]
        op = ">" if field.direction == "asc" else "<"
        afters: list[tuple[str, list[Value]]] = []
        if hi - lo > 1:
            afters.append((f"({', '.join(compared[lo:hi])}) {op} ({', '.join([ph] * (hi - lo))})",
                           list(values[lo:hi])))
        elif value is not None:
            afters.append((f"{compared[lo]} {op} {ph}", [value]))
            if field.nullable and field.nulls == "last":
                afters.append((f"{cols[lo]} IS NULL", []))
        elif field.nullable and field.nulls == "first":
            afters.append((f"{cols[lo]} IS NOT NULL", []))
        for cond, params in afters:
            out.append((f"({' AND '.join([*equal, cond])})", [*equal_params, *params]))
    return out or [("(1 = 0)", [])]
