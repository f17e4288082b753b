"""prioq.testing proves itself: every built-in policy passes the toolkit's state machine,
and each deliberately broken policy (tests/broken_policies.py) is caught with a clear
message within the default hypothesis budget."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import Phase, settings
from hypothesis.errors import Flaky

import prioq
from broken_policies import Decaying, EvictAnyone, OverCommit, StarveFractional
from prioq import LinearAging, Policy, Preemption, StepAging
from prioq.testing import InvariantError, SchedulerStateMachine
from rankings import Greedy, Tiers

BUILT_IN: dict[str, Callable[[], Policy]] = {
    "best-fit": lambda: Policy(),
    "first-fit-no-reservation": lambda: Policy(reservation=False, placement="first-fit"),
    "strict-spread": lambda: Policy(queueing="strict", placement="spread"),
    "fgd-linear": lambda: Policy(placement="fragmentation-aware", aging=LinearAging(rate=1, max_boost=20)),
    "preempt": lambda: Policy(
        preemption=Preemption(policy="lower-priority", min_runtime=2),
        aging=LinearAging(rate=1, max_boost=20),
    ),
    "preempt-newer": lambda: Policy(
        preemption=Preemption(policy="lower-or-newer-equal", compare="effective", max_victims=3),
        aging=StepAging(interval=5, step=10, max_boost=30),
    ),
    "fair-share": lambda: Policy(
        fair_share=prioq.FairShare(), preemption=Preemption(policy="lower-priority")
    ),
    "fair-share-allocation-nested": lambda: Policy(
        fair_share=prioq.FairShare(basis="allocation"), weights={"team-a": 2, "team-b": 0},
        preemption=Preemption(policy="lower-priority"),
    ),
    # a user ranking (tests/rankings.py): its contract is the one the checkers hold it to
    "user-ranking": lambda: Policy(
        fair_share=prioq.FairShare(ranking=Tiers()), aging=LinearAging(rate=1, max_boost=20)
    ),
}

_SETTINGS = settings(max_examples=20, stateful_step_count=25, deadline=None)


def machine(make: Callable[[], Policy], name: str) -> type[SchedulerStateMachine]:
    return type(f"Machine_{name}", (SchedulerStateMachine,), {"make_policy": lambda self: make()})


for _name, _make in BUILT_IN.items():
    globals()[f"TestBuiltin_{_name.replace('-', '_')}"] = _SETTINGS(machine(_make, _name)).TestCase


# ------------------------------------------------------------------ broken policies are caught

BROKEN: dict[str, tuple[Callable[[], Policy], tuple[str, ...]]] = {
    # the scheduler refuses the allocation (past a node's free capacity, or -- a gang: the
    # bug also ignores allow's veto on nodes the gang already uses -- two members on one node)
    "over-commit": (lambda: Policy(placement=OverCommit()), ("refused its own cycle",)),
    "preempts-higher": (
        lambda: Policy(preemption=Preemption(policy="lower-priority", rule=EvictAnyone())),
        ("does not rank below its preemptor",),
    ),
    # the contract check, or what the decrease does to the order and to waiting jobs
    "decaying-aging": (lambda: Policy(aging=Decaying()), ("the boost decreases", "order:", "starvation")),
    "starves": (lambda: Policy(placement=StarveFractional()), ("starvation", "passed over")),
    # an owner ranking under which a start lowers its owner's rank
    "greedy-ranking": (lambda: Policy(fair_share=prioq.FairShare(ranking=Greedy())), ("rank fell",)),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_policy_is_caught_with_a_clear_message(name: str) -> None:
    make, messages = BROKEN[name]
    # the default budget (100 examples of 50 steps); no shrinking, which only makes the
    # example smaller (and, with the liveness rules, takes long)
    found = settings(database=None, deadline=None, print_blob=False, report_multiple_bugs=False,
                     phases=[Phase.explicit, Phase.generate])
    test = found(machine(make, name)).TestCase("runTest")
    with pytest.raises((InvariantError, Flaky)) as caught:
        test.runTest()
    assert any(m in str(caught.value) for m in messages), str(caught.value)


# ------------------------------------------------------------------ user policies by import path


def test_a_strategy_takes_user_policies_by_import_path() -> None:
    from prioq.placement import PlacementPolicy
    from prioq.sim import strategy

    placed = strategy("priority+prioq.placement:FirstFit")
    assert isinstance(placed.policy.placement, PlacementPolicy)
    assert placed.policy.placement.name == "first-fit"
    assert strategy("prioq.placement:Spread").policy.placement.name == "spread"  # alone: modifies priority
    ruled = strategy("priority+preemption+broken_policies:EvictAnyone")
    assert isinstance(ruled.policy.preemption.rule, EvictAnyone)
    assert ruled.policy.preemption.min_runtime == 600  # the preemption modifier's settings kept
    assert isinstance(strategy("priority+broken_policies:Decaying").policy.aging, Decaying)
    with pytest.raises(prioq.InvalidValue, match="cannot import"):
        strategy("priority+no_such_module:X")
    with pytest.raises(prioq.InvalidValue, match="not a Policy"):
        strategy("priority+prioq.placement:PLACEMENTS")


def test_the_cli_simulates_a_user_policy_by_import_path() -> None:
    import io

    from prioq.sim.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(["simulate", "--trace", "nasa-ipsc", "--jobs", "30", "--no-progress",
                 "--policies", "priority,priority+prioq.placement:FirstFit"],
                out=out, err=err)
    assert code == 0, err.getvalue()
    assert "priority+prioq.placement:FirstFit" in out.getvalue()


def test_a_gang_placed_twice_on_one_node_is_refused_and_changes_nothing() -> None:
    """Regression (the over-commit fixture, 1 run in 25): a placement that ignores ``allow``
    put two members of a gang on one node with room for both; the scheduler took it, and
    only its internal check noticed. It now refuses the cycle, as it refuses an allocation
    past a node's free capacity, and the cycle is undone."""
    from prioq import InvalidPolicy, Job, Node, Scheduler
    from test_rollback import observe

    s = Scheduler([Node(id="n0", capacity="cpu=8"), Node(id="n1", capacity="cpu=8")],
                  policy=Policy(placement=OverCommit()))
    s.submit(Job(id="solo", submitted_at=0, request="cpu=1"), 0)
    s.submit(Job(id="gang", submitted_at=0, request="cpu=1", nodes=2), 0)
    before = observe(s)
    with pytest.raises(InvalidPolicy, match="placed two members of gang gang on node n0"):
        s.schedule(1)
    assert observe(s) == before
    s._check()
