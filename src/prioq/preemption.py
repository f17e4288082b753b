"""Preemption: who may preempt whom, and which victims to evict (docs/preemption.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Literal

import attrs

from prioq import _validate as v
from prioq.errors import InvalidPolicy
from prioq.model import Job, Running
from prioq.placement import NodeIndex, NodeState
from prioq.resources import ResourceRequest, Resources, fit

__all__ = [
    "Candidate",
    "Plan",
    "Preemption",
    "disruptions_allowed",
    "max_disruptions",
    "may_preempt",
    "plan_preemption",
]

PreemptionPolicy = Literal["never", "lower-priority", "lower-or-newer-equal"]
NodeOrder = Literal["kubernetes", "least-lost-work"]
Budget = int | str
"""A disruption budget: at most this many (an int >= 0) or this share (``"25%"``) of a
group's running jobs disrupted at once (Kubernetes' ``maxUnavailable``)."""

# Kubernetes adds MaxInt32 + 1 to every victim priority before summing them
# (pickOneNodeForPreemption), so that with int32 priorities every term is >= 0.
K8S_PRIORITY_OFFSET = 2**31
_PERCENT = re.compile(r"([0-9]{1,3})%")


def _budget(value: object, what: str) -> Budget:
    if isinstance(value, str):
        m = _PERCENT.fullmatch(value)
        if m is None or int(m.group(1)) > 100:
            raise InvalidPolicy(f"{what}: expected an int >= 0 or a percentage '0%'..'100%', got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise v.wrong_type(
            InvalidPolicy, f"{what}: expected an int >= 0 or a percentage like '25%', got {value!r}"
        )
    return v.integer(value, what, error=InvalidPolicy, minimum=0)


def _budgets(value: object) -> tuple[tuple[str, Budget], ...]:
    """``{group: budget}`` (or pairs) as a sorted tuple: hashable, so a Preemption stays a value."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise v.wrong_type(
            InvalidPolicy, f"preemption budgets: expected a mapping group -> budget, got {value!r}"
        )
    else:
        items = []
        for pair in value:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise v.wrong_type(
                    InvalidPolicy, f"preemption budgets: expected (group, budget) pairs, got {pair!r}"
                )
            items.append(pair)
    out: dict[str, Budget] = {}
    for group, budget in items:
        name = v.identifier(group, "preemption budgets group", error=InvalidPolicy)
        if name in out:
            raise InvalidPolicy(f"preemption budgets: group {name!r} given twice")
        out[name] = _budget(budget, f"preemption budget of group {name!r}")
    return tuple(sorted(out.items()))


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
    * ``node_order``: how the node to preempt on is chosen: ``"kubernetes"``
      (default; Kubernetes' ``pickOneNodeForPreemption``) or ``"least-lost-work"``
      (the same, with the fewest GPU-seconds lost before the start-time rule).
    * ``budgets``: disruption budgets per ``Job.group`` (``{"group-a": 1,
      "group-b": "25%"}``); ``default_budget`` applies to every other group.
      Plans that violate no budget are preferred (Kubernetes' PodDisruptionBudget).
    """

    policy: PreemptionPolicy = "never"
    min_runtime: float = 0.0
    grace: float = 0.0
    max_victims: int | None = None
    requeue: bool = True
    compare: Literal["base", "effective"] = "base"
    node_order: NodeOrder = "kubernetes"
    budgets: tuple[tuple[str, Budget], ...] = attrs.field(default=(), converter=_budgets)
    default_budget: Budget | None = None

    def __attrs_post_init__(self) -> None:
        v.choice(self.policy, ("never", "lower-priority", "lower-or-newer-equal"), "preemption policy",
                 error=InvalidPolicy)
        v.number(self.min_runtime, "preemption min_runtime", error=InvalidPolicy, minimum=0)
        v.number(self.grace, "preemption grace", error=InvalidPolicy, minimum=0)
        if self.max_victims is not None:
            v.integer(self.max_victims, "preemption max_victims", error=InvalidPolicy, minimum=1)
        v.boolean(self.requeue, "preemption requeue", error=InvalidPolicy)
        v.choice(self.compare, ("base", "effective"), "preemption compare", error=InvalidPolicy)
        v.choice(self.node_order, ("kubernetes", "least-lost-work"), "preemption node_order",
                 error=InvalidPolicy)
        if self.default_budget is not None:
            _budget(self.default_budget, "preemption default_budget")

    @property
    def enabled(self) -> bool:
        return self.policy != "never"

    @property
    def has_budgets(self) -> bool:
        return bool(self.budgets) or self.default_budget is not None

    def budget(self, group: str | None) -> Budget | None:
        """The disruption budget of ``group`` (``None``: unlimited). O(groups with a budget)."""
        if group is None:
            return None
        for name, budget in self.budgets:
            if name == group:
                return budget
        return self.default_budget


def max_disruptions(budget: Budget, running: int) -> int:
    """How many of a group's ``running`` jobs its budget lets be disrupted at once: ``budget``
    itself, or the percentage of ``running`` rounded up (as Kubernetes rounds ``maxUnavailable``)."""
    if isinstance(budget, str):
        return -(-int(budget[:-1]) * running // 100)
    return budget


def disruptions_allowed(policy: Preemption, running: Iterable[tuple[Job, bool]]) -> dict[str, int]:
    """Per group with a budget, how many more of its jobs may be disrupted now
    (Kubernetes' ``PodDisruptionBudget.status.disruptionsAllowed``).

    ``running``: every running job of the scheduler with whether it is already
    terminating (told to stop): a terminating job counts as disrupted. A gang
    counts once. Groups without a budget are absent (unlimited). O(running).
    """
    counts: dict[str, list[int]] = {}
    if not policy.has_budgets:
        return {}
    for job, terminating in running:
        if job.group is None:
            continue
        c = counts.setdefault(job.group, [0, 0])
        c[0] += 1
        c[1] += terminating
    out: dict[str, int] = {}
    for group, (n, stopping) in counts.items():
        budget = policy.budget(group)
        if budget is not None:
            out[group] = max(0, max_disruptions(budget, n) - stopping)
    return out


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
    """Victims to evict (whole gangs) and the nodes the preemptor is nominated to.

    ``violations``: how many victims violate a disruption budget, summed over the
    chosen nodes (Kubernetes' ``NumPDBViolations``); 0 without budgets."""

    victims: tuple[str, ...]
    node_ids: tuple[str, ...]
    violations: int = 0


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


# (budget violations, highest victim priority, adjusted priority sum, victims,
#  lost GPU-seconds (0 under the Kubernetes order), -earliest start of the
#  highest-priority victims, node id): smaller is better, compared in order.
Score = tuple[int, float, int | Fraction, int, float, float, str]


@attrs.frozen(slots=True)
class _NodePlan:
    score: Score
    node_id: str
    victims: tuple[str, ...]


def _exact(priority: float) -> int | Fraction:
    """A priority as an exact number, so sums of many large priorities lose nothing."""
    p = float(priority)
    return int(p) if p.is_integer() else Fraction(p)


def _importance(c: Candidate) -> tuple[float, float, int, str]:
    # Kubernetes' MoreImportantPod: higher priority first, then the earlier start.
    return (-c.priority, c.running.started_at, c.seq, c.job.id)


def _split_by_budget(
    ordered: list[Candidate], allowed: Mapping[str, int]
) -> tuple[list[Candidate], list[Candidate]]:
    """Kubernetes' filterPodsWithPDBViolation on one node: walking the eligible jobs
    most important first, each one of a budgeted group uses one of the group's
    allowed disruptions; once none is left, the rest of the group violates. Stable."""
    if not allowed:
        return [], ordered
    left: dict[str, int] = {}
    violating: list[Candidate] = []
    fine: list[Candidate] = []
    for c in ordered:
        group = c.job.group
        if group is None or group not in allowed:
            fine.append(c)
            continue
        n = left[group] = left.get(group, allowed[group]) - 1
        (violating if n < 0 else fine).append(c)
    return violating, fine


def _node_plan(
    request: ResourceRequest,
    ns: NodeState,
    eligible: list[Candidate],
    policy: Preemption,
    now: float,
    allow: Callable[[NodeState, Resources], bool],
    allowed: Mapping[str, int],
) -> _NodePlan | None:
    """Kubernetes' per-node victim selection (selectVictimsOnNode): remove every
    eligible job, check the preemptor fits, then reprieve the most important first
    (priority descending, longer-running first) -- those whose eviction would violate
    a disruption budget before the others -- keeping as victims only those that
    cannot come back; the violations are the victims that violate.
    O(v log v + v*d) for v eligible jobs on the node."""
    free = ns.free
    for c in eligible:
        free = free + c.running.allocation_on(ns.id)
    alloc = fit(request, free)
    if alloc is None or not allow(ns, alloc):
        return None
    violating, fine = _split_by_budget(sorted(eligible, key=_importance), allowed)
    victims: list[Candidate] = []
    violations = 0
    for violates, group in ((1, violating), (0, fine)):
        for c in group:
            held = c.running.allocation_on(ns.id)
            back = free - held if held.fits_within(free) else None
            if back is not None and (a := fit(request, back)) is not None and allow(ns, a):
                free = back
            else:
                victims.append(c)
                violations += violates
    if policy.max_victims is not None and len(victims) > policy.max_victims:
        return None
    return _NodePlan(_score(victims, violations, policy, now, ns.id), ns.id, tuple(c.job.id for c in victims))


def _score(victims: list[Candidate], violations: int, policy: Preemption, now: float, node_id: str) -> Score:
    """The node-choice rules for one node's victims (docs/preemption.md#which-victims-on-which-node)."""
    if not victims:
        return (0, -math.inf, 0, 0, 0.0, -math.inf, node_id)
    top = max(c.priority for c in victims)
    # Kubernetes' GetEarliestPodStartTime: the earliest start among the
    # highest-priority victims only; the node where it is latest wins.
    earliest = min(c.running.started_at for c in victims if c.priority == top)
    adjusted = sum((_exact(c.priority) + K8S_PRIORITY_OFFSET for c in victims), start=0)
    lost = 0.0
    if policy.node_order == "least-lost-work":
        lost = sum(
            sum(r.gpu_milli for r in c.running.allocation) / 1000 * (now - c.running.started_at)
            for c in victims
        )
    return (violations, top, adjusted, len(victims), lost, -earliest, node_id)


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
    allowed: Mapping[str, int] | None = None,
) -> Plan | None:
    """The victims whose eviction lets ``preemptor`` run, or ``None``.

    ``nodes``: the nodes to consider (default: every node of ``index``); the
    scheduler passes those whose capacity could ever hold the preemptor.
    ``allowed``: per group with a disruption budget, the disruptions it still
    allows (:func:`disruptions_allowed`); by default computed from ``candidates``
    as if none were terminating.

    Per node (see :func:`_node_plan`), then the node is chosen by, in order
    (``policy.node_order="kubernetes"``, Kubernetes' pickOneNodeForPreemption):
    fewest budget violations; lowest highest-victim priority; smallest sum of
    victim priorities each plus 2**31; fewest victims; latest earliest-start among
    the highest-priority victims; node id. ``"least-lost-work"`` inserts the least
    lost work (GPU-seconds since the victims started) before the start-time rule.
    A gang preemptor takes the best ``nodes`` nodes. A gang victim is evicted whole
    (all its members). Deterministic. O(N * v) to bound every node, plus
    O(v log v) per node whose bound could still beat the best plan (usually few).
    """
    eligible_ids = {
        j for j, c in candidates.items() if may_preempt(policy, preemptor, priority, seq, c, now)
    }
    if not eligible_ids:
        return None
    if allowed is None:
        allowed = disruptions_allowed(policy, ((c.job, False) for c in candidates.values()))
    # Visit nodes by a lower bound on their score's first two rules (no violation;
    # the highest victim priority is at least the lowest eligible one, -inf where it
    # fits already) and stop once no unvisited node can beat the chosen ones: exact
    # under both orders, and most nodes cost one look at their jobs instead of a plan.
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
            if plans[preemptor.nodes - 1].score[:2] < (0, bound):
                break
        plan = _node_plan(preemptor.request, ns, eligible, policy, now, allow, allowed)
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
    return Plan(
        victims=tuple(victims),
        node_ids=tuple(sorted(p.node_id for p in chosen)),
        violations=sum(p.score[0] for p in chosen),
    )
