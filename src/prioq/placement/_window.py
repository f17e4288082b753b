"""FGD's learnt workload: a window of recent arrivals, and its persisted text.

:class:`ArrivalWindow` counts the task types of the last ``size`` arrivals
(``size=None``: every arrival ever; ``0``: none), plus a fixed *seed* (a trace's
tasks, the paper's typical pods) that never slides out. An arrival enters on
submit and leaves only by sliding out of the window: the distribution is of
what *arrives*, as the FGD paper's is of the trace, so a cancel or a release
does not change it.

The window is scheduler state (a restart must place exactly as before), so it
has a compact text form, :meth:`ArrivalWindow.text`, that the scheduler
persists with every call that changed it: the task types seen (in id order)
and the seed's count per type, and the ring of recent arrivals, each a fixed-width code of its type id in a
64-letter alphabet (one character per arrival while there are at most 64
types, which is the common case). Counts are derived from the ring on load.
With ``size=None`` the text holds a count per type instead of a ring.

Cost: an arrival is O(1) plus one copy of the ring text when the window is full
(a memcpy of ``size`` characters, microseconds); the text is cached until the
next arrival, so asking for it twice costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from prioq import _validate
from prioq.errors import InvalidPolicy
from prioq.resources import GPURequest, Range

__all__ = ["ArrivalWindow", "decode_task", "encode_task"]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
_DIGIT = {c: i for i, c in enumerate(_ALPHABET)}
_BASE = len(_ALPHABET)
FORMAT = 1
"""Version of the text form (``"fgd"`` key)."""


def _width(types: int) -> int:
    """Characters per code so that ``types`` ids fit."""
    width, span = 1, _BASE
    while span < types:
        width += 1
        span *= _BASE
    return width


def _code(tid: int, width: int) -> str:
    out = []
    for _ in range(width):
        tid, digit = divmod(tid, _BASE)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def _id(code: str) -> int:
    tid = 0
    for c in code:
        tid = tid * _BASE + _DIGIT[c]
    return tid


def encode_task(task: Any) -> list[Any]:
    """A task type as JSON-ready values: ``[cpu, share, gpus]`` plus its GPU filter, if any."""
    out: list[Any] = [task.cpu_milli, task.gpu_milli, task.gpus]
    g = task.gpu
    if g is not None:
        memory = None if g.memory is None else [g.memory.min, g.memory.max]
        out.append([list(g.names), g.vendor, memory])
    return out


def decode_task(value: Any) -> tuple[int, int, int, GPURequest | None]:
    """The fields of a task type from :func:`encode_task`'s form (``InvalidPolicy`` when malformed)."""
    if not isinstance(value, list) or len(value) not in (3, 4):
        raise InvalidPolicy(f"fragmentation-aware state: malformed task type {value!r}")
    cpu, share, gpus = value[:3]
    gpu = None
    if len(value) == 4:
        spec = value[3]
        if not (isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], list)):
            raise InvalidPolicy(f"fragmentation-aware state: malformed GPU filter {spec!r}")
        names, vendor, memory = spec
        if memory is not None and not (isinstance(memory, list) and len(memory) == 2):
            raise InvalidPolicy(f"fragmentation-aware state: malformed GPU memory {memory!r}")
        try:
            gpu = GPURequest(
                count=Range(1, 1),
                names=tuple(names),
                vendor=vendor,
                memory=None if memory is None else Range(memory[0], memory[1]),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidPolicy(f"fragmentation-aware state: bad GPU filter {spec!r}: {exc}") from exc
    return cpu, share, gpus, gpu


class ArrivalWindow:
    """Counts of the task types among the last ``size`` arrivals (``None``: all of them).

    Types are whatever hashable values the caller gives (FGD's ``TaskType``); ``encode``/
    ``decode`` turn one into JSON-ready values and back, for :meth:`text`/:meth:`restore`.
    """

    __slots__ = ("_ids", "_prior", "_ring", "_size", "_tally", "_text", "_types", "_types_json", "_width")

    def __init__(self, size: int | None) -> None:
        if size is not None:
            _validate.integer(size, "fragmentation-aware: window", error=InvalidPolicy, minimum=0)
        self._size = size
        self._types: list[Any] = []  # type id -> type
        self._ids: dict[Any, int] = {}
        self._tally: list[int] = []  # type id -> arrivals of that type in the window
        self._prior: list[int] = []  # type id -> seed tasks of that type (they never slide out)
        self._width = 1
        self._ring = ""  # fixed-width codes of the window's arrivals, oldest first (size only)
        self._text: str | None = None
        self._types_json: str | None = None

    @property
    def size(self) -> int | None:
        return self._size

    def __len__(self) -> int:
        """Arrivals in the window (the seed not included)."""
        return sum(self._tally)

    def counts(self) -> Iterator[tuple[Any, int]]:
        """``(type, count)`` of the seed and the window together, in first-seen order. O(T)."""
        for task, count, prior in zip(self._types, self._tally, self._prior, strict=True):
            if count + prior:
                yield task, count + prior

    def seed(self, task: Any) -> None:
        """One task of the seed: counted for good, whatever arrives later. O(1)."""
        tid = self._ids.get(task)
        if tid is None:
            tid = self._register(task)
        self._prior[tid] += 1
        self._text = None

    # ------------------------------------------------------------------ changes

    def add(self, task: Any) -> None:
        """One arrival; the oldest slides out when the window is full. O(1) + one ring copy."""
        if self._size == 0:
            return
        tid = self._ids.get(task)
        if tid is None:
            tid = self._register(task)
        self._tally[tid] += 1
        self._text = None
        if self._size is None:
            return
        code = _code(tid, self._width)
        if len(self._ring) < self._size * self._width:
            self._ring += code
            return
        w = self._width
        old = _id(self._ring[:w])
        self._tally[old] -= 1
        self._ring = self._ring[w:] + code

    def remove(self, task: Any) -> bool:
        """Take the oldest arrival of ``task`` out of the window (not done by the scheduler). O(size)."""
        tid = self._ids.get(task)
        if tid is None or self._tally[tid] == 0:
            return False
        self._tally[tid] -= 1
        self._text = None
        if self._size is not None:
            code, w = _code(tid, self._width), self._width
            at = next(i for i in range(0, len(self._ring), w) if self._ring[i : i + w] == code)
            self._ring = self._ring[:at] + self._ring[at + w :]
        return True

    def _register(self, task: Any) -> int:
        if self._size is not None and len(self._types) >= 2 * self._live() + 64:
            self._compact()  # types that slid out entirely: bounded by the window, not history
        tid = len(self._types)
        self._types.append(task)
        self._ids[task] = tid
        self._tally.append(0)
        self._prior.append(0)
        self._types_json = None
        if _width(len(self._types)) != self._width:
            self._recode(list(range(len(self._types))), _width(len(self._types)))
        return tid

    def _compact(self) -> None:
        """Drop types with no arrival in the window, keeping the others' relative order."""
        keep = [tid for tid, count in enumerate(self._tally) if count or self._prior[tid]]
        new_id = {old: new for new, old in enumerate(keep)}
        self._types = [self._types[t] for t in keep]
        self._ids = {task: i for i, task in enumerate(self._types)}
        self._tally = [self._tally[t] for t in keep]
        self._prior = [self._prior[t] for t in keep]
        self._recode([new_id.get(t, 0) for t in range(max(keep, default=-1) + 1)], _width(len(keep) + 1))
        self._types_json = None

    def _live(self) -> int:
        return sum(1 for count, prior in zip(self._tally, self._prior, strict=True) if count or prior)

    def _recode(self, mapping: list[int], width: int) -> None:
        """Rewrite the ring with ids ``mapping[old]`` at ``width`` characters each. O(size)."""
        w = self._width
        ring = self._ring
        self._ring = "".join(_code(mapping[_id(ring[i : i + w])], width) for i in range(0, len(ring), w))
        self._width = width

    # ------------------------------------------------------------------ text form

    def text(self, encode: Any, extra: dict[str, Any] | None = None) -> str:
        """The window as JSON text; cached until the next change (and when ``extra`` is None)."""
        if self._text is not None and extra is None:
            return self._text
        if self._types_json is None:
            self._types_json = json.dumps([encode(t) for t in self._types], separators=(",", ":"))
        if self._size is None:
            tail = f'"counts":{json.dumps(self._tally, separators=(",", ":"))}'
        else:
            tail = f'"width":{self._width},"ring":"{self._ring}"'
        if any(self._prior):
            tail += f',"seed":{json.dumps(self._prior, separators=(",", ":"))}'
        more = "" if not extra else "," + json.dumps(extra, separators=(",", ":"))[1:-1]
        text = f'{{"fgd":{FORMAT},"window":{json.dumps(self._size)},"types":{self._types_json},{tail}{more}}}'
        if extra is None:
            self._text = text
        return text

    def restore(self, text: str, decode: Any) -> dict[str, Any]:
        """Replace the window with the one ``text`` describes; returns the parsed object.

        A text made with another window size keeps its most recent arrivals (a stored
        count-only window, ``None``, is replayed in type order). ``InvalidPolicy`` when
        the text is not a window's.
        """
        if not isinstance(text, str):
            message = f"fragmentation-aware state: expected text, got {text!r}"
            raise _validate.wrong_type(InvalidPolicy, message)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidPolicy(f"fragmentation-aware state: not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("fgd") != FORMAT or not isinstance(data.get("types"), list):
            raise InvalidPolicy(f"fragmentation-aware state: not a window of format {FORMAT}: {text[:80]!r}")
        types = [decode(v) for v in data["types"]]
        fresh = ArrivalWindow(self._size)
        fresh._types = types
        fresh._ids = {task: i for i, task in enumerate(types)}
        if len(fresh._ids) != len(types):
            raise InvalidPolicy("fragmentation-aware state: a task type is listed twice")
        fresh._width = _width(len(types))
        prior = data.get("seed")
        fresh._prior = [0] * len(types) if prior is None else self._counts(prior, len(types))
        counts = data.get("counts")
        if counts is not None and self._size is None:
            fresh._tally = self._counts(counts, len(types))
        else:
            arrivals = self._arrivals(data, len(types), self._size)
            fresh._tally = [0] * len(types)
            for tid in arrivals:
                fresh._tally[tid] += 1
            if self._size is not None:
                fresh._ring = "".join(_code(t, fresh._width) for t in arrivals)
        for slot in self.__slots__:
            setattr(self, slot, getattr(fresh, slot))
        return data

    @staticmethod
    def _counts(counts: object, n_types: int) -> list[int]:
        if not (isinstance(counts, list) and len(counts) == n_types):
            raise InvalidPolicy("fragmentation-aware state: counts do not match the task types")
        for c in counts:
            _validate.integer(c, "fragmentation-aware state: a count", error=InvalidPolicy, minimum=0)
        return list(counts)

    @classmethod
    def _arrivals(cls, data: dict[str, Any], n_types: int, size: int | None) -> list[int]:
        """The stored arrivals as type ids, oldest first, the last ``size`` of them (a count-only
        window is replayed in type order)."""
        counts = data.get("counts")
        if counts is not None:
            tally = cls._counts(counts, n_types)
            out: list[int] = []
            for tid in range(n_types - 1, -1, -1):  # from the end: at most ``size`` ids built
                take = tally[tid] if size is None else min(tally[tid], size - len(out))
                out.extend([tid] * take)
            out.reverse()
            return out
        ring, width = data.get("ring"), data.get("width")
        if not isinstance(ring, str) or not isinstance(width, int) or width < 1 or len(ring) % width:
            raise InvalidPolicy("fragmentation-aware state: malformed ring")
        if any(c not in _DIGIT for c in ring):
            raise InvalidPolicy("fragmentation-aware state: malformed ring")
        ids = [_id(ring[i : i + width]) for i in range(0, len(ring), width)]
        if any(t >= n_types for t in ids):
            raise InvalidPolicy("fragmentation-aware state: the ring names an unknown task type")
        if size is None or size >= len(ids):
            return ids
        return ids[len(ids) - size :]
