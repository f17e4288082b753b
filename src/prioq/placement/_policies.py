"""The placement policy protocol and the built-in policies (docs/scheduler.md#placement).

A policy walks the :class:`~prioq.placement.NodeIndex` buckets in its own
preference order and takes the first node where :func:`prioq.resources.fit`
succeeds. Ties are always broken by node order (the order nodes were added in),
so placement is deterministic.

``first-fit``
    the first node in node order that fits.
``best-fit`` (default)
    the node left tightest: fewest wholly free GPUs for whole-GPU requests,
    the device with the smallest sufficient free share for fractional ones,
    least free CPU for CPU-only ones.
``spread``
    the opposite of best-fit: most free capacity first.
``fragmentation-aware``
    Fragmentation Gradient Descent (Weng et al., USENIX ATC'23), see
    :mod:`prioq.placement.fragmentation`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from prioq import _validate
from prioq.errors import InvalidPolicy
from prioq.placement._index import Allow, NodeIndex, NodeState, Prefer, always
from prioq.resources import ResourceRequest, Resources, fit

__all__ = [
    "PLACEMENTS",
    "BestFit",
    "FirstFit",
    "PlacementPolicy",
    "Spread",
    "place_with_room",
    "placement_policy",
    "still_no_room",
]


@runtime_checkable
class PlacementPolicy(Protocol):
    """Chooses a node for one job (one gang member) among the index's candidates.

    ``place`` returns the chosen node and the allocation there, or ``None``.
    ``allow(node, allocation)`` is the scheduler's veto (reservations,
    nominations, nodes a gang already uses); a policy must respect it.
    ``observe`` sees every submitted request (FGD learns the workload from it);
    the scheduler does not call ``forget`` (a cancel or a release is not an
    arrival), it stays for policies used directly.

    A policy that learns may also offer ``state() -> str | None`` and
    ``restore(text)`` (FGD does; they are optional, outside this protocol): the
    scheduler then shows it arrivals inside the call, commits ``state()`` with
    every call that changed it, restores the text when a scheduler reopens from
    its store, and restores the text from before a call that failed. Keep
    ``state()`` cheap when nothing changed (return the same text).
    """

    @property
    def name(self) -> str: ...

    def place(
        self, request: ResourceRequest, index: NodeIndex, allow: Allow = always
    ) -> tuple[NodeState, Resources] | None: ...

    def observe(self, request: ResourceRequest) -> None: ...

    def forget(self, request: ResourceRequest) -> None: ...


@attrs.frozen(slots=True)
class _Ordered:
    """A policy that takes the first fitting candidate in its preference order."""

    name: str
    prefer: Prefer

    def place(
        self, request: ResourceRequest, index: NodeIndex, allow: Allow = always
    ) -> tuple[NodeState, Resources] | None:
        """O(log n) per visited candidate; stops at the first fit."""
        for ns in index.candidates(request, self.prefer):
            alloc = fit(request, ns.free)
            if alloc is not None and allow(ns, alloc):
                return ns, alloc
        return None

    def observe(self, request: ResourceRequest) -> None:
        return None

    def forget(self, request: ResourceRequest) -> None:
        return None


Placed = tuple[NodeState, Resources]


def place_with_room(
    policy: PlacementPolicy, request: ResourceRequest, index: NodeIndex, allow: Allow
) -> tuple[Placed | None, Placed | None]:
    """``policy.place`` under ``allow``, and, when that finds nothing, where the request
    would go ignoring ``allow`` (``None``: nowhere). A built-in ordered policy asks
    ``allow`` only of fitting candidates, in its preference order, so the first one it
    asks is the choice without the veto: one walk. Any other policy: a second walk
    when the first found nothing."""
    if not isinstance(policy, _Ordered):
        got = policy.place(request, index, allow)
        return got, (None if got is not None else policy.place(request, index, always))
    first: list[Placed] = []

    def noting(ns: NodeState, alloc: Resources) -> bool:
        if not first:
            first.append((ns, alloc))
        return allow(ns, alloc)

    got = policy.place(request, index, noting)
    return got, (None if got is not None or not first else first[0])


def still_no_room(policy: PlacementPolicy, request: ResourceRequest, index: NodeIndex, mark: int) -> bool:
    """Whether ``request`` still fits no node, given that it fit none at ``index.clock ==
    mark``: only the nodes changed since are checked (``False`` when that cannot be told,
    or for a policy other than the built-in ordered ones, which take any node that fits).
    O(changes since mark)."""
    if not isinstance(policy, _Ordered):
        return False
    changed = index.changed_since(mark)
    if changed is None:
        return False
    return not any(nid in index and fit(request, index.get(nid).free) is not None for nid in set(changed))


def FirstFit() -> PlacementPolicy:
    """The first node, in node order, that fits."""
    return _Ordered("first-fit", "first")


def BestFit() -> PlacementPolicy:
    """The node left tightest (see the module docstring)."""
    return _Ordered("best-fit", "best")


def Spread() -> PlacementPolicy:
    """The node with the most free capacity of the requested kind."""
    return _Ordered("spread", "spread")


def _fragmentation_aware() -> PlacementPolicy:
    from prioq.placement.fragmentation import FragmentationAware

    return FragmentationAware()


PLACEMENTS: dict[str, Callable[[], PlacementPolicy]] = {
    "first-fit": FirstFit,
    "best-fit": BestFit,
    "spread": Spread,
    "fragmentation-aware": _fragmentation_aware,
}
"""Built-in placement policies by name."""


def placement_policy(spec: str | PlacementPolicy) -> PlacementPolicy:
    """A policy from its name (``"best-fit"``...) or a user object implementing the protocol.

    An unknown name raises :class:`~prioq.InvalidPolicy`; anything else that does not
    implement the protocol its ``...Type`` variant (also a ``TypeError``).
    """
    if isinstance(spec, str):
        factory = PLACEMENTS.get(spec)
        if factory is None:
            raise InvalidPolicy(f"placement: unknown policy {spec!r}; known: {', '.join(PLACEMENTS)}")
        return factory()
    if not isinstance(spec, PlacementPolicy):
        raise _validate.wrong_type(InvalidPolicy, f"placement: {spec!r} does not implement PlacementPolicy")
    return spec

