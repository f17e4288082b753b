"""Node selection, taints, cordon/drain and time limits: one example test per documented rule
(docs/scheduler.md#node-selection, #cordon-and-drain, #time-limits)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import prioq
from prioq import (
    InvalidJob,
    InvalidNode,
    Job,
    LabelRequirement,
    Node,
    Policy,
    Preempt,
    Preemption,
    Reason,
    Scheduler,
    Selector,
    Start,
    Stop,
    Taint,
    Toleration,
    UnknownNode,
)
from prioq.errors import InvalidJobType, InvalidNodeType
from prioq.storage import MemoryStore, open_store
from prioq.storage._codec import decode_job, decode_node, encode_job, encode_node
from test_rollback import FailingStore, observe


def fleet(*names: str, cap: str = "cpu=4", **kw: object) -> list[Node]:
    """Nodes named ``<fleet><i>`` labelled ``fleet=<fleet>``."""
    out = []
    for name in names:
        f = name.rstrip("0123456789")
        out.append(Node(id=name, capacity=cap, labels={"fleet": f}, **kw))  # type: ignore[arg-type]
    return out


def starts(decisions: list[prioq.Decision]) -> dict[str, tuple[str, ...]]:
    return {d.job_id: d.node_ids for d in decisions if isinstance(d, Start)}


def reason(s: Scheduler, job_id: str, now: float) -> tuple[Reason, str]:
    (p,) = [p for p in s.pending(now) if p.job.id == job_id]
    return p.reason, p.message


# ----------------------------------------------------------------------------- values


def test_selector_forms_are_one_value() -> None:
    a = Job(id="a", submitted_at=0, node_selector={"fleet": "dev", "zone": ["b", "a"]})
    b = Job(id="a", submitted_at=0, node_selector=[
        LabelRequirement(key="zone", values=("a", "b")), LabelRequirement(key="fleet", values=("dev",))])
    assert a == b and hash(a) == hash(b)
    assert str(a.node_selector) == "fleet=dev,zone in (a,b)"
    sel = Selector.of([LabelRequirement(key="spot", operator="DoesNotExist"),
                       LabelRequirement(key="gpu", operator="NotIn", values=("t4",)),
                       LabelRequirement(key="ssd", operator="Exists")])
    assert str(sel) == "gpu notin (t4),!spot,ssd"
    assert sel.matches({"ssd": "1", "gpu": "a100"}) and not sel.matches({"ssd": "1", "gpu": "t4"})
    assert not sel.matches({"ssd": "1", "spot": "yes"}) and not sel.matches({})
    assert not Job(id="x", submitted_at=0).node_selector  # empty: every node


def test_taint_and_toleration_short_forms() -> None:
    node = Node(id="n", capacity="cpu=1", taints=["gpu=a100:NoSchedule", Taint(key="spot")])
    assert node.taints == (Taint(key="gpu", value="a100"), Taint(key="spot"))
    assert str(node.taints[0]) == "gpu=a100:NoSchedule"
    assert Toleration.parse("gpu") == Toleration(key="gpu", operator="Exists")
    assert Toleration.parse("gpu=a100:NoSchedule") == Toleration(key="gpu", value="a100", effect="NoSchedule")
    assert Toleration(operator="Exists").tolerates(Taint(key="anything"))
    assert not Toleration(key="gpu", value="t4").tolerates(Taint(key="gpu", value="a100"))


@pytest.mark.parametrize(("fields", "error"), [
    ({"node_selector": {"fleet": 3}}, InvalidJobType),
    ({"node_selector": "fleet=dev"}, InvalidJobType),
    ({"node_selector": [3]}, InvalidJobType),
    ({"node_selector": {"": "x"}}, InvalidJob),
    ({"tolerations": [3]}, InvalidJobType),
    ({"tolerations": ["gpu:NoExecute"]}, InvalidJob),
    ({"allowed_nodes": "n1"}, InvalidJobType),
    ({"allowed_nodes": [""]}, InvalidJob),
    ({"time_limit": 0}, InvalidJob),
    ({"time_limit": float("inf")}, InvalidJob),
    ({"time_limit": "1h"}, InvalidJobType),
    ({"time_limit": True}, InvalidJobType),
])
def test_bad_job_selection_fields_raise_typed_errors(fields: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        Job(id="j", submitted_at=0, **fields)  # type: ignore[arg-type]


def test_a_bad_requirement_raises_where_it_is_built() -> None:
    with pytest.raises(prioq.InvalidValue, match="In needs at least one value"):
        LabelRequirement(key="k", operator="In")
    with pytest.raises(prioq.InvalidValue, match="takes no values"):
        LabelRequirement(key="k", operator="Exists", values=("x",))
    with pytest.raises(InvalidJob, match="In needs at least one value"):
        Job(id="j", submitted_at=0, node_selector={"k": []})


def test_bad_taints_raise_invalid_node() -> None:
    with pytest.raises(InvalidNode):
        Node(id="n", capacity="cpu=1", taints=["gpu:PreferNoSchedule"])
    with pytest.raises(InvalidNodeType):
        Node(id="n", capacity="cpu=1", taints=[1])
    with pytest.raises(InvalidNode):
        Node(id="n", capacity="cpu=1", taints=["=x:NoSchedule"])


def test_codec_round_trips_every_new_field() -> None:
    job = Job(id="j", submitted_at=1,
              node_selector=[LabelRequirement(key="a", operator="NotIn", values=("x",)),
                             LabelRequirement(key="b", operator="Exists")],
              tolerations=["gpu=a100:NoSchedule", "spot"], allowed_nodes=["n2", "n1"], time_limit=3600.5)
    assert decode_job(encode_job(job)) == job
    node = Node(id="n", capacity="cpu=2", labels={"fleet": "dev"}, taints=["gpu:NoSchedule"])
    assert decode_node(encode_node(node)) == node
    assert "node_selector" not in encode_job(Job(id="plain", submitted_at=0))  # defaults stay out


# ----------------------------------------------------------------------------- placement


def test_node_selector_keeps_a_job_off_other_fleets() -> None:
    """The issue's first finding: a job labelled for dev landed on prod."""
    s = Scheduler(fleet("prod0", "dev0"))
    s.submit(Job(id="a", submitted_at=0, request="cpu=4", node_selector={"fleet": "dev"}), 0)
    s.submit(Job(id="b", submitted_at=0, request="cpu=4", node_selector={"fleet": "dev"}), 0)
    assert starts(s.schedule(0)) == {"a": ("dev0",)}
    assert reason(s, "b", 0)[0] is Reason.PRIORITY  # prod0 is free, but not its fleet
    assert "not matching selector fleet=dev" in s.explain("b", 0)


