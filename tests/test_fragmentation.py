"""Fragmentation Gradient Descent placement: the fragmentation measure, the typical
workload, the placement rule against a brute-force reference, and the experiment script."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prioq.errors import InvalidJob, InvalidPolicy, InvalidPolicyType
from prioq.model import Node
from prioq.placement import PLACEMENTS, NodeIndex, NodeState, PlacementPolicy, placement_policy
from prioq.placement.fragmentation import (
    FragmentationAware,
    TaskType,
    fgd_score,
    node_fragmentation,
    task_fragmentation,
    typical_workload,
)
from prioq.resources import GPU, Device, ResourceRequest, Resources, fit

ROOT = Path(__file__).resolve().parent.parent
T4 = GPU("T4")
A100 = GPU("A100")
GIB = 1024**3


def req(spec: str) -> ResourceRequest:
    return ResourceRequest.parse(spec)


def free_view(cpu: int, shares: Sequence[int], model: GPU = T4, memory: int = 64 * GIB) -> Resources:
    return Resources(
        cpu_milli=cpu * 1000, memory=memory, gpus=[Device(i, model, s) for i, s in enumerate(shares)]
    )


def cluster(*frees: Resources) -> NodeIndex:
    """Nodes n0, n1, ... in that order; capacity = whole devices, free = the given views."""
    index = NodeIndex()
    for i, free in enumerate(frees):
        capacity = Resources(
            cpu_milli=free.cpu_milli, memory=free.memory, gpus=[Device(d.index, d.gpu) for d in free.gpus]
        )
        index.add(NodeState(node=Node(id=f"n{i}", capacity=capacity), order=i, free=free))
    return index


# --------------------------------------------------------------------------- the measure


def test_task_fragmentation_follows_the_definition() -> None:
    free = free_view(8, [1000, 600, 200])  # 1,800 milli-GPUs free, 8 cores
    # A half-GPU task fits: only the 200-milli device cannot hold 500.
    assert task_fragmentation(free, TaskType.of(req("cpu=1 gpu=0.5"))) == 200
    # A one-GPU task needs a wholly free device: the 600 and 200 shares are lost to it.
    assert task_fragmentation(free, TaskType.of(req("cpu=1 gpu=1"))) == 600 + 200
    # Two whole GPUs do not fit (one free device): everything free is fragment.
    assert task_fragmentation(free, TaskType.of(req("cpu=1 gpu=2"))) == 1800
    # Not enough CPU: everything free is fragment.
    assert task_fragmentation(free, TaskType.of(req("cpu=16 gpu=0.5"))) == 1800
    # A CPU-only task cannot use any GPU.
    assert task_fragmentation(free, TaskType.of(req("cpu=1"))) == 1800
    # A task that only runs on A100s cannot use T4s.
    assert task_fragmentation(free, TaskType.of(req("cpu=1 gpu=A100:0.5"))) == 1800
    # A task that needs exactly the node's free CPU still fits.
    assert task_fragmentation(free, TaskType.of(req("cpu=8 gpu=0.5"))) == 200


def test_node_fragmentation_is_the_popularity_weighted_sum() -> None:
    free = free_view(8, [1000, 600, 200])
    half, one, two = (TaskType.of(req(s)) for s in ("cpu=1 gpu=0.5", "cpu=1 gpu=1", "cpu=1 gpu=2"))
    workload = [(half, 0.5), (one, 0.3), (two, 0.2)]
    assert node_fragmentation(free, workload) == pytest.approx(0.5 * 200 + 0.3 * 800 + 0.2 * 1800)
    # An idle node of a model nobody asks for is entirely fragment.
    assert node_fragmentation(free_view(8, [1000, 1000], A100), [(TaskType.of(req("gpu=T4:1")), 1.0)]) == 2000
    # A full node has nothing to fragment.
    assert node_fragmentation(free_view(8, [0, 0]), workload) == 0


def test_fragmentation_counts_devices_of_other_models_on_mixed_nodes() -> None:
    free = Resources(cpu_milli=8000, memory=GIB, gpus=[Device(0, T4, 1000), Device(1, A100, 700)])
    # The T4-only task can use the T4; the A100's 700 free milli are lost to it.
    assert task_fragmentation(free, TaskType.of(req("gpu=T4:0.5"))) == 700
    # An unrestricted half-GPU task can use both.
    assert task_fragmentation(free, TaskType.of(req("gpu=0.5"))) == 0


def test_typical_workload_keeps_the_popular_prefix() -> None:
    a, b, c, d = (TaskType(cpu, 500, 1) for cpu in (1000, 2000, 3000, 4000))
    counts = {a: 5, b: 3, c: 1, d: 1}
    # 95% of 10 tasks needs all four types; popularity is the plain frequency.
    assert dict(typical_workload(counts)) == pytest.approx({a: 0.5, b: 0.3, c: 0.1, d: 0.1})
    # 80% is reached by the two most popular; they are renormalised over those 8 tasks.
    top = typical_workload(counts, 80)
    assert [t for t, _ in top] == [a, b]
    assert [p for _, p in top] == pytest.approx([5 / 8, 3 / 8])
    # Equal counts: the larger CPU demand first (the authors' PodResource order, reversed).
    assert [t for t, _ in typical_workload(counts)][2:] == [d, c]
    assert typical_workload({}) == ()


def test_fgd_score_is_a_truncated_sigmoid() -> None:
    assert fgd_score(0.0) == 50
    assert fgd_score(-1000.0) == int(100 / (1 + math.e))  # 26
    assert fgd_score(1000.0) == int(100 / (1 + math.exp(-1)))  # 73
    assert fgd_score(1e7) == 100
    assert fgd_score(-1e7) == 0


# --------------------------------------------------------------------------- the rule


def observed(policy: FragmentationAware, *specs: str) -> FragmentationAware:
    for spec in specs:
        policy.observe(req(spec))
    return policy


@pytest.mark.parametrize("score", ["rounded", "raw"])
def test_prefers_the_node_and_device_that_leave_less_fragmentation(score: str) -> None:
    # Whole-GPU tasks dominate. n0 is untouched; n1 already has a half-used device.
    index = cluster(free_view(8, [1000, 1000]), free_view(8, [1000, 500]))
    policy = observed(FragmentationAware(score), *["gpu=1"] * 9, "gpu=0.5")  # type: ignore[arg-type]
    placed = policy.place(req("gpu=0.5"), index)
    assert placed is not None
    ns, alloc = placed
    # Filling n1's half device completes it; any other choice strands a half device.
    assert ns.id == "n1"
    assert [(d.index, d.milli) for d in alloc.gpus] == [(1, 500)]
    # When two-GPU tasks dominate, a one-GPU request goes to n1 too: n0 keeps its pair.
    policy = observed(FragmentationAware(score), *["gpu=2"] * 9, "gpu=1")  # type: ignore[arg-type]
    placed = policy.place(req("gpu=1"), index)
    assert placed is not None and placed[0].id == "n1"
    assert [(d.index, d.milli) for d in placed[1].gpus] == [(0, 1000)]


def test_ties_go_to_the_lowest_node_order() -> None:
    index = NodeIndex()
    for order, name in ((5, "late"), (2, "early"), (9, "last")):
        capacity = free_view(8, [1000, 1000])
        index.add(NodeState(node=Node(id=name, capacity=capacity), order=order, free=capacity))
    for score in ("rounded", "raw"):
        policy = observed(FragmentationAware(score), "gpu=1", "gpu=0.5")
        placed = policy.place(req("gpu=0.5"), index)
        assert placed is not None and placed[0].id == "early"


def test_random_tie_break_picks_among_the_best_reproducibly() -> None:
    # Four identical idle nodes and one already half used: the half-used one scores best for a
    # half-GPU job; once that device is full, all five nodes tie for a whole-GPU job.
    frees = [free_view(8, [1000, 1000])] * 4 + [free_view(8, [1000, 500])]
    picks = set()
    for seed in range(12):
        runs = []
        for _ in range(2):  # the same seed twice: the same choices
            index = cluster(*frees)
            policy = observed(FragmentationAware(tie_seed=seed), "gpu=1", "gpu=0.5")
            placed = policy.place(req("gpu=0.5"), index)
            assert placed is not None and placed[0].id == "n4"  # no tie: the best node
            index.update(placed[0], placed[0].free - placed[1])
            whole = policy.place(req("gpu=1"), index)
            assert whole is not None
            runs.append(whole[0].id)
        assert runs[0] == runs[1]
        picks.add(runs[0])
    assert len(picks) > 1  # ties really are broken at random across seeds


def test_rounded_and_raw_can_disagree() -> None:
    # Half the tasks want a whole GPU, half 0.02 of one. A 0.03 request on n1's 30-milli share
    # frees the whole fragment (drop 15); on n0's 40-milli share it leaves 10 milli that the
    # 0.02 tasks cannot use (drop 15 - 5 = 10). Both drops score 50: rounded keeps node order.
    workload = ["gpu=1"] * 5 + ["gpu=0.02"] * 5
    index = cluster(free_view(8, [1000, 40]), free_view(8, [1000, 30]))
    rounded = observed(FragmentationAware("rounded"), *workload)
    w = rounded.workload()
    drop = {
        ns.id: node_fragmentation(ns.free, w)
        - node_fragmentation(ns.free - Resources(gpus=[Device(1, T4, 30)]), w)
        for ns in index
    }
    assert drop == pytest.approx({"n0": 10.0, "n1": 15.0})
    assert fgd_score(drop["n0"]) == fgd_score(drop["n1"]) == 50
    a = rounded.place(req("gpu=0.03"), index)
    b = observed(FragmentationAware("raw"), *workload).place(req("gpu=0.03"), index)
    assert a is not None and (a[0].id, a[1].gpus[0].index) == ("n0", 1)
    assert b is not None and (b[0].id, b[1].gpus[0].index) == ("n1", 1)


def test_with_nothing_observed_the_request_is_the_workload() -> None:
    # Alone, 0.6-GPU tasks strand 400 milli of a whole device but only 100 of n1's 700 share.
    index = cluster(free_view(8, [1000, 1000]), free_view(8, [1000, 700]))
    placed = FragmentationAware().place(req("gpu=0.6"), index)
    assert placed is not None and placed[0].id == "n1" and placed[1].gpus[0].index == 1


def test_observe_and_forget_shape_the_workload() -> None:
    policy = FragmentationAware()
    policy.observe(req("cpu=1 gpu=0.5"))
    policy.observe(req("cpu=1 gpu=0.5"))
    policy.observe(req("cpu=2 gpu=1"))
    assert dict(policy.workload()) == pytest.approx(
        {TaskType.of(req("cpu=1 gpu=0.5")): 2 / 3, TaskType.of(req("cpu=2 gpu=1")): 1 / 3}
    )
    policy.forget(req("cpu=2 gpu=1"))
    policy.forget(req("cpu=9 gpu=1"))  # never observed: ignored
    assert dict(policy.workload()) == {TaskType.of(req("cpu=1 gpu=0.5")): 1.0}
    # The same request with a range counts as its minimum.
    assert TaskType.of(req("cpu=1..4 gpu=0.5")) == TaskType.of(req("cpu=1 gpu=0.5"))


def test_registered_as_a_placement_policy() -> None:
    policy = PLACEMENTS["fragmentation-aware"]()
    assert isinstance(policy, FragmentationAware) and isinstance(policy, PlacementPolicy)
    assert policy.name == "fragmentation-aware"
    assert FragmentationAware("raw").name == "fragmentation-aware-raw"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"score": "best"},
        {"popularity": 0},
        {"popularity": 101},
        {"popularity": True},
        {"step": 0},
        {"tie_seed": True},
        {"tie_seed": "7"},
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidPolicy):
        FragmentationAware(**kwargs)  # type: ignore[arg-type]


def test_bad_calls_raise_and_change_nothing() -> None:
    policy = observed(FragmentationAware(), "gpu=1")
    before = policy.workload()
    index = cluster(free_view(8, [1000]))
    for call in (
        lambda: policy.observe("gpu=1"),  # type: ignore[arg-type]
        lambda: policy.forget(None),  # type: ignore[arg-type]
        lambda: policy.place("gpu=1", index),  # type: ignore[arg-type]
        lambda: policy.place(req("gpu=1"), [index]),  # type: ignore[arg-type]
        lambda: policy.fragmentation("gpu=1"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidPolicyType):
            call()
    assert policy.workload() == before
    assert [ns.free for ns in index] == [free_view(8, [1000])]


# --------------------------------------------------------------------------- against a brute force


def reference(
    policy: FragmentationAware,
    request: ResourceRequest,
    index: NodeIndex,
    allow: Callable[[NodeState, Resources], bool],
) -> tuple[str, Resources] | None:
    """FGD written out naively: every node, every device, fragmentation from scratch."""
    workload = policy.workload() or ((TaskType.of(request), 1.0),)
    g = request.gpu
    best: tuple[Fraction, int, str, Resources] | None = None
    for ns in index:
        base = fit(request, ns.free)
        if base is None:
            continue
        if g is not None and g.fractional:
            options = [
                Resources(
                    cpu_milli=base.cpu_milli, memory=base.memory, disk=base.disk, extras=base.extras,
                    gpus=[Device(d.index, d.gpu, g.milli)],
                )
                for d in ns.free.gpus
                if g.matches(d.gpu) and d.milli >= g.milli
            ]
        else:
            options = [base]
        node_best: tuple[Fraction, Resources] | None = None
        for alloc in options:  # index order; a later device must be strictly better
            after = ns.free - alloc
            if policy.score == "rounded":
                drop = node_fragmentation(ns.free, workload) - node_fragmentation(after, workload)
                s = Fraction(fgd_score(drop))
            else:  # the exact drop: popularities are count ratios, recovered as fractions
                s = sum(
                    (
                        Fraction(p).limit_denominator(10**4)
                        * (task_fragmentation(ns.free, t) - task_fragmentation(after, t))
                        for t, p in workload
                    ),
                    Fraction(0),
                )
            if node_best is None or s > node_best[0]:
                node_best = (s, alloc)
        assert node_best is not None
        if not allow(ns, node_best[1]):
            continue
        if best is None or (node_best[0], -ns.order) > (best[0], -best[1]):
            best = (node_best[0], ns.order, ns.id, node_best[1])
    return None if best is None else (best[2], best[3])


MODELS = (T4, A100)
SHARES = (0, 100, 250, 300, 500, 750, 1000)

requests = st.builds(
    lambda cpu, mem, gpu: req(f"cpu={cpu} memory={mem}GB {gpu}".strip()),
    st.integers(0, 6),
    st.integers(0, 48),
    st.sampled_from(
        [
            *("", "gpu=0.1", "gpu=0.25", "gpu=0.5", "gpu=0.75", "gpu=1", "gpu=2", "gpu=4"),
            *("gpu=T4:0.5", "gpu=A100:1", "gpu=T4,A100:2"),
        ]
    ),
)
nodes = st.one_of(
    st.builds(  # one GPU model per node, as in the trace
        lambda cpu, mem, model, shares: free_view(cpu, shares, model, mem * GIB),
        st.integers(0, 8),
        st.integers(0, 64),
        st.sampled_from(MODELS),
        st.lists(st.sampled_from(SHARES), min_size=0, max_size=4),
    ),
    st.builds(  # mixed models on one node
        lambda cpu, mem, devices: Resources(
            cpu_milli=cpu * 1000, memory=mem * GIB, gpus=[Device(i, m, s) for i, (m, s) in enumerate(devices)]
        ),
        st.integers(0, 8),
        st.integers(0, 64),
        st.lists(st.tuples(st.sampled_from(MODELS), st.sampled_from(SHARES)), min_size=2, max_size=4),
    ),
)


@settings(max_examples=150)
@given(
    frees=st.lists(nodes, min_size=1, max_size=6),
    history=st.lists(requests, max_size=12),
    arrivals=st.lists(st.tuples(requests, st.booleans()), min_size=1, max_size=12),
    score=st.sampled_from(["rounded", "raw"]),
    vetoed=st.sets(st.integers(0, 5), max_size=2),
)
def test_matches_the_brute_force_reference(
    frees: list[Resources],
    history: list[ResourceRequest],
    arrivals: list[tuple[ResourceRequest, bool]],
    score: str,
    vetoed: set[int],
) -> None:
    """Sequences of placements (memo tables reused across changing node states, and
    invalidated when a new observation changes the workload) against the naive rule."""
    index = cluster(*frees)
    policy = FragmentationAware(score)  # type: ignore[arg-type]
    twin = FragmentationAware(score)  # type: ignore[arg-type]
    for r in history:
        policy.observe(r)
        twin.observe(r)

    def allow(ns: NodeState, _alloc: Resources) -> bool:
        return ns.order not in vetoed

    for r, submitted in arrivals:
        if submitted:
            policy.observe(r)
            twin.observe(r)
        expected = reference(policy, r, index, allow)
        placed = policy.place(r, index, allow)
        again = twin.place(r, index, allow)  # deterministic: a fresh twin agrees
        assert (placed is None) == (expected is None) == (again is None)
        if placed is None or expected is None or again is None:
            continue
        ns, alloc = placed
        assert (ns.id, alloc) == expected == (again[0].id, again[1])
        assert alloc.fits_within(ns.free)
        assert ns.order not in vetoed
        assert alloc.cpu_milli == r.minimum().cpu_milli and alloc.memory == r.minimum().memory
        assert alloc.gpu_milli == r.gpu_milli
        assert all(r.gpu is not None and r.gpu.matches(d.gpu) for d in alloc.gpus)
        index.update(ns, ns.free - alloc)


# --------------------------------------------------------------------------- the experiment and the docs


def test_experiment_script_runs_at_toy_size() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fgd_experiment.py"), "--toy", "--seeds", "2"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "Unallocated GPU % when arrived GPU demand = 100% of capacity" in out
    assert "through the Scheduler" in out  # the public path, not the index directly (issue 11)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "paper only" not in line]
    policies = {"random (seeded)", "first-fit", "best-fit (prioq)", "spread",
                "fragmentation-aware (rounded)", "fragmentation-aware (raw)"}
    headline = {line.split(" | ")[0][2:]: line for line in rows[1 : 1 + len(policies)]}
    assert set(headline) == policies
    for line in headline.values():
        mean = float(line.split(" | ")[1])
        assert 0 <= mean <= 100


def test_experiment_speed_mode_agrees_with_the_naive_rule() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fgd_experiment.py"), "--toy", "--speed", "40"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "same placements: True" in out


def test_bounded_memo_tables_give_the_same_placements(monkeypatch: pytest.MonkeyPatch) -> None:
    import prioq.placement.fragmentation as fragmentation

    specs = ["gpu=0.25", "gpu=0.5", "gpu=1", "cpu=2 gpu=0.75", "gpu=2", "cpu=1", "gpu=0.1"] * 6

    def run() -> list[tuple[str, Resources]]:
        index = cluster(*(free_view(8, [1000] * k, T4 if k % 2 else A100) for k in (1, 2, 4, 8, 2, 4)))
        policy = observed(FragmentationAware(), *specs)
        out = []
        for spec in specs:
            placed = policy.place(req(spec), index)
            if placed is not None:
                out.append((placed[0].id, placed[1]))
                index.update(placed[0], placed[0].free - placed[1])
        return out

    normal = run()
    monkeypatch.setattr(fragmentation, "_MEMO_LIMIT", 3)  # cleared on nearly every placement
    assert run() == normal


# --------------------------------------------------------------------------- bad arguments (issue 16)


def test_fgd_parameters_raise_invalid_policy_never_a_builtin() -> None:
    # Before issue 16 these raised InvalidJob (they are not jobs), and the calls below leaked builtins:
    # node_fragmentation("x", ...) AttributeError, typical_workload({t: "2"}) TypeError, a malformed
    # workload a ValueError (unpacking), fgd_score(nan) ValueError; fgd_score(10**400) scored 0.
    t = TaskType.of(req("cpu=1 gpu=0.5"))
    free = free_view(8, [1000])
    for call in (
        lambda: FragmentationAware(popularity=10**400),
        lambda: FragmentationAware(step=-(10**400)),
        lambda: TaskType(cpu_milli=1, gpu_milli=1001),
        lambda: fgd_score(math.nan),
    ):
        with pytest.raises(InvalidPolicy) as info:
            call()
        assert not isinstance(info.value, InvalidJob)
    for call in (
        lambda: node_fragmentation("x", [(t, 1.0)]),  # type: ignore[arg-type]
        lambda: node_fragmentation(free, [(t, 1.0, 2)]),  # type: ignore[list-item]
        lambda: node_fragmentation(free, [(t, "1")]),  # type: ignore[list-item]
        lambda: node_fragmentation(free, 5),  # type: ignore[arg-type]
        lambda: task_fragmentation(free, "gpu=1"),  # type: ignore[arg-type]
        lambda: typical_workload({t: "2"}),  # type: ignore[dict-item]
        lambda: typical_workload({"x": 2}),  # type: ignore[dict-item]
        lambda: typical_workload([t]),  # type: ignore[arg-type]
        lambda: TaskType(cpu_milli="1"),  # type: ignore[arg-type]
        lambda: TaskType(cpu_milli=1, gpu=5),  # type: ignore[arg-type]
        lambda: fgd_score("1"),  # type: ignore[arg-type]
        lambda: FragmentationAware(score=["raw"]),  # type: ignore[arg-type]
        lambda: FragmentationAware(tie_seed=1.5),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidPolicyType):
            call()
    assert (fgd_score(10**400), fgd_score(-(10**400))) == (100, 0)
    assert (fgd_score(math.inf), fgd_score(-math.inf)) == (100, 0)


def test_unknown_placement_policies_raise_invalid_policy() -> None:
    with pytest.raises(InvalidPolicy, match="nope"):
        placement_policy("nope")
    with pytest.raises(InvalidPolicyType):
        placement_policy(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidPolicyType):
        placement_policy(["best-fit"])  # type: ignore[arg-type]
