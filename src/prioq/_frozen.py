"""``FrozenMap``: the immutable, hashable ``str -> V`` mapping behind ``Labels`` and ``Weights``.

Policies and jobs are hashable values, so the mappings they hold must be too. Subclasses
build ``_items`` (sorted by key, so equal mappings hash alike) in their own ``__init__``,
where they validate their input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

__all__ = ["FrozenMap"]

V = TypeVar("V")


class FrozenMap(Mapping[str, V]):
    """Read-only mapping over ``self._items``; equal to any mapping with the same items. O(1) lookups."""

    __slots__ = ("_items",)
    _items: dict[str, V]

    def __getitem__(self, key: str) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented
