"""Node selection, cordons, drains and time limits as part of the scheduler's state
(docs/scheduler.md#node-selection).

A mixin of :class:`~prioq.scheduler._state.State`.

* **Placement indexes per selection.** A job may use only its *eligible* nodes:
  those its selection (:func:`prioq.selection.selection`: selector, tolerations,
  allowed ids) admits, untainted or tolerated, and not cordoned. Jobs of one
  selection are interchangeable for placement, so each selection in use gets a
  :meth:`NodeIndex.view <prioq.placement.NodeIndex.view>` of its eligible nodes,
  which the node index keeps in step with every allocation: a restricted placement
  walks only the eligible nodes' buckets, exactly as an unrestricted one walks the
  whole index. A job without a selection uses the whole index while no node is
  cordoned or tainted. Views are derived state: built on first use (O(n) to find
  the eligible nodes, O(m log m) to file them), dropped when nodes are added,
  removed, cordoned or uncordoned, and after a rollback.
* **Cordons** are persisted as ``extras["cordon/<node>"]`` (``"cordoned"`` or
  ``"drained"``): a cordoned node is eligible for nobody.
* **Jobs told to stop** by a drain or their time limit are persisted as
  ``extras["stop/<job>"] = [reason, told at, deadline]``; they are no preemption
  candidates any more and keep their resources until released.
* **Time limits** fire from a heap of (deadline, job) kept lazily: built from the
  running jobs on first use, pushed on each start, reset on rollback; a cycle pops
  only the due entries, O(k log n) for k due.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from prioq.errors import StoreError
from prioq.model import Job, Preempt, Stop
from prioq.placement import NodeIndex, NodeState
from prioq.preemption import CandidateIndex
from prioq.resources import fit
from prioq.scheduler._caches import Caches
from prioq.selection import Selection, describe, eligible, selection

__all__ = ["CORDON_PREFIX", "STOP_PREFIX", "SelectionState", "cordon", "drain", "read_stop", "shape_of"]

CORDON_PREFIX = "cordon/"
STOP_PREFIX = "stop/"
_MAX_VIEWS = 256  # bounded: selections in use are few in practice


def shape_of(job: Job) -> tuple[Any, ...]:
    """A job's placement shape: request, gang size and, if any, its selection. Jobs of one
    shape are interchangeable for placement (the keys of the cycle's no-room facts). O(1)."""
    sel = selection(job)
    return (job.request, job.nodes) if sel is None else (job.request, job.nodes, sel)


def read_stop(extras: Mapping[str, str], job_id: str) -> tuple[str, float, float] | None:
    """(reason, told at, deadline) of a job told to stop by a drain or its time limit. O(1)."""
    text = extras.get(STOP_PREFIX + job_id)
    if text is None:
        return None
    try:
        reason, at, deadline = json.loads(text)
        if not (type(reason) is str and type(at) is float and type(deadline) is float and math.isfinite(at)
                and deadline >= at):
            raise ValueError(text)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"stored stop record of {job_id!r} is malformed: {text!r}") from exc
    return reason, at, deadline


