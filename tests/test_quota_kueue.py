"""Kueue's own preemption tables, translated: which running jobs a job over its quota evicts.

Each case is named after Kueue's (``pkg/scheduler/preemption/preemption_test.go``:
TestPreemption and TestFairPreemptions; ``pkg/cache``: TestDominantResourceShare),
on flat cohorts, one ResourceFlavor. A ClusterQueue is an owner, a workload a job
of one pod. The cases that cannot be expressed are listed in docs/quotas.md.
"""

# ruff: noqa: E501  -- the case tables keep one workload per tuple, as Kueue writes them
from __future__ import annotations

from typing import Any

import pytest

from prioq.quota import Amounts, Contender, Ledger, Quota, Quotas, targets

GI = 1024**3


def amounts(cpu: float = 0, memory: int | None = None, nominal: bool = True) -> Amounts:
    values = {"cpu": round(cpu * 1000)}
    if memory is not None:
        values["memory"] = memory
    return Amounts.of(values)


def cq(cpu: float, memory: int | None = None, cohort: str | None = None, borrow: tuple[float, int | None] | None = None,
       lend: float | None = None, within: str = "never", reclaim: str = "never", bwc: int | None = None) -> Quota:
    """A ClusterQueue: nominal cpu (cores) and memory (bytes); borrowing limits (cpu, memory)."""
    borrowing = None
    if borrow is not None:
        values = {"cpu": round(borrow[0] * 1000)}
        if borrow[1] is not None:
            values["memory"] = borrow[1]
        borrowing = Amounts.of(values)
    return Quota(
        nominal=amounts(cpu, memory), cohort=cohort, borrowing_limit=borrowing,
        lending_limit=None if lend is None else amounts(lend),
        within_owner=within,  # type: ignore[arg-type]
        reclaim_within_cohort=reclaim,  # type: ignore[arg-type]
        borrow_within_cohort="never" if bwc is None else "lower-priority",
        max_priority_threshold=bwc,
    )


# Kueue's defaultClusterQueues (TestPreemption), one flavor: "standalone" keeps only its cpu.
DEFAULT = {
    "standalone": cq(6, within="lower-priority"),
    "c1": cq(6, 3 * GI, "cohort", (6, 3 * GI), within="lower-priority", reclaim="lower-priority"),
    "c2": cq(6, 3 * GI, "cohort", (6, 3 * GI), within="never", reclaim="any"),
    "d1": cq(6, 3 * GI, "cohort-no-limits", within="lower-priority", reclaim="lower-priority"),
    "d2": cq(6, 3 * GI, "cohort-no-limits", within="never", reclaim="any"),
    "l1": cq(6, 3 * GI, "legion", (12, 6 * GI), within="lower-priority", reclaim="lower-priority"),
    "preventStarvation": cq(6, within="lower-or-newer-equal"),
    "a_standard": cq(1, None, "with_shared_cq", (12, None), within="never", reclaim="lower-priority", bwc=0),
    "b_standard": cq(1, None, "with_shared_cq", (12, None), within="lower-priority", reclaim="any", bwc=0),
    "a_best_effort": cq(1, None, "with_shared_cq", (12, None), within="never", reclaim="lower-priority", bwc=0),
    "b_best_effort": cq(0, None, "with_shared_cq", (13, None), within="never", reclaim="lower-priority", bwc=0),
    "shared": cq(10, None, "with_shared_cq"),
    "lend1": cq(6, None, "cohort-lend", lend=4, within="lower-priority", reclaim="lower-priority"),
    "lend2": cq(6, None, "cohort-lend", lend=2, within="lower-priority", reclaim="lower-priority"),
    "a": cq(2, 2, "cohort-three", within="lower-priority", reclaim="any"),
    "b": cq(2, 2, "cohort-three"),
    "c": cq(2, 2, "cohort-three"),
}

# (name, cq, priority, cpu, memory, admitted at); incoming: (cq, priority, cpu, memory, created at)
W = tuple[str, str, int, float, int | None, float]
CASES: list[tuple[str, list[W], tuple[str, int, float, int | None, float], set[str]]] = [
    ("preempt lowest priority",
     [("low", "standalone", -1, 2, None, 0), ("mid", "standalone", 0, 2, None, 0), ("high", "standalone", 1, 2, None, 0)],
     ("standalone", 1, 2, None, 0), {"low"}),
    ("preempt multiple",
     [("low", "standalone", -1, 2, None, 0), ("mid", "standalone", 0, 2, None, 0), ("high", "standalone", 1, 2, None, 0)],
     ("standalone", 1, 3, None, 0), {"low", "mid"}),
    ("no preemption for low priority",
     [("low", "standalone", -1, 3, None, 0), ("mid", "standalone", 0, 3, None, 0)],
     ("standalone", -1, 1, None, 0), set()),
    ("not enough low priority workloads",
     [("low", "standalone", -1, 3, None, 0), ("mid", "standalone", 0, 3, None, 0)],
     ("standalone", 0, 4, None, 0), set()),
    ("some free quota, preempt low priority",
     [("low", "standalone", -1, 1, None, 0), ("mid", "standalone", 0, 1, None, 0), ("high", "standalone", 1, 3, None, 0)],
     ("standalone", 1, 2, None, 0), {"low"}),
    ("minimal set excludes low priority",
     [("low", "standalone", -1, 1, None, 0), ("mid", "standalone", 0, 2, None, 0), ("high", "standalone", 1, 3, None, 0)],
     ("standalone", 1, 2, None, 0), {"mid"}),
    ("reclaim quota from borrower",
     [("c1-low", "c1", -1, 3, None, 0), ("c2-mid", "c2", 0, 3, None, 0), ("c2-high", "c2", 1, 6, None, 0)],
     ("c1", 1, 3, None, 0), {"c2-mid"}),
    ("reclaim quota if workload requests 0 resources for a resource at nominal quota",
     [("c1-low", "c1", -1, 3, 3 * GI, 0), ("c2-mid", "c2", 0, 3, None, 0), ("c2-high", "c2", 1, 6, None, 0)],
     ("c1", 1, 3, 0, 0), {"c2-mid"}),
    ("no workloads borrowing",
     [("c1-high", "c1", 1, 4, None, 0), ("c2-low-1", "c2", -1, 4, None, 0)],
     ("c1", 1, 4, None, 0), set()),
    ("not enough workloads borrowing",
     [("c1-high", "c1", 1, 4, None, 0), ("c2-low-1", "c2", -1, 4, None, 0), ("c2-low-2", "c2", -1, 4, None, 0)],
     ("c1", 1, 4, None, 0), set()),
    ("preempting locally and borrowing other resources in cohort, without cohort candidates",
     [("c1-low", "c1", -1, 4, None, 0), ("c2-low-1", "c2", -1, 4, None, 0), ("c2-high-2", "c2", 1, 4, None, 0)],
     ("c1", 1, 4, 5 * GI, 0), {"c1-low"}),
    ("preempting locally and borrowing same resource in cohort",
     [("c1-med", "c1", 0, 4, None, 0), ("c1-low", "c1", -1, 4, None, 0), ("c2-low-1", "c2", -1, 4, None, 0)],
     ("c1", 1, 4, None, 0), {"c1-low"}),
    ("preempting locally and borrowing same resource in cohort; no borrowing limit in the cohort",
     [("d1-med", "d1", 0, 4, None, 0), ("d1-low", "d1", -1, 4, None, 0), ("d2-low-1", "d2", -1, 4, None, 0)],
     ("d1", 1, 4, None, 0), {"d1-low"}),
    ("preempting locally and borrowing other resources in cohort, with cohort candidates",
     [("c1-med", "c1", 0, 4, None, 0), ("c2-low-1", "c2", -1, 5, None, 0), ("c2-low-2", "c2", -1, 1, None, 0),
      ("c2-low-3", "c2", -1, 1, None, 0)],
     ("c1", 1, 2, 5 * GI, 0), {"c1-med"}),
    ("preempting locally and not borrowing same resource in 1-queue cohort",
     [("l1-med", "l1", 0, 4, None, 0), ("l1-low", "l1", -1, 2, None, 0)],
     ("l1", 1, 4, None, 0), {"l1-med"}),
    ("do not reclaim borrowed quota from same priority for withinCohort=ReclaimFromLowerPriority",
     [("c1", "c1", 0, 2, None, 0), ("c2-1", "c2", 0, 4, None, 0), ("c2-2", "c2", 0, 4, None, 0)],
     ("c1", 0, 4, None, 0), set()),
    ("reclaim borrowed quota from same priority for withinCohort=ReclaimFromAny",
     [("c1-1", "c1", 0, 4, None, 0), ("c1-2", "c1", 1, 4, None, 0), ("c2", "c2", 0, 2, None, 0)],
     ("c2", 0, 4, None, 0), {"c1-1"}),
    ("preempt from all ClusterQueues in cohort",
     [("c1-low", "c1", -1, 3, None, 0), ("c1-mid", "c1", 0, 2, None, 0), ("c2-low", "c2", -1, 3, None, 0),
      ("c2-mid", "c2", 0, 4, None, 0)],
     ("c1", 0, 4, None, 0), {"c1-low", "c2-low"}),
    ("can't preempt workloads in ClusterQueue for withinClusterQueue=Never",
     [("c2-low", "c2", -1, 3, None, 0)],
     ("c2", 1, 4, None, 0), set()),
    ("preempt newer workloads with the same priority",
     [("wl1", "preventStarvation", 2, 2, None, 0), ("wl2", "preventStarvation", 1, 2, None, 1),
      ("wl3", "preventStarvation", 1, 2, None, 0)],
     ("preventStarvation", 1, 2, None, -15), {"wl2"}),
    ("use BorrowWithinCohort; allow preempting a lower-priority workload from another ClusterQueue while borrowing",
     [("a_best_effort_low", "a_best_effort", -1, 10, None, 0), ("b_best_effort_low", "b_best_effort", -1, 1, None, 0)],
     ("a_standard", 0, 10, None, 0), {"a_best_effort_low"}),
    ("use BorrowWithinCohort; don't allow preempting a lower-priority workload with priority above "
     "MaxPriorityThreshold, if borrowing is required even after the preemption",
     [("b_standard", "b_standard", 1, 10, None, 0)],
     ("a_standard", 2, 10, None, 0), set()),
    ("use BorrowWithinCohort; allow preempting a lower-priority workload with priority above "
     "MaxPriorityThreshold, if borrowing is not required after the preemption",
     [("b_standard", "b_standard", 1, 13, None, 0)],
     ("a_standard", 2, 1, None, 0), {"b_standard"}),
    ("use BorrowWithinCohort; don't allow for preemption of lower-priority workload from the same ClusterQueue",
     [("a_standard", "a_standard", 1, 13, None, 0)],
     ("a_standard", 2, 1, None, 0), set()),
    ("use BorrowWithinCohort; only preempt from CQ if no workloads below threshold and already above nominal",
     [("a_standard_1", "a_standard", 1, 10, None, 0), ("a_standard_2", "a_standard", 1, 1, None, 0),
      ("b_standard_1", "b_standard", 1, 1, None, 0), ("b_standard_2", "b_standard", 2, 1, None, 0)],
     ("b_standard", 3, 1, None, 0), {"b_standard_1"}),
    ("use BorrowWithinCohort; preempt from CQ and from other CQs with workloads below threshold",
     [("b_standard_high", "b_standard", 2, 10, None, 0), ("b_standard_mid", "b_standard", 1, 1, None, 0),
      ("a_best_effort_low", "a_best_effort", -1, 1, None, 0), ("a_best_effort_lower", "a_best_effort", -2, 1, None, 0)],
     ("b_standard", 2, 2, None, 0), {"b_standard_mid", "a_best_effort_lower"}),
    ("reclaim quota from lender",
     [("lend1-low", "lend1", -1, 3, None, 0), ("lend2-mid", "lend2", 0, 3, None, 0), ("lend2-high", "lend2", 1, 4, None, 0)],
     ("lend1", 1, 3, None, 0), {"lend2-mid"}),
    ("preempt from all ClusterQueues in cohort-lend",
     [("lend1-low", "lend1", -1, 3, None, 0), ("lend1-mid", "lend1", 0, 2, None, 0), ("lend2-low", "lend2", -1, 3, None, 0),
      ("lend2-mid", "lend2", 0, 4, None, 0)],
     ("lend1", 0, 4, None, 0), {"lend1-low", "lend2-low"}),
    ("cannot preempt from other ClusterQueues if exceeds requestable quota including lending limit",
     [("lend2-low", "lend2", -1, 10, None, 0)],
     ("lend1", 0, 9, None, 0), set()),
    ("preemptions from cq when target queue is exhausted for the single requested resource",
     [("a1", "a", -2, 1, None, 0), ("a2", "a", -2, 1, None, 0), ("a3", "a", -1, 1, None, 0),
      ("b1", "b", 0, 1, None, 0), ("b2", "b", 0, 1, None, 0), ("b3", "b", 0, 1, None, 0)],
     ("a", 0, 2, None, 0), {"a1", "a2"}),
    ("preemptions from cq when target queue is exhausted for two requested resources",
     [("a1", "a", -2, 1, 1, 0), ("a2", "a", -2, 1, 1, 0), ("a3", "a", -1, 1, 1, 0),
      ("b1", "b", 0, 1, 1, 0), ("b2", "b", 0, 1, 1, 0), ("b3", "b", 0, 1, 1, 0)],
     ("a", 0, 2, 2, 0), {"a1", "a2"}),
    ("preemptions from cq when target queue is exhausted for one requested resource, but not the other",
     [("a1", "a", -2, 1, None, 0), ("a2", "a", -2, 1, None, 0), ("a3", "a", -1, 1, None, 0),
      ("b1", "b", 0, 1, None, 0), ("b2", "b", 0, 1, None, 0), ("b3", "b", 0, 1, None, 0)],
     ("a", 0, 2, 2, 0), {"a1", "a2"}),
    ("allow preemption from other cluster queues if target cq is not exhausted for the requested resource",
     [("a1", "a", -1, 1, None, 0), ("b1", "b", 0, 1, None, 0), ("b2", "b", 0, 1, None, 0), ("b3", "b", 0, 1, None, 0),
      ("b4", "b", 0, 1, None, 0), ("b5", "b", -1, 1, None, 0)],
     ("a", 0, 2, None, 0), {"a1", "b5"}),
]


def run(owners: dict[str, Quota], admitted: list[W], incoming: tuple[str, int, float, int | None, float],
        fair: bool = False, weights: dict[str, float] | None = None, strategies: Any = None) -> set[str]:
    kwargs: dict[str, Any] = {"owners": owners, "fair_sharing": fair}
    if strategies is not None:
        kwargs["strategies"] = strategies
    ledger = Ledger(Quotas(**kwargs), weights)
    pool = []
    for i, (name, owner, prio, cpu, mem, at) in enumerate(admitted):
        usage = {"cpu": round(cpu * 1000), **({"memory": mem} if mem is not None else {})}
        ledger.charge(owner, name, usage, 1)
        # a workload's queue order is its creation time: all created "now" unless given
        pool.append(Contender(id=name, owner=owner, priority=prio, usage=usage, order=(0.0, i, name), admitted_at=at))
    before = {o: dict(u) for o, u in ledger.usage.items()}
    owner, prio, cpu, mem, created = incoming
    usage = {"cpu": round(cpu * 1000), **({"memory": mem} if mem is not None else {})}
    p = Contender(id="in", owner=owner, priority=prio, usage=usage, order=(created, len(admitted), "in"))
    got = targets(ledger, p, pool, "never")
    assert ledger.usage == before, "the ledger must be restored"
    return set() if got is None else {v.id for v in got}


