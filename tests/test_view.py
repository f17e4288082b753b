"""prioq.view: the queue view of a live scheduler and of its store agree with the scheduler.

* The parts add up: effective = base + aging + fair-share term, and the pending list is
  ``Scheduler.pending(now)`` in order (property, random workloads).
* A store's view (read without a scheduler) gives the same order, parts, running jobs,
  device shares, nominations and victims as the live scheduler's view of the same state.
* The JSON is the same data; bad arguments raise the documented errors.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prioq import FairShare, Job, LinearAging, Node, Policy, Preemption, Scheduler
from prioq.errors import InvalidValue
from prioq.storage import MemoryStore, open_store
from prioq.view import QueueView, queue_view

AGING = LinearAging(rate=1 / 64, max_boost=40)
NODES = [Node(id="a", capacity="cpu=16 gpu=A100:4"), Node(id="t", capacity="cpu=8 gpu=T4:2")]
REQUESTS = ["gpu=1 cpu=1", "gpu=0.5 cpu=1", "gpu=2 cpu=2", "gpu=T4:0.25 cpu=1", "cpu=2"]

job_specs = st.lists(
    st.tuples(st.sampled_from([10, 50, 90]), st.sampled_from(REQUESTS), st.sampled_from(["ann", "bo", None]),
              st.integers(0, 3)),
    min_size=1, max_size=14,
)


def build(specs: list[tuple[int, str, str | None, int]], policy: Policy, store: object = None) -> Scheduler:
    s = Scheduler(NODES, policy=policy, store=store)  # type: ignore[arg-type]
    now = 0.0
    for k, (priority, request, owner, gap) in enumerate(specs):
        now += 16 * gap
        s.submit(Job(id=f"j{k}", priority=priority, submitted_at=now, request=request, owner=owner), now)
        if k % 3 == 2:
            s.schedule(now)
    s.schedule(now + 16)
    return s


@settings(max_examples=40, deadline=None)
@given(job_specs, st.booleans())
def test_parts_add_up_and_the_order_is_the_scheduler_s(specs: list[tuple[int, str, str | None, int]],
                                                       term: bool) -> None:
    policy = Policy(aging=AGING, preemption=Preemption(policy="lower-priority", grace=30),
                    fair_share=FairShare(mode="term") if term else None)
    s = build(specs, policy)
    now = (s.now or 0.0) + 100
    view = queue_view(s, now)
    expected = s.pending(now)
    assert [p.job_id for p in view.pending] == [p.job.id for p in expected]
    assert [p.position for p in view.pending] == list(range(1, len(expected) + 1))
    for entry, p in zip(view.pending, expected, strict=True):
        assert entry.effective == p.effective_priority
        assert entry.base + entry.aging + entry.fair_share == pytest.approx(entry.effective, abs=1e-9)
        assert entry.aging == AGING.boost(now - p.job.submitted_at)  # no dependencies: its own wait
        assert entry.reason == p.reason.value
        if not term:
            assert entry.fair_share == 0
    # The parts are Scheduler.status's (issue 15 computes them from public reads; status landed later).
    for entry in view.pending[:5]:
        st = s.status(entry.job_id, now)
        assert st.position == entry.position and st.priority is not None
        assert st.priority.base + st.priority.inherited == entry.base
        assert st.priority.aging == pytest.approx(entry.aging, abs=1e-9)
        assert (st.priority.fair_share or 0.0) == pytest.approx(entry.fair_share, abs=1e-9)
        assert st.priority.total == pytest.approx(entry.effective, abs=1e-9)
    assert [r.job_id for r in view.running] == [r.job.id for r in s.running()]
    # Device shares: what each device's holders hold plus what is free is the whole device.
    for node in view.nodes:
        free = s.free(node.node_id)
        for d in node.devices:
            assert d.free_milli + sum(m for _, m in d.holders) == 1000
            assert d.free_milli == next(f.milli for f in free.gpus if f.index == d.index)
    assert view.nominations == s.nominations()
    assert view.terminating == {k: v.by for k, v in s.terminating().items()}
    assert json.loads(view.json()) == json.loads(json.dumps(view.to_dict()))


@settings(max_examples=25, deadline=None)
@given(job_specs)
def test_a_store_s_view_is_the_live_scheduler_s(specs: list[tuple[int, str, str | None, int]]) -> None:
    store = MemoryStore()
    policy = Policy(aging=AGING, preemption=Preemption(policy="lower-priority", grace=30))
    s = build(specs, policy, store)
    # An explicit now: an idle cycle's clock is not written (docs/orchestrator.md#no-write-when-idle).
    now = (s.now or 0.0) + 50
    live = queue_view(s, now)
    stored = queue_view(store, now, aging=AGING)
    # Reasons are not stored; everything else is the same.
    fields = ("position", "job_id", "owner", "band", "base", "aging", "effective", "wait", "nominated")
    assert [tuple(getattr(p, f) for f in fields) for p in stored.pending] == \
        [tuple(getattr(p, f) for f in fields) for p in live.pending]
    assert stored.running == live.running
    assert stored.nodes == live.nodes
    assert stored.bands == live.bands


def test_a_preemption_in_progress_and_fractional_shares(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    s = Scheduler(NODES, policy=Policy(aging=AGING, preemption=Preemption(policy="lower-priority", grace=30)),
                  store=open_store(url))
    s.submit(Job(id="train", priority=10, submitted_at=0, request="gpu=A100:4 cpu=4"), 0)
    s.submit(Job(id="nb", priority=50, submitted_at=0, request="gpu=T4:0.5 cpu=1", owner="ann"), 0)
    s.schedule(0)
    s.submit(Job(id="urgent", priority=90, submitted_at=10, request="gpu=A100:2"), 10)
    s.schedule(10)
    view = queue_view(open_store(url + "?mode=ro"), 20, aging=AGING)
    assert view.nominations == {"urgent": ("a",)}
    assert view.terminating == {"train": "urgent"}
    assert next(r for r in view.running if r.job_id == "train").deadline == 40
    t4 = next(n for n in view.nodes if n.node_id == "t")
    assert [(d.holders, d.free_milli, d.fragmented) for d in t4.devices] == [
        ((("nb", 500),), 500, True), ((), 1000, False)]
    (urgent,) = view.pending
    assert (urgent.base, urgent.aging, urgent.wait) == (90, AGING.boost(10), 10)
    page = view.html(refresh=5)
    assert '<meta http-equiv="refresh" content="5">' in page
    for section in ("summary", "bands", "pending", "nodes", "running", "preemptions"):
        assert f'<section id="{section}">' in page
    assert "<script" not in page and "http" not in page.replace('http-equiv', '')


def test_bad_arguments() -> None:
    s = Scheduler(NODES)
    with pytest.raises(InvalidValue):
        queue_view(s, aging=AGING)  # the scheduler's policy says how it ages
    with pytest.raises(InvalidValue):
        queue_view("sqlite:///x.db")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        queue_view(s, limit=-1)
    with pytest.raises(InvalidValue):
        queue_view(MemoryStore(), aging="linear")  # type: ignore[arg-type]
    assert isinstance(queue_view(s), QueueView)  # a scheduler never called: now 0, empty queue


DOC = Path(__file__).resolve().parent.parent / "docs" / "visualization.md"


def test_docs_visualization_examples_print_what_the_page_shows() -> None:
    """Every ```python block of docs/visualization.md runs; one followed by "prints" prints exactly
    the block after it."""
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```(?:\n\nprints\n\n```\n(.*?)```)?", text, flags=re.S)
    assert blocks and any(expected for _, expected in blocks)
    namespace: dict[str, object] = {"__name__": "docs_visualization"}
    for code, expected in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), namespace)
        if expected:
            assert out.getvalue() == expected


