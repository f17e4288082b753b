"""The scheduler's caches: facts derived from its state, kept between calls
(docs/architecture.md#caches). :class:`~prioq.scheduler._state.State` owns one and
resets it on every rollback."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import attrs

from prioq.placement import NodeState
from prioq.resources import ResourceRequest

__all__ = ["Caches"]


@attrs.define(slots=True, eq=False)
class Caches:
    """Facts derived from the state and kept between calls to make cycles cheap.

    The one registry of the scheduler's caches: a rollback resets them all, so a
    cache can never hold a fact about a state that was undone. Each is also keyed
    or cleared on what can change its answer (see the field docs).
    """

    capable: dict[Hashable, list[NodeState]] = attrs.Factory(dict)
    """request (or (request, selection)) -> nodes whose capacity could ever hold it (among those
    the selection may use); cleared on node changes, cordons and uncordons."""
    capable_ids: dict[Hashable, tuple[list[NodeState], frozenset[str]]] = attrs.Factory(dict)
    """the same key -> (the ``capable`` list it was built from, that list's node ids): valid
    while ``capable`` holds that very list (node changes replace it)."""
    preempt_fail: dict[tuple[object, ...], tuple[int, float]] = attrs.Factory(dict)
    """preemption-plan key -> (state version, expiry): a plan that failed stays failed
    until the version changes or a running job's min_runtime protection ends."""
    messages: dict[tuple[object, ...], str] = attrs.Factory(dict)
    """(request, gang size[, selection]) -> the RESOURCES message text (a pure function of the key)."""
    reservations: dict[tuple[object, ...], tuple[tuple[str, ...], float]] = attrs.Factory(dict)
    """(job, request, gang, version, excluded nodes) -> the nodes where it fits soonest and
    when they free up (the reservation's searches; a key never matches another version)."""
    # Keyed on per-node change marks (docs/architecture.md#caches): (request, 1) -> the node
    # index's clock when it fit no node; node -> plan key -> (preemption plan, valid until);
    # (request, node) -> [candidate-index stamp, earliest end there, when it fits there].
    no_room: dict[tuple[object, ...], int] = attrs.Factory(dict)
    node_plans: dict[str, dict[tuple[object, ...], tuple[Any, float]]] = attrs.Factory(dict)
    soonest: dict[tuple[ResourceRequest, str], list[Any]] = attrs.Factory(dict)

    def reset(self) -> None:
        self.capable.clear()
        self.capable_ids.clear()
        self.preempt_fail.clear()
        self.messages.clear()
        self.reservations.clear()
        self.soonest.clear()
        self.node_plans.clear()
        self.no_room.clear()

    def remember_no_room(self, shape: tuple[object, ...], mark: int) -> None:
        """``shape`` fit no node at the node index's clock ``mark``."""
        if len(self.no_room) > 4096:  # bounded: request shapes are few in practice
            self.no_room.clear()
        self.no_room[shape] = mark
