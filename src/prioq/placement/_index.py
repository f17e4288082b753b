"""The node index: nodes filed in buckets by what a request needs (docs/scheduler.md#placement).

Finding a fit never scans the whole cluster for a typical job:

* whole-GPU requests: per GPU model, per count of wholly free devices;
* fractional requests: per GPU model, per free share of a device (milli-GPU);
* CPU-only requests: by free CPU.

Placement policies (:mod:`prioq.placement._policies`) walk those buckets in
their own preference order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import attrs
from sortedcontainers import SortedDict, SortedKeyList

from prioq.model import Node
from prioq.resources import GPU, MILLI, ResourceRequest, Resources

__all__ = ["Allow", "NodeIndex", "NodeState", "Prefer", "always"]

Prefer = Literal["first", "best", "spread"]
Allow = Callable[["NodeState", Resources], bool]


def always(_ns: NodeState, _alloc: Resources) -> bool:
    return True


@attrs.define(slots=True, eq=False)
class NodeState:
    """A node as the scheduler sees it: capacity, what is free, who runs there.

    ``order`` is the node's position in the cluster (the order nodes were added
    in); every policy breaks ties by it.
    """

    node: Node
    order: int
    free: Resources
    jobs: set[str] = attrs.field(factory=set)

    @property
    def id(self) -> str:
        return self.node.id


def _order(ns: NodeState) -> int:
    return ns.order


def _cpu_key(ns: NodeState) -> tuple[int, int]:
    return (ns.free.cpu_milli, ns.order)


def _node_models(free: Resources) -> dict[GPU, tuple[int, set[int]]]:
    """Per GPU model on the node: (wholly free devices, set of distinct free shares > 0)."""
    out: dict[GPU, tuple[int, set[int]]] = {}
    for d in free.gpus:
        whole, shares = out.get(d.gpu, (0, set()))
        if d.milli == MILLI:
            whole += 1
        if d.milli > 0:
            shares.add(d.milli)
        out[d.gpu] = (whole, shares)
    return out


class NodeIndex:
    """Buckets of nodes by free resources, kept exact under every allocation and release.

    ``add``/``remove``/``update`` cost O(d log n) for a node with d devices.
    :meth:`candidates` yields nodes lazily in a policy's preference order,
    touching only buckets that can hold the request's GPU part.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, NodeState] = {}
        self._by_order: SortedKeyList[NodeState, Any] = SortedKeyList(key=_order)
        self._by_cpu: SortedKeyList[NodeState, Any] = SortedKeyList(key=_cpu_key)
        # (model, wholly free devices) -> nodes by order
        self._whole: dict[tuple[GPU, int], SortedKeyList[NodeState, Any]] = {}
        # model -> free share (milli) -> nodes having a device of that model with that share
        self._share: dict[GPU, SortedDict[int, SortedKeyList[NodeState, Any]]] = {}
        # what each node is filed under, so removal is exact
        self._filed: dict[str, list[tuple[GPU, int, frozenset[int]]]] = {}
        self._models: dict[GPU, int] = {}
        # nodes with several GPU models: a whole-GPU request may need devices of two of them
        self._mixed: dict[str, NodeState] = {}
        # nodes added or whose free capacity changed, in order (the recent ones): lets a
        # caller that found no room re-check only what changed since (changed_since)
        self._log: list[str] = []
        self._log_base = 0
        # node id -> the views (sub-indexes, see view()) it is filed in
        self._in_views: dict[str, list[NodeIndex]] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[NodeState]:
        """Nodes in node order."""
        return iter(self._by_order)

    def get(self, node_id: str) -> NodeState:
        return self._nodes[node_id]

    def models(self) -> list[GPU]:
        """GPU models present in the cluster."""
        return [m for m, n in self._models.items() if n]

    @property
    def clock(self) -> int:
        """A mark for :meth:`changed_since`: the number of changes so far. O(1)."""
        return self._log_base + len(self._log)

    def changed_since(self, mark: int) -> list[str] | None:
        """Ids of the nodes added or re-filed since ``mark`` (repeats possible, some may be
        gone), or ``None`` if that is too long ago to tell. O(changes since)."""
        if mark < self._log_base:
            return None
        return self._log[mark - self._log_base:]

    def _changed(self, node_id: str) -> None:
        if len(self._log) >= 8192:  # bounded: keep the recent half
            self._log_base += 4096
            del self._log[:4096]
        self._log.append(node_id)

    def add(self, ns: NodeState) -> None:
        self._changed(ns.id)
        self._nodes[ns.id] = ns
        self._by_order.add(ns)
        if len({d.gpu for d in ns.node.capacity.gpus}) > 1:
            self._mixed[ns.id] = ns
        for d in ns.node.capacity.gpus:
            self._models[d.gpu] = self._models.get(d.gpu, 0) + 1
        self._file(ns)

    def view(self, node_ids: Iterable[str]) -> NodeIndex:
        """A sub-index of these nodes of this index (node selection, docs/scheduler.md#node-selection),
        kept in step with it: every :meth:`update` here re-files the node there too, so a
        placement restricted to the view walks only its buckets. Nodes added later are not in
        it; :meth:`drop_views` detaches every view. O(m log m) for m nodes."""
        sub = NodeIndex()
        for nid in node_ids:
            sub.add(self._nodes[nid])
            self._in_views.setdefault(nid, []).append(sub)
        return sub

    def drop_views(self) -> None:
        """Stop keeping every view made by :meth:`view` in step. O(views' nodes)."""
        self._in_views.clear()

    def remove(self, node_id: str) -> NodeState:
        for sub in self._in_views.pop(node_id, ()):
            sub.remove(node_id)
        ns = self._nodes.pop(node_id)
        self._mixed.pop(node_id, None)
        self._unfile(ns)
        self._by_order.remove(ns)
        for d in ns.node.capacity.gpus:
            self._models[d.gpu] -= 1
        return ns

    def update(self, ns: NodeState, free: Resources) -> None:
        """Set a node's free resources and re-file it (in its views too). O(d log n) per index."""
        self._changed(ns.id)
        views = self._in_views.get(ns.id)
        if views:
            for sub in views:  # before ns.free changes: unfiling finds the node by its old free
                sub._changed(ns.id)
                sub._unfile(ns)
        self._unfile(ns)
        ns.free = free
        self._file(ns)
        if views:
            for sub in views:
                sub._file(ns)

    def _file(self, ns: NodeState) -> None:
        self._by_cpu.add(ns)
        filed = []
        for model, (whole, shares) in _node_models(ns.free).items():
            if whole:
                bucket = self._whole.get((model, whole))
                if bucket is None:
                    bucket = self._whole[(model, whole)] = SortedKeyList(key=_order)
                bucket.add(ns)
            by_share = self._share.get(model)
            if by_share is None:
                by_share = self._share[model] = SortedDict()
            for share in shares:
                bucket = by_share.get(share)
                if bucket is None:
                    bucket = by_share[share] = SortedKeyList(key=_order)
                bucket.add(ns)
            filed.append((model, whole, frozenset(shares)))
        self._filed[ns.id] = filed

    def _unfile(self, ns: NodeState) -> None:
        self._by_cpu.remove(ns)
        for model, whole, shares in self._filed.pop(ns.id):
            if whole:
                key = (model, whole)
                self._whole[key].remove(ns)
                if not self._whole[key]:
                    del self._whole[key]
            by_share = self._share[model]
            for share in shares:
                bucket = by_share[share]
                bucket.remove(ns)
                if not bucket:
                    del by_share[share]

    def candidates(self, request: ResourceRequest, prefer: Prefer = "best") -> Iterator[NodeState]:
        """Nodes whose GPUs could hold ``request``, lazily, in ``prefer`` order.

        Only the GPU part is pre-filtered; callers confirm with ``fit``. Each
        yielded node costs O(log n) amortized; nodes that cannot hold the GPU
        part are never visited (except nodes with several GPU models, rare,
        which a whole-GPU request spanning models checks individually).
        """
        g = request.gpu
        if g is None or g.milli == 0:
            yield from self._cpu_candidates(request, prefer)
            return
        models = [m for m in self.models() if g.matches(m)]
        if g.fractional:
            yield from self._share_candidates(models, g.milli, prefer)
            return
        yield from self._whole_candidates(models, g.devices, prefer)
        if len(models) > 1 and self._mixed:
            # A node may need devices of two matching models to reach the count.
            mixed = sorted(self._mixed.values(), key=_order)
            yield from (ns for ns in mixed if self._mixed_only(ns, models, g.devices))

    def _mixed_only(self, ns: NodeState, models: list[GPU], k: int) -> bool:
        per = _node_models(ns.free)
        whole = [per[m][0] for m in models if m in per]
        return len(whole) > 1 and max(whole) < k <= sum(whole)

    def _cpu_candidates(self, request: ResourceRequest, prefer: Prefer) -> Iterator[NodeState]:
        need = request.minimum().cpu_milli
        if prefer == "first":
            yield from (ns for ns in self._by_order if ns.free.cpu_milli >= need)
        elif prefer == "best":
            yield from self._by_cpu.irange_key((need, -1))
        else:
            # most free CPU first; equal free CPU in node order, like every policy
            same: list[NodeState] = []
            for ns in self._by_cpu.irange_key((need, -1), reverse=True):
                if same and ns.free.cpu_milli != same[0].free.cpu_milli:
                    yield from reversed(same)
                    same = []
                same.append(ns)
            yield from reversed(same)

    def _whole_candidates(self, models: list[GPU], k: int, prefer: Prefer) -> Iterator[NodeState]:
        buckets = [(w, b) for (m, w), b in self._whole.items() if w >= k and m in models]
        if prefer == "first":
            yield from _merged([b for _, b in buckets])
            return
        for w in sorted({w for w, _ in buckets}, reverse=prefer == "spread"):
            yield from _merged([b for bw, b in buckets if bw == w])

    def _share_candidates(self, models: list[GPU], milli: int, prefer: Prefer) -> Iterator[NodeState]:
        seen: set[str] = set()
        lists = [
            (s, self._share[m][s]) for m in models if m in self._share for s in self._share[m].irange(milli)
        ]
        if prefer == "first":
            merged: Iterable[NodeState] = _merged([b for _, b in lists])
        else:
            shares = sorted({s for s, _ in lists}, reverse=prefer == "spread")
            merged = (ns for s in shares for ns in _merged([b for bs, b in lists if bs == s]))
        for ns in merged:
            if ns.id not in seen:
                seen.add(ns.id)
                yield ns

    def _check(self) -> None:
        """Invariant check for stress tests: every bucket agrees with each node's free view."""
        assert len(self._by_order) == len(self._nodes) == len(self._by_cpu)
        for ns in self._nodes.values():
            assert ns.free.fits_within(ns.node.capacity), ns.id
            per = _node_models(ns.free)
            assert self._filed[ns.id] == [(m, w, frozenset(s)) for m, (w, s) in per.items()]
            for m, (w, shares) in per.items():
                if w:
                    assert ns in self._whole[(m, w)]
                for s in shares:
                    assert ns in self._share[m][s]
        whole_total = sum(len(b) for b in self._whole.values())
        assert whole_total == sum(1 for f in self._filed.values() for (_, w, _) in f if w)


def _merged(buckets: list[SortedKeyList[NodeState, Any]]) -> Iterable[NodeState]:
    """The buckets' nodes merged in node order: a single bucket (the usual case: one GPU
    model) as it is, without ``heapq.merge``'s per-item cost."""
    if len(buckets) == 1:
        return buckets[0]
    return heapq.merge(*buckets, key=_order)