def test_not_in_exists_and_does_not_exist() -> None:
    nodes = [Node(id="spot", capacity="cpu=1", labels={"spot": "yes", "gpu": "t4"}),
             Node(id="t4", capacity="cpu=1", labels={"gpu": "t4"}),
             Node(id="a100", capacity="cpu=1", labels={"gpu": "a100"})]
    s = Scheduler(nodes, policy=Policy(placement="first-fit"))
    s.submit(Job(id="not-t4", submitted_at=0, request="cpu=1",
                 node_selector=[LabelRequirement(key="gpu", operator="NotIn", values=("t4",))]), 0)
    s.submit(Job(id="no-spot", submitted_at=1, request="cpu=1",
                 node_selector=[LabelRequirement(key="spot", operator="DoesNotExist")]), 1)
    s.submit(Job(id="any-gpu", submitted_at=2, request="cpu=1",
                 node_selector=[LabelRequirement(key="gpu", operator="Exists")]), 2)
    assert starts(s.schedule(2)) == {"not-t4": ("a100",), "no-spot": ("t4",), "any-gpu": ("spot",)}


def test_taints_repel_jobs_without_a_toleration() -> None:
    nodes = [Node(id="gpu", capacity="cpu=4", taints=["nvidia.com/gpu:NoSchedule"]),
             Node(id="cpu", capacity="cpu=4")]
    s = Scheduler(nodes)
    s.submit(Job(id="plain", submitted_at=0, request="cpu=4"), 0)
    s.submit(Job(id="plain2", submitted_at=0, request="cpu=4"), 0)
    s.submit(Job(id="tolerant", submitted_at=0, request="cpu=4", tolerations=["nvidia.com/gpu"]), 0)
    assert starts(s.schedule(0)) == {"plain": ("cpu",), "tolerant": ("gpu",)}
    assert "1 untolerated taint nvidia.com/gpu:NoSchedule" in s.explain("plain2", 0)


