"""Preemption: who may preempt whom, and which victims to evict (docs/preemption.md)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

import attrs

from prioq import _validate as v
from prioq.errors import InvalidPolicy
from prioq.model import Job, Running
from prioq.placement import NodeIndex, NodeState
from prioq.resources import ResourceRequest, Resources, fit

__all__ = ["Candidate", "Plan", "Preemption", "may_preempt", "plan_preemption"]

PreemptionPolicy = Literal["never", "lower-priority", "lower-or-newer-equal"]


@attrs.frozen(slots=True, kw_only=True)
class Preemption:
    """Preemption rules.

    * ``policy``: ``"never"``; ``"lower-priority"`` (victims have strictly lower
      priority); ``"lower-or-newer-equal"`` (also equal priority submitted later,
      Kueue's LowerOrNewerEqualPriority).
    * ``min_runtime``: a job that started less than this many seconds ago is
      protected (Slurm's PreemptExemptTime).
    * ``grace``: seconds a victim gets to stop, reported on each ``Preempt``.
    * ``max_victims``: at most this many victims (gang members count once per gang) per preemptor.
    * ``requeue``: a released victim goes back to the queue (else it is dropped).
    * ``compare``: ``"base"`` priorities (default; aging never licenses eviction)
      or ``"effective"`` (a running job's effective priority is frozen at its start).
    """

    policy: PreemptionPolicy = "never"
    min_runtime: float = 0.0
    grace: float = 0.0
    max_victims: int | None = None
    requeue: bool = True
    compare: Literal["base", "effective"] = "base"

    def __attrs_post_init__(self) -> None:
        v.choice(self.policy, ("never", "lower-priority", "lower-or-newer-equal"), "preemption policy",
                 error=InvalidPolicy)
        v.number(self.min_runtime, "preemption min_runtime", error=InvalidPolicy, minimum=0)
        v.number(self.grace, "preemption grace", error=InvalidPolicy, minimum=0)
        if self.max_victims is not None:
            v.integer(self.max_victims, "preemption max_victims", error=InvalidPolicy, minimum=1)
        v.boolean(self.requeue, "preemption requeue", error=InvalidPolicy)
        v.choice(self.compare, ("base", "effective"), "preemption compare", error=InvalidPolicy)

    @property
    def enabled(self) -> bool:
        return self.policy != "never"


@attrs.frozen(slots=True, kw_only=True)
class Candidate:
    """A running job as preemption sees it: ``priority`` is what comparisons use
    (base, or the effective priority frozen when it first started)."""

    running: Running
    priority: float
    seq: int

    @property
    def job(self) -> Job:
        return self.running.job


@attrs.frozen(slots=True, kw_only=True)
class Plan:
    """Victims to evict (whole gangs) and the nodes the preemptor is nominated to."""

    victims: tuple[str, ...]
    node_ids: tuple[str, ...]


def may_preempt(
    policy: Preemption,
    preemptor: Job,
    priority: float,
    seq: int,
    victim: Candidate,
    now: float,
) -> bool:
    """Whether ``preemptor`` (comparing at ``priority``) may evict ``victim`` now. O(1).

    Never a non-preemptible job, never one inside ``min_runtime``, never one of
    equal or higher priority -- except, under ``lower-or-newer-equal``, an equal
    one submitted later. The relation follows a fixed strict order on
    (priority, age), so two jobs can never preempt each other back and forth.
    """
    vjob = victim.job
    if policy.policy == "never" or not vjob.preemptible:
        return False
    if now - victim.running.started_at < policy.min_runtime:
        return False
    if victim.priority < priority:
        return True
    if policy.policy == "lower-or-newer-equal" and victim.priority == priority:
        return (vjob.submitted_at, victim.seq, vjob.id) > (preemptor.submitted_at, seq, preemptor.id)
    return False


@attrs.frozen(slots=True)
class _NodePlan:
    score: tuple[float, float, int, float, float, str]
    node_id: str
    victims: tuple[str, ...]


def _node_plan(
    request: ResourceRequest,
    ns: NodeState,
    eligible: list[Candidate],
    policy: Preemption,
    now: float,
    allow: Callable[[NodeState, Resources], bool],
) -> _NodePlan | None:
    """Kubernetes' per-node victim selection: remove every eligible job, check the
    preemptor fits, then reprieve the most important first (priority descending,
    longer-running first), keeping as victims only those that cannot come back.
    O(v log v + v*d) for v eligible jobs on the node."""
    free = ns.free
    for c in eligible:
        free = free + c.running.allocation_on(ns.id)
    alloc = fit(request, free)
    if alloc is None or not allow(ns, alloc):
        return None
    victims: list[Candidate] = []
    for c in sorted(eligible, key=lambda c: (-c.priority, c.running.started_at, c.seq, c.job.id)):
        held = c.running.allocation_on(ns.id)
        back = free - held if held.fits_within(free) else None
        if back is not None and (a := fit(request, back)) is not None and allow(ns, a):
            free = back
        else:
            victims.append(c)
    if policy.max_victims is not None and len(victims) > policy.max_victims:
        return None
    if not victims:
        score: tuple[float, float, int, float, float, str] = (-math.inf, 0.0, 0, 0.0, -math.inf, ns.id)
        return _NodePlan(score, ns.id, ())
    lost = sum(
        sum(r.gpu_milli for r in c.running.allocation) / 1000 * (now - c.running.started_at) for c in victims
    )
    earliest = min(c.running.started_at for c in victims)
    score = (
        max(c.priority for c in victims),
        sum(c.priority for c in victims),
        len(victims),
        lost,
        -earliest,
        ns.id,
    )
    return _NodePlan(score, ns.id, tuple(c.job.id for c in victims))


def plan_preemption(
    preemptor: Job,
    priority: float,
    seq: int,
    index: NodeIndex,
    candidates: Mapping[str, Candidate],
    policy: Preemption,
    now: float,
    allow: Callable[[NodeState, Resources], bool],
    nodes: Iterable[NodeState] | None = None,
) -> Plan | None:
    """The victims whose eviction lets ``preemptor`` run, or ``None``.

    ``nodes``: the nodes to consider (default: every node of ``index``); the
    scheduler passes those whose capacity could ever hold the preemptor.

    Per node (see :func:`_node_plan`), then the node is chosen by, in order:
    lowest highest-victim priority; smallest sum of victim priorities; fewest
    victims; least lost work (GPU-seconds since the victims started); latest
    earliest-start among victims; node id. A gang preemptor takes the best
    ``nodes`` nodes. A gang victim is evicted whole (all its members).
    Deterministic. O(N * v) to bound every node, plus O(v log v) per node whose
    bound could still beat the best plan (usually few).
    """
    eligible_ids = {
        j for j, c in candidates.items() if may_preempt(policy, preemptor, priority, seq, c, now)
    }
    if not eligible_ids:
        return None
    # Visit nodes by a lower bound on their score's first rule (the highest victim
    # priority is at least the lowest eligible one; -inf where it fits already) and
    # stop once no unvisited node can beat the chosen ones: exact, and most nodes
    # cost one look at their jobs instead of a plan.
    bounded: list[tuple[float, int, NodeState, list[Candidate]]] = []
    for i, ns in enumerate(index if nodes is None else nodes):
        if fit(preemptor.request, ns.node.capacity) is None:
            continue
        eligible = [candidates[j] for j in sorted(ns.jobs) if j in eligible_ids]
        if fit(preemptor.request, ns.free) is not None:
            bound = -math.inf
        elif eligible:
            bound = min(c.priority for c in eligible)
        else:
            continue
        bounded.append((bound, i, ns, eligible))
    bounded.sort(key=lambda b: (b[0], b[1]))
    plans: list[_NodePlan] = []
    for bound, _, ns, eligible in bounded:
        if len(plans) >= preemptor.nodes:
            plans.sort(key=lambda p: p.score)
            if plans[preemptor.nodes - 1].score[0] < bound:
                break
        plan = _node_plan(preemptor.request, ns, eligible, policy, now, allow)
        if plan is not None:
            plans.append(plan)
    if len(plans) < preemptor.nodes:
        return None
    plans.sort(key=lambda p: p.score)
    chosen = plans[: preemptor.nodes]
    victims: list[str] = []
    for p in chosen:
        for victim in p.victims:
            if victim not in victims:
                victims.append(victim)
    if not victims:
        return None  # it fits without evicting anyone; placement will take it
    if policy.max_victims is not None and len(victims) > policy.max_victims:
        return None
    return Plan(victims=tuple(victims), node_ids=tuple(sorted(p.node_id for p in chosen)))