# --------------------------------------------------------------------------- the report's story


def test_report_headline_and_window_follow_the_metrics() -> None:
    """The contended window covers the queue; the headline names the classes that waited less and
    more than under the baseline, and says so when there is nothing to compare or no owner."""
    from prioq.sim import Workload, simulate, strategy
    from prioq.sim._plots import contended_window
    from prioq.sim.report import headline, render_report

    nodes = [Node(id="n", capacity="cpu=4 gpu=T4:1")]
    # idle until 10,000 s, then a burst of one-GPU jobs that queue behind each other
    jobs = [Job(id="early", submitted_at=0, duration=10, priority=10, request="gpu=1",
                labels={"class": "lo"})]
    jobs += [Job(id=f"j{k}", submitted_at=10_000 + k, duration=600, priority=90 if k % 2 else 10,
                 request="gpu=1", labels={"class": "hi" if k % 2 else "lo"}) for k in range(8)]
    w = Workload(name="burst", jobs=jobs, nodes=nodes)
    results = {name: simulate(w, strategy(name)) for name in ("fifo", "priority")}
    lo, hi, t0, end = contended_window(results)
    assert (t0, end) == (0, results["fifo"].metrics.end)
    assert 9_000 < lo <= 10_001 and hi >= 10_000 + 7 * 600  # the idle first 10,000 s are left out
    lines = headline(results, (lo, hi, t0, end))
    assert "of the run): the time plots show that window" in lines[0]
    assert "the trace names no owners" in lines[1]
    assert "<b>priority</b> vs fifo: waited less (95th percentile): hi " in lines[2]
    assert "Waited more: lo " in lines[2] and "No preemptions." in lines[2]
    one = render_report({"fifo": results["fifo"]}, title="one run")  # a single run: no comparison
    assert '<section id="headline">' in one and "vs fifo" not in one
    assert "no per-owner panel" in one and "No strategy ages jobs" in one