def test_allowed_nodes_pin_a_job() -> None:
    s = Scheduler(fleet("n0", "n1", "n2"), policy=Policy(placement="first-fit"))
    s.submit(Job(id="pinned", submitted_at=0, request="cpu=1", allowed_nodes=["n2"]), 0)
    assert starts(s.schedule(0)) == {"pinned": ("n2",)}
    s.submit(Job(id="gone", submitted_at=0, request="cpu=1", allowed_nodes=["n9"]), 0)
    s.schedule(0)
    r, msg = reason(s, "gone", 0)
    assert r is Reason.NO_SELECTED_NODE
    assert msg == "no node it may use could ever hold cpu=1: 0/3 nodes selected (nodes n9)"
    s.add_node(Node(id="n9", capacity="cpu=1"), 1)  # a node of that name arrives: it starts
    assert starts(s.schedule(1)) == {"gone": ("n9",)}


def test_unsatisfiable_stays_unsatisfiable_when_no_node_at_all_fits() -> None:
    s = Scheduler(fleet("dev0"))
    s.submit(Job(id="huge", submitted_at=0, request="cpu=64", node_selector={"fleet": "dev"}), 0)
    s.schedule(0)
    assert reason(s, "huge", 0)[0] is Reason.UNSATISFIABLE


def test_gang_members_land_on_distinct_selected_nodes() -> None:
    s = Scheduler(fleet("dev0", "prod0", "dev1", "prod1"))
    s.submit(Job(id="g", submitted_at=0, request="cpu=4", nodes=2, node_selector={"fleet": "dev"}), 0)
    assert starts(s.schedule(0)) == {"g": ("dev0", "dev1")}
    s.submit(Job(id="g3", submitted_at=0, request="cpu=1", nodes=3, node_selector={"fleet": "dev"}), 0)
    s.schedule(0)
    r, msg = reason(s, "g3", 0)
    assert r is Reason.NO_SELECTED_NODE and msg.startswith("fewer than 3 nodes it may use")


def test_reservation_is_made_on_selected_nodes_only() -> None:
    """EASY backfill: the blocked head's reservation is on its own fleet, so a job of the other
    fleet is not held back by it, and a job of the same fleet must fit before it."""
    s = Scheduler(fleet("dev0", "prod0"))
    s.submit(Job(id="dev-long", submitted_at=0, request="cpu=2", duration=100,
                 node_selector={"fleet": "dev"}), 0)
    s.submit(Job(id="prod-long", submitted_at=0, request="cpu=2", duration=100,
                 node_selector={"fleet": "prod"}), 0)
    s.schedule(0)
    s.submit(Job(id="head", submitted_at=1, priority=50, request="cpu=4", node_selector={"fleet": "dev"}), 1)
    s.submit(Job(id="prod-short", submitted_at=1, request="cpu=2", duration=500,
                 node_selector={"fleet": "prod"}), 1)
    s.submit(Job(id="dev-too-long", submitted_at=1, request="cpu=2", duration=500,
                 node_selector={"fleet": "dev"}), 1)
    assert starts(s.schedule(1)) == {"prod-short": ("prod0",)}
    assert reason(s, "dev-too-long", 1)[0] is Reason.RESERVED


def test_preemption_victims_are_only_on_eligible_nodes() -> None:
    s = Scheduler(fleet("dev0", "prod0"),
                  policy=Policy(preemption=Preemption(policy="lower-priority", grace=5)))
    dev, prod = {"fleet": "dev"}, {"fleet": "prod"}
    s.submit(Job(id="low-prod", submitted_at=0, priority=0, request="cpu=4", node_selector=prod), 0)
    s.submit(Job(id="mid-dev", submitted_at=0, priority=10, request="cpu=4", node_selector=dev), 0)
    s.schedule(0)
    s.submit(Job(id="urgent", submitted_at=1, priority=90, request="cpu=4", node_selector=dev), 1)
    (d,) = s.schedule(1)
    # low-prod is the cheaper victim, but on a node urgent may not use
    assert d == Preempt(job_id="mid-dev", node_ids=("dev0",), by="urgent", grace=5)
    assert s.nominations() == {"urgent": ("dev0",)}


# ----------------------------------------------------------------------------- cordon and drain