class SelectionState:
    """Eligible-node views, cordons, stop records and the time-limit heap."""

    index: NodeIndex
    cindex: CandidateIndex
    caches: Caches
    extras: dict[str, str]
    runs: dict[str, Any]
    put_extra: Callable[[str, str | None], None]
    _do: Callable[[Callable[[], Any], Callable[[], Any]], None]
    bump: Callable[[], None]
    _candidate_drop: Callable[[str], None]

    def _init_selection(self) -> None:
        self._views: dict[Hashable, NodeIndex] = {}
        self._restricted: bool | None = None
        self._limits: list[tuple[float, str]] | None = None
        # (label key, value) -> ids of the nodes with it, in node order: a view of an ``In``
        # selector is built from its candidates, not from every node (derived, like views)
        self._by_label: dict[tuple[str, str], list[str]] | None = None

    def _reset_selection(self) -> None:
        """Forget every derived structure (after a rollback, or a change of eligibility)."""
        self.index.drop_views()
        self._views.clear()
        self._restricted = None
        self._limits = None
        self._by_label = None

    def _load_selection(self) -> None:
        """After a load: jobs told to stop are no preemption candidates."""
        for key in self.extras:
            if key.startswith(STOP_PREFIX):
                self.cindex.remove(key[len(STOP_PREFIX):])

    def eligibility_changed(self) -> None:
        """Nodes were added, removed, cordoned or uncordoned: every fact about which nodes a
        selection may use is void. Derived state only (a rollback resets it again)."""
        self._reset_selection()
        self.caches.capable.clear()
        self.caches.no_room.clear()
        self.bump()

    # ------------------------------------------------------------------ eligibility

    def cordoned(self, node_id: str) -> bool:
        """Whether a node is cordoned (or drained). O(1)."""
        return CORDON_PREFIX + node_id in self.extras

    def _is_restricted(self) -> bool:
        """Whether some node is cordoned or tainted (then even a job without a selection may
        not use every node). O(n) once per change of eligibility."""
        if self._restricted is None:
            self._restricted = any(ns.node.taints or self.cordoned(ns.id) for ns in self.index)
        return self._restricted

    def is_eligible(self, sel: Selection | None, ns: NodeState) -> bool:
        """Whether a job of selection ``sel`` may be placed on ``ns``. O(requirements + taints)."""
        node = ns.node
        return not self.cordoned(node.id) and eligible(sel, node.id, node.labels, node.taints)

    def placement_index(self, sel: Selection | None) -> NodeIndex:
        """The node index a job of selection ``sel`` is placed from: the whole index, or the
        view of its eligible nodes (built once, kept in step by the index). O(1) once built."""
        if sel is None and not self._is_restricted():
            return self.index
        view = self._views.get(sel)
        if view is None:
            if len(self._views) >= _MAX_VIEWS:
                self.index.drop_views()
                self._views.clear()
            nodes = self._candidates(sel)
            view = self._views[sel] = self.index.view(ns.id for ns in nodes if self.is_eligible(sel, ns))
        return view

    def _candidates(self, sel: Selection | None) -> list[NodeState]:
        """The nodes that may be eligible for ``sel``, in node order: its allowed ids, or the
        nodes carrying one of the values of its narrowest ``In`` requirement, or every node.
        O(candidates), plus O(n) to build the label index once per change of eligibility."""
        index = self.index
        if sel is None:
            return list(index)
        if sel[2]:  # allowed ids: only those are looked at
            return sorted((index.get(nid) for nid in sel[2] if nid in index), key=lambda ns: ns.order)
        if self._by_label is None:
            by_label: dict[tuple[str, str], list[str]] = {}
            for ns in index:
                for item in ns.node.labels.items():
                    by_label.setdefault(item, []).append(ns.id)
            self._by_label = by_label
        best: list[str] | None = None
        for r in sel[0].requirements:
            if r.operator == "In":
                ids = [nid for v in r.values for nid in self._by_label.get((r.key, v), ())]
                if best is None or len(ids) < len(best):
                    best = ids
        if best is None:
            return list(index)
        return sorted((index.get(nid) for nid in set(best)), key=lambda ns: ns.order)

    def _check_selection(self) -> None:
        """Invariant check for stress tests: every view holds exactly its selection's eligible
        nodes, filed by their current free capacity."""
        for sel, view in self._views.items():
            view._check()
            assert {ns.id for ns in view} == {ns.id for ns in self.index if self.is_eligible(sel, ns)}, sel  # type: ignore[arg-type]
            assert all(view.get(ns.id) is ns for ns in self.index if ns.id in view)

    def index_for(self, job: Job) -> NodeIndex:
        """:meth:`placement_index` of ``job``'s selection. O(1) once built."""
        return self.placement_index(selection(job))

    def never_fits(self, job: Job) -> bool:
        """Whether no node at all could ever hold ``job``, whatever its selection, taints and
        cordons (cached per request until nodes or eligibility change). O(1) after the first look."""
        key = ("every node", job.request)
        nodes = self.caches.capable.get(key)
        if nodes is None:
            nodes = self.caches.capable[key] = [
                ns for ns in self.index if fit(job.request, ns.node.capacity) is not None]
        return len(nodes) < job.nodes

    def excluded_because(self, sel: Selection | None, ns: NodeState) -> str:
        """Why a node is not eligible for a job of selection ``sel``, in a few words (explain's
        node breakdown). O(requirements + taints x tolerations)."""
        node = ns.node
        if self.cordoned(node.id):
            return "cordoned"
        if sel is not None and sel[2] and node.id not in sel[2]:
            return "not in allowed_nodes"
        if sel is not None and sel[0] and not sel[0].matches(node.labels):
            return f"not matching selector {sel[0]}"
        tolerations = () if sel is None else sel[1]
        for taint in node.taints:
            if not any(t.tolerates(taint) for t in tolerations):
                return f"untolerated taint {taint}"
        return "eligible"

    def no_selected_node(self, job: Job) -> str:
        """The message of a job whose eligible nodes could never hold it (NO_SELECTED_NODE)."""
        sel = selection(job)
        eligible_n = len(self.placement_index(sel))
        cordoned = sum(1 for ns in self.index if self.cordoned(ns.id))
        what = describe(sel) if sel is not None else "no selection; tainted nodes left out"
        among = f"{eligible_n}/{len(self.index)} nodes selected ({what})"
        if cordoned:
            among += f", {cordoned} cordoned"
        need = f"fewer than {job.nodes} nodes" if job.nodes > 1 else "no node"
        return f"{need} it may use could ever hold {job.request}: {among}"

    # ------------------------------------------------------------------ told to stop

    def tell_stop(self, job_id: str, reason: str, now: float, grace: float) -> None:
        """Journaled: a running job is told to stop (drain, time limit); it is no preemption
        candidate any more. Persisted as ``stop/<job>``. O(log n)."""
        self._candidate_drop(job_id)
        self.put_extra(STOP_PREFIX + job_id, json.dumps([reason, float(now), float(now) + float(grace)]))
        self.bump()

    def stopping(self, job_id: str) -> bool:
        return STOP_PREFIX + job_id in self.extras

    def limit_started(self, job: Job, started_at: float) -> None:
        """A job with a time limit started: its deadline joins the heap (if built). O(log n)."""
        if self._limits is not None and job.time_limit is not None:
            heapq.heappush(self._limits, (started_at + job.time_limit, job.id))

    def due_stops(self, now: float) -> list[Stop]:
        """Tell every running job whose time limit has passed at ``now`` to stop, once each;
        returns the decisions in deadline order. O(k log n) for k due (the heap is built
        from the running jobs once, O(n))."""
        heap = self._limits
        if heap is None:
            heap = self._limits = [
                (r.running.started_at + r.job.time_limit, job_id) for job_id, r in self.runs.items()
                if r.job.time_limit is not None and not self.stopping(job_id)
            ]
            heapq.heapify(heap)
        out: list[Stop] = []
        while heap and heap[0][0] <= now:
            deadline, job_id = heapq.heappop(heap)
            run = self.runs.get(job_id)
            # entries of jobs since stopped, restarted or already told are stale
            if run is None or self.stopping(job_id) or run.job.time_limit is None or (
                    run.running.started_at + run.job.time_limit != deadline):
                continue
            self.tell_stop(job_id, "time-limit", now, 0.0)
            out.append(Stop(job_id=job_id, node_ids=run.running.node_ids, reason="time-limit"))
        return out


