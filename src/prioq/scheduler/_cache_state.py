"""The scheduler's cache entries as part of its state (docs/architecture.md#caches).

A mixin of :class:`~prioq.scheduler._state.State`: the writes to the one cache
registry (:class:`~prioq.scheduler._caches.Caches`) keyed on the state version,
so an entry never matches a state other than the one it was computed from.
"""

from __future__ import annotations

from prioq.scheduler._caches import Caches
from prioq.selection import describe

__all__ = ["CacheState"]


class CacheState:
    """Remembered failures, reservations and reason texts (see :class:`Caches`)."""

    caches: Caches
    version: int

    def remember_failed_plan(self, key: tuple[object, ...], expiry: float) -> None:
        """A preemption plan for ``key`` failed in this state (see :class:`Caches`)."""
        fails = self.caches.preempt_fail
        if len(fails) > 4096:  # bounded: request shapes are few in practice
            fails.clear()
        fails[key] = (self.version, expiry)

    def remember_reservation(self, key: tuple[object, ...], choice: tuple[tuple[str, ...], float]) -> None:
        """Where a blocked job fits soonest, at this version (see :class:`Caches`)."""
        found = self.caches.reservations
        # all entries share one version: those of an older one can never match again
        if found and (len(found) > 64 or next(iter(found))[3] != self.version):
            found.clear()
        found[key] = choice

    def resources_message(self, shape: tuple[object, ...]) -> str:
        """The RESOURCES reason text of a request shape, built once (see :class:`Caches`)."""
        messages = self.caches.messages
        message = messages.get(shape)
        if message is None:
            if len(messages) > 4096:  # bounded: request shapes are few in practice
                messages.clear()
            request, nodes = shape[0], shape[1]
            assert isinstance(nodes, int)
            need = f" on {nodes} nodes" if nodes > 1 else ""
            among = f" among the nodes it selects ({describe(shape[2])})" if len(shape) > 2 else ""  # type: ignore[arg-type]
            message = messages[shape] = f"no node has {request} free{need}{among}"
        return message

    def plan_failed(self, key: tuple[object, ...], now: float) -> bool:
        failed = self.caches.preempt_fail.get(key)
        return failed is not None and failed[0] == self.version and now < failed[1]