def test_cordon_starts_nothing_new_and_keeps_running_work() -> None:
    s = Scheduler(fleet("n0", "n1"), policy=Policy(placement="first-fit"))
    s.submit(Job(id="a", submitted_at=0, request="cpu=2"), 0)
    s.schedule(0)
    s.cordon_node("n0", 1)
    assert s.cordoned() == {"n0": "cordoned"}
    s.submit(Job(id="b", submitted_at=1, request="cpu=2"), 1)
    assert starts(s.schedule(1)) == {"b": ("n1",)}  # n0 has room but is cordoned
    assert [r.job.id for r in s.running()] == ["a", "b"]  # a stays
    s.submit(Job(id="c", submitted_at=2, request="cpu=4"), 2)
    s.schedule(2)
    assert "1 cordoned" in s.explain("c", 2)
    s.uncordon_node("n0", 3)
    assert s.cordoned() == {}
    s.release("a", 3)
    assert starts(s.schedule(3)) == {"c": ("n0",)}


def test_cordon_of_every_node_a_job_may_use_says_so() -> None:
    s = Scheduler(fleet("n0"))
    s.cordon_node("n0", 0)
    s.submit(Job(id="a", submitted_at=0, request="cpu=1"), 0)
    assert s.schedule(0) == []
    r, msg = reason(s, "a", 0)
    assert r is Reason.NO_SELECTED_NODE
    assert msg == ("no node it may use could ever hold cpu=1: 0/1 nodes selected (no selection; tainted "
                   "nodes left out), 1 cordoned")


def test_drain_preempts_running_jobs_with_a_reason_and_they_requeue_elsewhere() -> None:
    s = Scheduler(fleet("n0", "n1"), policy=Policy(placement="first-fit", preemption=Preemption(grace=30)))
    s.submit_many([Job(id="a", submitted_at=0, request="cpu=2"),
                   Job(id="b", submitted_at=0, request="cpu=1")], 0)
    s.submit(Job(id="g", submitted_at=0, request="cpu=1", nodes=2), 0)
    assert starts(s.schedule(0)) == {"a": ("n0",), "b": ("n0",), "g": ("n0", "n1")}
    on_n0 = ["a", "b", "g"]
    decisions = s.drain_node("n0", 5)
    assert [d.job_id for d in decisions] == on_n0
    assert all(d.reason == "drain" and d.by is None and d.grace == 30 for d in decisions)
    assert s.cordoned() == {"n0": "drained"}
    assert s.terminating() == {j: (None, 35.0) for j in on_n0}
    assert s.explain(on_n0[0], 5).startswith("terminating: node drained, told at 5 on n0")
    st = s.status(on_n0[0], 5)  # regression: status said "running" for a drained job
    assert (st.state, st.deadline, st.message) == ("terminating", 35.0, "told to stop: drain")
    assert s.drain_node("n0", 6) == []  # told once
    s.release(on_n0[0], 7)  # requeued as a preemption victim, and it lands elsewhere
    assert on_n0[0] in [p.job.id for p in s.pending(7)]
    assert all("n0" not in nodes for nodes in starts(s.schedule(7)).values())


def test_drained_gang_is_told_to_stop_whole() -> None:
    s = Scheduler(fleet("n0", "n1"))
    s.submit(Job(id="g", submitted_at=0, request="cpu=1", nodes=2), 0)
    s.schedule(0)
    (d,) = s.drain_node("n1", 1)
    assert d == Preempt(job_id="g", node_ids=("n0", "n1"), grace=0.0, reason="drain")


def test_cordon_drops_a_nomination_on_that_node() -> None:
    s = Scheduler(fleet("n0", "n1"), policy=Policy(preemption=Preemption(policy="lower-priority", grace=10)))
    s.submit(Job(id="low", submitted_at=0, request="cpu=4"), 0)
    s.submit(Job(id="low1", submitted_at=0, request="cpu=4"), 0)
    s.schedule(0)
    s.submit(Job(id="hi", submitted_at=1, priority=90, request="cpu=4"), 1)
    (p,) = s.schedule(1)
    nominated = s.nominations()["hi"]
    s.cordon_node(nominated[0], 2)
    assert s.nominations() == {}
    s.release(p.job_id, 3)  # the victim left, but its node is cordoned: hi plans elsewhere
    decisions = s.schedule(3)
    assert all(nominated[0] not in d.node_ids for d in decisions if isinstance(d, Start))