def cordon(state: Any, node_id: str, mode: str | None) -> None:
    """Journaled (through the state's mutators): mark a node ``"cordoned"`` or ``"drained"``
    (``None``: uncordon). Nominations on a node that stops taking work are dropped (their
    preemptors plan again elsewhere); the node's running jobs stay. O(nominations + n)."""
    old = state.extras.get(CORDON_PREFIX + node_id)
    if old == mode:
        return
    state.put_extra(CORDON_PREFIX + node_id, mode)
    if mode is not None:
        for owner, nodes in list(state.nominated.items()):
            if node_id in nodes:
                state.drop_nomination(owner)
    if (old is None) != (mode is None):
        state.eligibility_changed()


def drain(state: Any, node_id: str, now: float) -> list[Preempt]:
    """Cordon ``node_id`` as drained and tell every job running there (whole gangs) that is
    not already stopping to stop within the preemption grace: ``Preempt(reason="drain")``
    decisions, in start order. O(r log n) for the r jobs there."""
    cordon(state, node_id, "drained")
    grace = state.policy.preemption.grace
    out: list[Preempt] = []
    ns = state.index.get(node_id)
    for job_id in sorted(ns.jobs, key=lambda j: (state.runs[j].seq, j)):
        run = state.runs[job_id]
        if run.preempted_by is not None or state.stopping(job_id):
            continue  # already terminating: its release frees the node all the same
        state.tell_stop(job_id, "drain", now, grace)
        out.append(Preempt(job_id=job_id, node_ids=run.running.node_ids, grace=grace, reason="drain"))
    return out