@settings(max_examples=30, deadline=None)
@given(job_specs, st.integers(1, 6), st.booleans(), st.integers(0, 3))
def test_a_limited_view_is_the_first_entries_of_the_whole_one(
    specs: list[tuple[int, str, str | None, int]], limit: int, term: bool, deps: int
) -> None:
    """The limited view reads only the first jobs in order (Scheduler.pending's limit) and the
    lifts the scheduler queues them with; it must show what the whole view shows, inherited
    priorities included, and count every pending job in the bands and the total."""
    store = MemoryStore()
    policy = Policy(aging=AGING, fair_share=FairShare(mode="term") if term else None)
    s = build(specs, policy, store)
    now = (s.now or 0.0) + 30
    # high-priority dependants of low-priority pending jobs: those are queued lifted
    pending = [p.job for p in s.pending(now)]
    for k, dep in enumerate(pending[-deps:] if deps else []):
        s.submit(Job(id=f"d{k}", submitted_at=now, priority=99, request="gpu=A100:4 cpu=16",
                     after=(dep.id,)), now)
    whole, part = queue_view(s, now), queue_view(s, now, limit=limit)
    assert part.pending == whole.pending[:limit]
    assert (part.bands, part.pending_total, part.running) == (whole.bands, whole.pending_total, whole.running)
    assert part.pending_total == len(s.pending(now))
    if not term:  # a store's view (lifts from inherited_priorities) agrees on the bases
        stored = queue_view(store, now, aging=AGING)
        assert [(p.job_id, p.base) for p in stored.pending] == [(p.job_id, p.base) for p in whole.pending]


def test_a_limit_past_every_pending_job_shows_them_all() -> None:
    """Regression: the limited view passed its limit on to Scheduler.pending, which refuses
    one past 2**63 - 1; queue_view takes any int >= 0 (as its store view does)."""
    s = Scheduler([Node(id="n0", capacity="cpu=1")])
    s.submit_many([Job(id=f"j{i}", submitted_at=0, request="cpu=4") for i in range(3)], 0)
    for limit in (2, 3, 2**63 - 1, 2**70):
        view = queue_view(s, limit=limit)
        assert [p.job_id for p in view.pending] == ["j0", "j1", "j2"][:limit]
        assert view.pending_total == 3