def test_remove_node_forgets_its_cordon() -> None:
    s = Scheduler(fleet("n0", "n1"))
    s.cordon_node("n0", 0)
    s.remove_node("n0", 1)
    s.add_node(Node(id="n0", capacity="cpu=4"), 2)
    assert s.cordoned() == {}


def test_cordon_calls_validate_first() -> None:
    s = Scheduler(fleet("n0"))
    with pytest.raises(UnknownNode):
        s.cordon_node("nope", 0)
    with pytest.raises(UnknownNode):
        s.drain_node("nope", 0)
    with pytest.raises(prioq.InvalidType):
        s.uncordon_node(3, 0)  # type: ignore[arg-type]
    assert s.now is None and s.cordoned() == {}


@pytest.mark.parametrize("call", ["cordon", "drain", "uncordon"])
def test_failed_cordon_calls_change_nothing(call: str) -> None:
    store = FailingStore()
    s = Scheduler(fleet("n0", "n1"), store=store, policy=Policy(preemption=Preemption(grace=3)))
    s.submit(Job(id="a", submitted_at=0, request="cpu=2"), 0)
    s.schedule(0)
    if call == "uncordon":
        s.cordon_node("n0", 0)
        s.cordon_node("n1", 0)
    twin = Scheduler(store=copy.deepcopy(store), policy=s.policy)
    before = (observe(s), s.cordoned())
    store.fail = True
    with pytest.raises(prioq.StoreError):
        {"cordon": lambda: s.cordon_node("n0", 4), "drain": lambda: s.drain_node("n0", 4),
         "uncordon": lambda: s.uncordon_node("n0", 4)}[call]()
    assert (observe(s), s.cordoned()) == before
    store.fail = False
    s.submit(Job(id="b", submitted_at=5, request="cpu=2"), 5)
    twin.submit(Job(id="b", submitted_at=5, request="cpu=2"), 5)
    assert s.schedule(5) == twin.schedule(5)
    s._check()


# ----------------------------------------------------------------------------- time limits


def test_time_limit_fires_once_and_release_ends_the_job_failed() -> None:
    s = Scheduler(fleet("n0"))
    s.submit(Job(id="t", submitted_at=0, request="cpu=1", time_limit=60), 0)
    s.submit(Job(id="after", submitted_at=0, request="cpu=1", after=["t"], dependency="afterok"), 0)
    s.schedule(10)
    assert s.schedule(69) == []
    assert s.schedule(70) == [Stop(job_id="t", node_ids=("n0",), reason="time-limit")]
    assert s.schedule(71) == [] and s.schedule(72) == []  # once
    assert s.terminating() == {"t": (None, 70.0)}
    assert s.explain("t", 72) == "terminating: time limit reached, told at 70 on n0, grace until 70"
    assert (s.status("t", 72).state, s.status("t", 72).message) == ("terminating", "told to stop: time-limit")
    s.release("t", 72)
    assert s.outcomes() == {"t": "failed"}  # Slurm's TIMEOUT: afterok dependants never start
    s.schedule(72)
    assert reason(s, "after", 72)[0] is Reason.DEPENDENCY_FAILED


@pytest.mark.parametrize(("limit", "duration", "backfills"), [
    (50, None, True),  # the limit bounds its runtime: it ends before the reservation's start
    (200, None, False),  # it would delay the reservation
    (None, None, False),  # unknown runtime: never under a reservation
    (200, 50, True),  # the smaller of the two
    (50, 200, True),
])
def test_a_time_limit_bounds_the_runtime_backfill_plans_with(
    limit: float | None, duration: float | None, backfills: bool
) -> None:
    """EASY backfill as Slurm reads time limits: a job that will be told to stop within the
    gap before a reservation's start may run there (``Job.estimate``)."""
    s = Scheduler([Node(id=f"n{i}", capacity="cpu=4 gpu=A100:1") for i in range(2)])
    s.submit(Job(id="r", submitted_at=0, request="gpu=1", duration=100), 0)
    s.schedule(0)  # r holds n0 until 100
    s.submit(Job(id="gang", submitted_at=1, priority=10, request="gpu=1", nodes=2), 1)
    s.submit(Job(id="small", submitted_at=1, request="gpu=1", time_limit=limit, duration=duration), 1)
    started = [d.job_id for d in s.schedule(1) if isinstance(d, Start)]
    assert started == (["small"] if backfills else [])
    assert s.status("gang", 1).reservation is not None  # the gang holds both nodes from 100
    assert Job(id="x", submitted_at=0, time_limit=limit, duration=duration).estimate == (
        min(x for x in (limit, duration) if x is not None) if limit or duration else None)


