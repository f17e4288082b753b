"""What every loader shares: reading (gzip, UTF-8), CSV rows with located errors, :class:`TraceError`.

Errors in a file name the file, the line (1 is the header of a CSV file) and
the field; errors in a loader's own arguments are :class:`~prioq.InvalidValue`
(wrong types its ``...Type`` variant), never a builtin exception.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from typing import IO, cast

from prioq import _validate
from prioq.errors import InvalidSpec, InvalidValue
from prioq.model import Job, Node

__all__ = [
    "MIB",
    "MIN_DURATION",
    "PathLike",
    "Row",
    "TraceError",
    "check_path",
    "check_priorities",
    "csv_rows",
    "first_line",
    "labels_of",
    "lines",
    "node_list",
    "sorted_jobs",
    "unique",
]

MIB = 1024 * 1024

MIN_DURATION = 1.0
"""Shortest duration a loader produces, in seconds.

Traces record whole seconds, so a job can show a zero runtime; ``Job.duration``
must be positive, and a job that ran at all held its resources for a moment.
"""


class TraceError(InvalidSpec):
    """A trace or node file is malformed: names the ``path``, ``line`` (or ``None``) and ``field``."""

    def __init__(self, path: str, line: int | None, field: str, reason: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field}: {reason}")

    def __reduce__(self) -> tuple[type[TraceError], tuple[str, int | None, str, str]]:
        return (TraceError, (self.path, self.line, self.field, self.reason))


PathLike = str | os.PathLike[str]



def lines(path: PathLike) -> Iterator[str]:
    """Text lines of ``path``, gunzipped if it starts with the gzip magic bytes.

    Decompression and decoding failures surface as :class:`TraceError` naming
    the line that could not be read.
    """
    shown = os.fspath(path)
    lineno = 0
    with ExitStack() as stack:
        try:
            raw = stack.enter_context(open(path, "rb"))
        except OSError as exc:
            raise TraceError(shown, None, "file", f"cannot open: {exc.strerror or exc}") from exc
        binary: IO[bytes] = raw
        if raw.peek(2)[:2] == b"\x1f\x8b":
            gz = gzip.GzipFile(fileobj=raw, mode="rb")
            stack.callback(gz.close)
            binary = cast(IO[bytes], gz)
        text = stack.enter_context(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
        while True:
            try:
                line = text.readline()
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise TraceError(shown, lineno + 1, "gzip", f"corrupt compressed data ({exc})") from exc
            except UnicodeDecodeError as exc:
                raise TraceError(shown, lineno + 1, "encoding", f"not UTF-8 text ({exc.reason})") from exc
            except OSError as exc:
                raise TraceError(shown, lineno + 1, "file", f"read failed: {exc}") from exc
            if not line:
                return
            lineno += 1
            yield line


class Row:
    """Field parsing with errors that name file, line and field."""

    __slots__ = ("line", "path", "values")

    def __init__(self, path: str, line: int, values: Mapping[str, str]) -> None:
        self.path = path
        self.line = line
        self.values = values

    def error(self, field: str, reason: str) -> TraceError:
        return TraceError(self.path, self.line, field, reason)

    def text(self, field: str) -> str:
        return self.values.get(field, "").strip()

    def optional_text(self, field: str) -> str | None:
        value = self.text(field)
        return None if value == "" or value.lower() == "nan" else value

    def number(self, field: str, *, integral: bool = False, minimum: float | None = 0.0) -> float:
        raw = self.text(field)
        if raw == "":
            raise self.error(field, "missing value")
        try:
            value = float(raw)
        except ValueError:
            raise self.error(field, f"not a number: {raw!r}") from None
        if not math.isfinite(value):
            raise self.error(field, f"not a finite number: {raw!r}")
        if integral and not value.is_integer():
            raise self.error(field, f"not a whole number: {raw!r}")
        if minimum is not None and value < minimum:
            raise self.error(field, f"must be >= {minimum:g}, got {raw}")
        return value

    def optional_number(
        self, field: str, *, integral: bool = False, minimum: float | None = 0.0
    ) -> float | None:
        raw = self.text(field)
        if raw == "" or raw.lower() == "nan":
            return None
        return self.number(field, integral=integral, minimum=minimum)

    def integer(self, field: str, *, minimum: int | None = 0) -> int:
        return int(self.number(field, integral=True, minimum=minimum))


def csv_rows(
    path: PathLike, required: Sequence[str], *, known: Iterable[str] | None = None
) -> tuple[list[str], Iterator[Row]]:
    """The header and an iterator of rows as :class:`Row`.

    Missing required columns are reported against line 1; with ``known``,
    columns outside it (other than ``label.*``) are rejected so typos do not
    pass silently. Rows must have exactly as many fields as the header; blank
    lines are skipped.
    """
    shown = os.fspath(path)
    reader = csv.reader(lines(path))
    try:
        header = next(reader)
    except StopIteration:
        raise TraceError(shown, 1, "header", "empty file, expected a CSV header") from None
    except csv.Error as exc:
        raise TraceError(shown, 1, "header", f"malformed CSV: {exc}") from exc
    header = [h.strip() for h in header]
    for col in required:
        if col not in header:
            raise TraceError(shown, 1, col, f"missing column (header has {', '.join(header)})")
    if known is not None:
        allowed = set(known)
        for col in header:
            if col not in allowed and not col.startswith("label."):
                raise TraceError(shown, 1, col, f"unknown column (known: {', '.join(sorted(allowed))})")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise TraceError(shown, 1, dup, "column appears twice")

    def rows() -> Iterator[Row]:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise TraceError(shown, reader.line_num, "row", f"malformed CSV: {exc}") from exc
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise TraceError(
                    shown, reader.line_num, "row", f"expected {len(header)} fields, got {len(fields)}"
                )
            yield Row(shown, reader.line_num, dict(zip(header, fields, strict=True)))

    return header, rows()


def sorted_jobs(jobs: list[Job]) -> tuple[Job, ...]:
    # Stable: equal submission times keep file order.
    return tuple(sorted(jobs, key=lambda j: j.submitted_at))


def unique(row: Row, field: str, value: str, seen: set[str]) -> None:
    if value in seen:
        raise row.error(field, f"duplicate id {value!r}")
    seen.add(value)



def labels_of(row: Row, header: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for col in header:
        if col.startswith("label."):
            key = col[len("label."):]
            if not key:
                raise row.error(col, "empty label name")
            value = row.text(col)
            if value:
                labels[key] = value
    return labels



def first_line(path: PathLike) -> str:
    for line in lines(path):
        if line.strip():
            return line.strip()
    return ""



def check_path(value: object, what: str) -> PathLike:
    """A file path argument: a string or ``os.PathLike`` (``open(5)`` would open file descriptor 5)."""
    if not isinstance(value, str | os.PathLike):
        raise _validate.wrong_type(InvalidValue, f"{what}: expected a file path, got {value!r}")
    return value


def check_priorities(table: object, what: str, key: type) -> dict[object, int]:
    """A priority table argument (``{qos: priority}``...) as a dict: keys of type ``key``, priorities
    ints within ``prioq._validate.MAX_PRIORITY``. ``None`` is an empty table."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise _validate.wrong_type(InvalidValue, f"{what}: expected a mapping, got {table!r}")
    for k, prio in table.items():
        _validate.instance(k, key, f"{what} key")
        _validate.priority(prio, f"{what}[{k!r}]", error=InvalidValue)
    return dict(table)


def node_list(
    nodes: object, what: str, load: Callable[[PathLike], tuple[Node, ...]] | None
) -> tuple[Node, ...]:
    """The ``nodes`` argument of a loader: ``None``, nodes, or (with ``load``) a node file path."""
    if nodes is None:
        return ()
    if isinstance(nodes, str | os.PathLike):
        if load is None:
            raise _validate.wrong_type(InvalidValue, f"{what}: expected nodes, got the path {nodes!r}")
        return load(nodes)
    if not isinstance(nodes, Iterable):
        raise _validate.wrong_type(InvalidValue, f"{what}: expected nodes or a node file, got {nodes!r}")
    return tuple(_validate.instance(n, Node, f"{what} item") for n in nodes)
