"""The undo journal under :class:`~prioq.scheduler._state.State`.

A base of ``State`` (docs/architecture.md#the-transaction-contract): every mutator
applies its change through :meth:`Journal._do`, which records the inverse; a failed
call replays the inverses backwards. The mixins that keep policy state (quotas,
caches) build on these primitives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Journal"]


class Journal:
    """Journaled primitives: apply a change and remember how to undo it. O(1) each."""

    _undo: list[Callable[[], None]] | None
    version: int
    """Bumped by every change of free capacity, running set, nominations or node set,
    and by every rollback, so caches keyed on it never outlive their state."""
    extras: dict[str, str]
    _dirty_extras: set[str]

    def _do(self, apply: Callable[[], Any], undo: Callable[[], Any]) -> None:
        apply()
        assert self._undo is not None, "state changes only inside a transaction"
        self._undo.append(undo)

    def bump(self) -> None:
        # Never rolled back (a rollback bumps it once more): a cache entry keyed on a
        # version must never match a state other than the one it was computed from.
        self.version += 1

    def _set_item(self, d: dict[Any, Any], key: Any, value: Any) -> None:
        had = key in d
        old = d.get(key)

        def undo() -> None:
            if had:
                d[key] = old
            else:
                d.pop(key, None)

        self._do(lambda: d.__setitem__(key, value), undo)

    def _del_item(self, d: dict[Any, Any], key: Any) -> None:
        if key in d:
            old = d[key]
            self._do(lambda: d.pop(key), lambda: d.__setitem__(key, old))

    def put_extra(self, key: str, text: str | None) -> None:
        """Set (or with ``None`` delete) one key of the policies' keyed state; the next commit
        writes it. Journaled. O(1)."""
        if self.extras.get(key) == text:
            return
        if text is None:
            self._del_item(self.extras, key)
        else:
            self._set_item(self.extras, key, text)
        self._dirty_extras.add(key)