def test_a_running_jobs_time_limit_dates_the_reservation() -> None:
    """The other half of Job.estimate: a running job with a limit and no duration frees its
    node by started_at + time_limit (a job of unknown end would leave the reservation
    undated, and a 150 s job would backfill past where the gang is to start)."""
    s = Scheduler([Node(id=f"n{i}", capacity="cpu=4 gpu=A100:1") for i in range(2)])
    s.submit(Job(id="r", submitted_at=0, request="gpu=1", time_limit=100), 0)
    s.schedule(0)
    s.submit(Job(id="gang", submitted_at=1, priority=10, request="gpu=1", nodes=2), 1)
    s.submit(Job(id="small", submitted_at=1, request="gpu=1", duration=150), 1)
    assert [d.job_id for d in s.schedule(1) if isinstance(d, Start)] == []
    status = s.status("gang", 1)
    assert status.reservation is not None and status.reservation.start == 100
    assert status.estimated_start == 100


def test_a_parked_job_with_a_time_limit_is_not_parked_with_jobs_of_unknown_runtime() -> None:
    """Parked shapes keep jobs with an estimate (Job.estimate: a time limit will do) apart
    from those without: h0, vetoed by the gang's reservation, says nothing of m, which ends
    (is told to stop) by 60, before the reservation's start at 100, and backfills."""
    s = Scheduler([Node(id=f"n{i}", capacity="cpu=4 gpu=A100:1") for i in range(2)])
    s.submit(Job(id="r0", submitted_at=0, request="gpu=1", duration=100), 0)
    s.submit(Job(id="r1", submitted_at=0, request="gpu=1", duration=10), 0)
    s.schedule(0)
    s.submit(Job(id="gang", submitted_at=1, priority=10, request="gpu=1", nodes=2), 1)
    s.submit_many([Job(id=f"h{i}", submitted_at=1, request="gpu=1") for i in range(3)], 1)
    s.submit(Job(id="m", submitted_at=1, request="gpu=1", time_limit=50), 1)
    assert [d.job_id for d in s.schedule(1) if isinstance(d, Start)] == []  # no room: parked
    s.release("r1", 10)
    assert [d.job_id for d in s.schedule(10) if isinstance(d, Start)] == ["m"]


def test_the_shortest_mate_of_a_parked_shape_is_the_one_of_shortest_estimate() -> None:
    """In one shape (all with an estimate), the head vetoed by a reservation has the mate of
    shortest estimate tried: m, whose time limit (50) bounds it, not a 500 s job."""
    s = Scheduler([Node(id=f"n{i}", capacity="cpu=4 gpu=A100:1") for i in range(2)])
    s.submit(Job(id="r0", submitted_at=0, request="gpu=1", duration=100), 0)
    s.submit(Job(id="r1", submitted_at=0, request="gpu=1", duration=10), 0)
    s.schedule(0)
    s.submit(Job(id="gang", submitted_at=1, priority=10, request="gpu=1", nodes=2), 1)
    s.submit_many([Job(id=f"h{i}", submitted_at=1, request="gpu=1", duration=500) for i in range(3)], 1)
    s.submit(Job(id="m", submitted_at=1, request="gpu=1", time_limit=50, duration=900), 1)
    assert [d.job_id for d in s.schedule(1) if isinstance(d, Start)] == []  # no room: parked
    s.release("r1", 10)
    assert [d.job_id for d in s.schedule(10) if isinstance(d, Start)] == ["m"]


def test_a_requeued_job_gets_a_fresh_time_limit() -> None:
    s = Scheduler(fleet("n0"))
    s.submit(Job(id="t", submitted_at=0, request="cpu=1", time_limit=10), 0)
    s.schedule(0)
    s.requeue("t", 5)
    s.schedule(6)
    assert s.schedule(10) == []
    assert s.schedule(16) == [Stop(job_id="t", node_ids=("n0",))]