@pytest.mark.parametrize(("admitted", "incoming", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_preemption(admitted: list[W], incoming: Any, want: set[str]) -> None:
    assert run(DEFAULT, admitted, incoming) == want


@pytest.mark.skip(reason="Kueue's long range preemption needs nested cohorts: not expressible "
                  "(docs/quotas.md#kueues-own-test-tables)")
def test_long_range_preemption_is_nested() -> None:
    """Listed so the translated table stays complete; skipped, not passed empty."""


# ------------------------------------------------------------------ TestFairPreemptions

FAIR_BASE = {
    name: cq(3, None, "all", within="lower-priority", reclaim="any", bwc=-3) for name in ("a", "b", "c")
} | {"preemptible": cq(0, None, "all")}


def unit(name: str, owner: str, prio: int = 0, cpu: float = 1) -> W:
    return (name, owner, prio, cpu, None, 0)


def units(owner: str, n: int) -> list[W]:
    return [unit(f"{owner}{i}", owner) for i in range(1, n + 1)]


FAIR: list[tuple[str, list[W], tuple[str, int, float, int | None, float], set[str], Any]] = [
    ("reclaim nominal from user using the most", units("a", 3) + units("b", 5) + units("c", 1),
     ("c", 0, 1, None, 0), {"b1"}, None),
    ("can reclaim from queue using less, if taking the latest workload from user using the most isn't enough",
     [unit("a1", "a", cpu=3), unit("a2", "a"), unit("b1", "b", cpu=2), unit("b2", "b", cpu=3)],
     ("c", 0, 3, None, 0), {"a1"}, None),
    ("reclaim borrowable quota from user using the most", units("a", 3) + units("b", 5) + units("c", 1),
     ("a", 0, 1, None, 0), {"b1"}, None),
    ("preempt one from each CQ borrowing",
     [unit("a1", "a", cpu=0.5), unit("a2", "a", cpu=0.5), unit("a3", "a", cpu=3),
      unit("b1", "b", cpu=0.5), unit("b2", "b", cpu=0.5), unit("b3", "b", cpu=3)],
     ("c", 0, 2, None, 0), {"a1", "b1"}, None),
    ("can't preempt when everyone under nominal", units("a", 3) + units("b", 3) + units("c", 3),
     ("c", 0, 1, None, 0), set(), None),
    ("can't preempt when it would switch the imbalance", units("a", 3) + units("b", 5),
     ("a", 0, 2, None, 0), set(), None),
    ("can preempt lower priority workloads from same CQ",
     [unit("a1_low", "a", -1), unit("a2_low", "a", -1), unit("a3", "a"), unit("a4", "a"), *units("b", 5)],
     ("a", 0, 2, None, 0), {"a1_low", "a2_low"}, None),
    ("can preempt a combination of same CQ and highest user",
     [unit("a_low", "a", -1), unit("a2", "a"), unit("a3", "a"), *units("b", 6)],
     ("a", 0, 2, None, 0), {"a_low", "b1"}, None),
    ("preempt huge workload if there is no other option, as long as the target CQ gets a lower share",
     [unit("b1", "b", cpu=9)], ("a", 0, 2, None, 0), {"b1"}, None),
    ("can't preempt huge workload if the incoming is also huge",
     [unit("a1", "a", cpu=2), unit("b1", "b", cpu=7)], ("a", 0, 5, None, 0), set(), None),
    ("can't preempt 2 smaller workloads if the incoming is huge",
     [unit("b1", "b", cpu=2), unit("b2", "b", cpu=2), unit("b3", "b", cpu=3)], ("a", 0, 6, None, 0), set(), None),
    ("preempt from target and others even if over nominal",
     [unit("a1_low", "a", -1, 2), unit("a2_low", "a", -1, 1), unit("b1", "b", cpu=3), unit("b2", "b", cpu=3)],
     ("a", 0, 4, None, 0), {"a1_low", "b1"}, None),
    ("prefer to preempt workloads that don't make the target CQ have the biggest share",
     [unit("b1", "b", cpu=2), unit("b2", "b", cpu=1), unit("b3", "b", cpu=2), unit("c1", "c", cpu=1)],
     ("a", 0, 3.5, None, 0), {"b2"}, None),
    ("preempt from different cluster queues if the end result has a smaller max share",
     [unit("b1", "b", cpu=2), unit("b2", "b", cpu=2.5), unit("c1", "c", cpu=2), unit("c2", "c", cpu=2.5)],
     ("a", 0, 3.5, None, 0), {"b1", "c1"}, None),
    ("scenario above does not flap",
     [unit("a1", "a", cpu=3.5), unit("b2", "b", cpu=2.5), unit("c2", "c", cpu=2.5)],
     ("b", 0, 2, None, 0), set(), None),
    ("cannot preempt if it would make the candidate CQ go under nominal after preempting one element",
     [unit("b1", "b", cpu=3), unit("b2", "b", cpu=3), unit("c1", "c", cpu=3)], ("a", 0, 4, None, 0), set(), None),
    ("workloads under priority threshold not capriciously preempted",
     units("a", 3) + units("b", 3) + [unit(f"preemptible{i}", "preemptible", -3) for i in (1, 2, 3)],
     ("a", 0, 2, None, 0), set(), None),
    ("preempt lower priority first, even if big",
     [unit("a1", "a", cpu=3), unit("b_low", "b", 0, 5), unit("b_high", "b", 1, 1)],
     ("a", 0, 1, None, 0), {"b_low"}, ["LessThanInitialShare"]),
    ("preempt workload that doesn't transfer the imbalance, even if high priority",
     [unit("a1", "a", cpu=3), unit("b_low", "b", 0, 5), unit("b_high", "b", 1, 1)],
     ("a", 0, 1, None, 0), {"b_high"}, ["LessThanOrEqualToFinalShare"]),
]


@pytest.mark.parametrize(("admitted", "incoming", "want", "strategies"), [c[1:] for c in FAIR], ids=[c[0] for c in FAIR])
def test_fair_preemptions(admitted: list[W], incoming: Any, want: set[str], strategies: Any) -> None:
    assert run(FAIR_BASE, admitted, incoming, fair=True, strategies=strategies) == want


WEIGHTED = {name: cq(3, None, "all", within="lower-priority", reclaim="any") for name in ("a", "b", "c")}


def test_fair_preemptions_cq_with_higher_weight_can_preempt_more() -> None:
    got = run(WEIGHTED, units("a", 3) + units("b", 6), ("a", 0, 2, None, 0), fair=True, weights={"a": 2})
    assert got == {"b1", "b2"}


def test_fair_preemptions_can_preempt_anything_borrowing_from_cq_with_0_weight() -> None:
    got = run(WEIGHTED, units("a", 3) + units("b", 6), ("a", 0, 3, None, 0), fair=True, weights={"b": 0})
    assert got == {"b1", "b2", "b3"}


def test_fair_preemptions_cant_preempt_nominal_from_cq_with_0_weight() -> None:
    two = {name: WEIGHTED[name] for name in ("a", "b")}
    got = run(two, units("a", 3) + units("b", 3), ("a", 0, 1, None, 0), fair=True, weights={"b": 0})
    assert got == set()


def test_fair_preemptions_can_preempt_within_cluster_queue_when_no_cohort() -> None:
    got = run({"a": cq(1, within="lower-priority")}, units("a", 1), ("a", 1000, 1, None, 0), fair=True)
    assert got == {"a1"}


# ------------------------------------------------------------------ TestDominantResourceShare (pkg/cache)

def drs_ledger(nominal: dict[str, int], usage: dict[str, int], lending: dict[str, int], weight: float = 1,
               lend_limit: dict[str, int] | None = None, other_limit: dict[str, int] | None = None,
               cohort: str | None = "test-cohort") -> Ledger:
    owners = {"cq": Quota(nominal=Amounts.of(nominal), cohort=cohort,
                          lending_limit=None if lend_limit is None else Amounts.of(lend_limit))}
    if lending:
        owners["lending-cq"] = Quota(nominal=Amounts.of(lending), cohort=cohort,
                                     lending_limit=None if other_limit is None else Amounts.of(other_limit))
    ledger = Ledger(Quotas(owners=owners), {"cq": weight})
    ledger.charge("cq", "w", usage, 1)
    return ledger


CPU, GPU = "cpu", "example.com/gpu"
DRS = [
    ("no cohort", dict(nominal={CPU: 2_000_000, GPU: 5}, usage={CPU: 1_000, GPU: 2}, lending={}, cohort=None), None, 0),
    ("usage below nominal", dict(nominal={CPU: 2000, GPU: 5}, usage={CPU: 1000, GPU: 2}, lending={CPU: 8000, GPU: 5}),
     None, 0),
    ("usage above nominal", dict(nominal={CPU: 2000, GPU: 5}, usage={CPU: 3000, GPU: 7}, lending={CPU: 8000, GPU: 5}),
     None, 200),
    ("one resource above nominal",
     dict(nominal={CPU: 2000, GPU: 5}, usage={CPU: 3000, GPU: 3}, lending={CPU: 8000, GPU: 5}), None, 100),
    ("usage with workload above nominal",
     dict(nominal={CPU: 2000, GPU: 5}, usage={CPU: 1000, GPU: 2}, lending={CPU: 8000, GPU: 5}),
     {CPU: 4000, GPU: 4}, 300),
    ("A resource with zero lendable",
     dict(nominal={CPU: 2000, GPU: 2}, usage={CPU: 1000, GPU: 1}, lending={CPU: 8000, GPU: 64},
          lend_limit={GPU: 0}, other_limit={GPU: 0}), {CPU: 4000, GPU: 4}, 300),
    ("above nominal with integer weight", dict(nominal={GPU: 5}, usage={GPU: 7}, lending={GPU: 5}, weight=2), None, 100),
    ("above nominal with decimal weight", dict(nominal={GPU: 5}, usage={GPU: 7}, lending={GPU: 5}, weight=0.5), None, 400),
    ("above nominal with zero weight", dict(nominal={GPU: 5}, usage={GPU: 7}, lending={GPU: 10}, weight=0), None,
     2**63 - 1),
]


@pytest.mark.parametrize(("setup", "with_", "want"), [c[1:] for c in DRS], ids=[c[0] for c in DRS])
def test_dominant_resource_share(setup: dict[str, Any], with_: dict[str, int] | None, want: int) -> None:
    assert drs_ledger(**setup).share("cq", with_) == want


# ------------------------------------------------------------------ TestSchedule (pkg/scheduler), one flavor

SCHED_QUEUES = {
    "sales": Quota(nominal="cpu=50"),
    "lend-a": Quota(nominal="cpu=3", cohort="lend", lending_limit="cpu=2"),
    "lend-b": Quota(nominal="cpu=2", cohort="lend", lending_limit="cpu=2"),
}


def scheduled(running: list[tuple[str, str, float, int]], new: tuple[str, str, float, int]) -> tuple[bool, str]:
    """Admit ``running`` (id, owner, cpu per pod, pods), then one cycle for ``new``: started?, reason."""
    from prioq import Job, Node, Policy, Scheduler

    s = Scheduler([Node(id=f"n{i}", capacity="cpu=64") for i in range(64)], policy=Policy(quotas=SCHED_QUEUES))
    for job_id, owner, cpu, pods in running:
        s.submit(Job(id=job_id, submitted_at=0, request=f"cpu={cpu}", nodes=pods, owner=owner), 0)
    assert len(s.schedule(0)) == len(running)
    job_id, owner, cpu, pods = new
    s.submit(Job(id=job_id, submitted_at=1, request=f"cpu={cpu}", nodes=pods, owner=owner), 1)
    started = [d.job_id for d in s.schedule(1)] == [job_id]
    return started, "" if started else s.pending(1)[0].message


@pytest.mark.parametrize(
    ("running", "new", "admitted"),
    [
        pytest.param([], ("foo", "sales", 1, 10), True, id="workload fits in single clusterQueue"),
        pytest.param([("assigned", "sales", 1, 40)], ("new", "sales", 1, 11), False, id="single clusterQueue full"),
        pytest.param([("a", "lend-b", 2, 1)], ("b", "lend-b", 3, 1), False,
                     id="workload exceeds lending limit when borrow in cohort"),
    ],
)
def test_schedule(running: list[tuple[str, str, float, int]], new: tuple[str, str, float, int], admitted: bool) -> None:
    started, message = scheduled(running, new)
    assert started is admitted, message
    if not admitted:
        assert message.startswith(f"over quota of {new[1]}: cpu: ")