def test_time_limit_and_drain_tell_a_job_once() -> None:
    s = Scheduler(fleet("n0"))
    s.submit(Job(id="t", submitted_at=0, request="cpu=1", time_limit=10), 0)
    s.schedule(0)
    assert [d.reason for d in s.drain_node("n0", 5)] == ["drain"]
    assert s.schedule(20) == []


def test_stops_survive_a_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    s = Scheduler([*fleet("n0", "n1"), Node(id="t0", capacity="cpu=4", taints=["gpu:NoSchedule"])],
                  store=open_store(url))
    s.submit_many([Job(id="t", submitted_at=0, request="cpu=1", time_limit=10, allowed_nodes=["n1"]),
                   Job(id="u", submitted_at=0, request="cpu=1", time_limit=30, tolerations=["gpu"],
                       node_selector=[LabelRequirement(key="fleet", operator="DoesNotExist")])], 0)
    assert starts(s.schedule(0)) == {"t": ("n1",), "u": ("t0",)}
    s.drain_node("n0", 1)
    assert s.schedule(10) == [Stop(job_id="t", node_ids=("n1",))]
    s.submit(Job(id="x", submitted_at=10), 10)  # the clock goes with a change
    s._state.store.close()  # type: ignore[attr-defined]  # one writer per file
    again = Scheduler(store=open_store(url))
    assert again.cordoned() == {"n0": "drained"}
    assert again.terminating() == s.terminating() == {"t": (None, 10.0)}
    assert again.get("u") == s.get("u")
    assert again.nodes == s.nodes
    assert again.schedule(30)[:1] == [Stop(job_id="u", node_ids=("t0",))]


def test_a_failed_cycle_does_not_lose_a_due_stop() -> None:
    store = FailingStore()
    s = Scheduler(fleet("n0"), store=store)
    s.submit(Job(id="t", submitted_at=0, request="cpu=1", time_limit=10), 0)
    s.schedule(0)
    store.fail = True
    with pytest.raises(prioq.StoreError):
        s.schedule(10)
    assert s.terminating() == {}
    store.fail = False
    assert s.schedule(10) == [Stop(job_id="t", node_ids=("n0",))]


def test_prioq_show_lists_cordons_and_stopping_jobs(tmp_path: Path) -> None:
    import io

    from prioq.sim.cli import main

    url = f"sqlite:///{tmp_path / 'q.db'}"
    s = Scheduler(fleet("n0", "n1"), store=open_store(url))
    s.submit(Job(id="t", submitted_at=0, request="cpu=1", time_limit=10, allowed_nodes=["n1"]), 0)
    s.schedule(0)
    s.cordon_node("n0", 1)
    s.schedule(10)
    s._state.store.close()  # type: ignore[attr-defined]
    out = io.StringIO()
    assert main(["show", "--store", url], out=out, err=io.StringIO()) == 0
    text = out.getvalue()
    assert "terminating (time-limit)" in text
    assert "CORDONED (1 nodes)\n  n0  cordoned" in text


def test_memory_store_keeps_selection_fields() -> None:
    store = MemoryStore()
    s = Scheduler(fleet("n0"), store=store)
    job = Job(id="j", submitted_at=0, node_selector={"fleet": "n"}, tolerations=["x"], time_limit=5)
    s.submit(job, 0)
    assert Scheduler(store=store).get("j") == job


def test_bench_selection_toy_prints_its_ratios() -> None:
    import subprocess
    import sys

    bench = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_selection.py"
    out = subprocess.run([sys.executable, str(bench), "--toy"], check=True, capture_output=True,
                         text=True).stdout
    assert "1. one cycle" in out and "2. saturated fleet" in out and "3. view upkeep" in out
    assert out.count("100 started") == 3  # every job placed, with or without selection


def test_the_simulator_stops_a_job_at_its_time_limit() -> None:
    from prioq.sim import Workload, simulate, strategy

    jobs = [Job(id="long", submitted_at=0, duration=100, request="cpu=1", time_limit=10),
            Job(id="next", submitted_at=1, duration=5, request="cpu=1")]
    result = simulate(Workload(name="w", jobs=jobs, nodes=[Node(id="n", capacity="cpu=1")]), strategy("fifo"))
    times = {r.job_id: (r.started_at, r.finished_at) for r in result.records}
    assert times == {"long": (0, 10), "next": (10, 15)}


def test_async_scheduler_cordons_and_drains() -> None:
    import asyncio

    from prioq.aio import AsyncScheduler

    async def run() -> None:
        async with AsyncScheduler(Scheduler(fleet("n0", "n1"))) as s:
            await s.submit(Job(id="a", submitted_at=0, request="cpu=1", allowed_nodes=["n0"]), 0)
            await s.schedule(0)
            await s.cordon_node("n1", 1)
            assert await s.cordoned() == {"n1": "cordoned"}
            assert [d.job_id for d in await s.drain_node("n0", 2)] == ["a"]
            await s.uncordon_node("n1", 3)
            assert await s.cordoned() == {"n0": "drained"}

    asyncio.run(run())


def test_postgresql_keeps_selection_cordons_and_stops(postgres_url: str) -> None:
    import secrets

    from test_storage_postgres import drop_schema, pg

    schema = f"sel_{secrets.token_hex(4)}"
    try:
        nodes = [*fleet("n0", "n1"), Node(id="t0", capacity="cpu=4", taints=["gpu=a:NoSchedule"])]
        s = Scheduler(nodes, store=pg(postgres_url, schema))
        job = Job(id="u", submitted_at=0, request="cpu=1", time_limit=5, tolerations=["gpu=a:NoSchedule"],
                  node_selector=[LabelRequirement(key="fleet", operator="DoesNotExist")],
                  allowed_nodes=["t0"])
        s.submit(job, 0)
        s.schedule(0)
        s.cordon_node("n0", 1)
        assert s.schedule(5) == [Stop(job_id="u", node_ids=("t0",))]
        s._state.store.close()  # type: ignore[attr-defined]
        again = Scheduler(store=pg(postgres_url, schema))
        assert again.get("u") == job and again.nodes == nodes
        assert again.cordoned() == {"n0": "cordoned"} and again.terminating() == {"u": (None, 5.0)}
        again._state.store.close()  # type: ignore[attr-defined]
    finally:
        drop_schema(postgres_url, schema)


def test_status_and_unmet_demand_respect_selection() -> None:
    """After the merge with status() and unmet_demand(): a job's node classes are the nodes it may
    use, and a job whose selection no node meets is unmet demand (an autoscaler must add one)."""
    s = Scheduler([Node(id="d0", capacity="cpu=4", labels={"fleet": "dev"}),
                   Node(id="p0", capacity="cpu=8", labels={"fleet": "prod"})])
    dev = {"fleet": "dev"}
    s.submit_many([Job(id=j, submitted_at=0, request="cpu=4", node_selector=dev) for j in "ab"], 0)
    s.submit(Job(id="c", submitted_at=0, request="cpu=1", node_selector={"fleet": "gpu"}), 0)
    s.schedule(0)
    (fit,) = s.status("b", 0).misfits  # p0 has room, but b may not use it
    assert fit.node_ids == ("d0",) and fit.fit_now == 0
    (demand,) = s.unmet_demand(0)
    assert demand.job_ids == ("c",) and demand.why == "unsatisfiable"
    # the shape carries the selection: the node an autoscaler adds must be in the gpu fleet
    assert demand.node_selector == Selector.of({"fleet": "gpu"}) and demand.tolerations == ()


def test_unmet_demand_keeps_shapes_of_other_selections_apart() -> None:
    """One request asked for by jobs of two fleets (and one tolerating a taint) is three
    shapes: nodes added for one would not serve the others."""
    s = Scheduler([Node(id="p0", capacity="cpu=2", labels={"fleet": "prod"})])
    spot = Toleration(key="spot")
    s.submit_many([Job(id="a", submitted_at=0, priority=5, request="cpu=8", node_selector={"fleet": "dev"}),
                   Job(id="b", submitted_at=0, request="cpu=8", node_selector={"fleet": "dev"}),
                   Job(id="c", submitted_at=1, request="cpu=8", node_selector={"fleet": "prod"}),
                   Job(id="d", submitted_at=2, request="cpu=8", tolerations=[spot], allowed_nodes=["p0"])], 2)
    s.schedule(2)
    got = [(d.job_ids, str(d.node_selector), d.tolerations, d.allowed_nodes) for d in s.unmet_demand(2)]
    assert got == [(("a", "b"), "fleet=dev", (), ()), (("c",), "fleet=prod", (), ()),
                   (("d",), "", (spot,), ("p0",))]
