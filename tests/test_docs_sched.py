"""Every ```python block of docs/scheduler.md, docs/preemption.md, docs/quotas.md, docs/fairness.md
and docs/dependencies.md runs as written.

The blocks of one page are executed in order in one namespace (later blocks
use names defined earlier), so the pages stay true as the code changes.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import prioq

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["scheduler.md", "preemption.md", "quotas.md", "fairness.md", "dependencies.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(page: str) -> list[str]:
    return BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_runs(page: str) -> None:
    found = blocks(page)
    assert found, f"{page} has no python examples"
    namespace: dict[str, object] = {"__name__": f"docs_{page.replace('.', '_')}"}
    for i, code in enumerate(found):
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(code, f"{page}[block {i + 1}]", "exec"), namespace)
            except Exception as exc:  # pragma: no cover - the message is the point
                raise AssertionError(f"{page} block {i + 1} failed: {exc!r}\n{code}") from exc


# ------------------------------------------------------------------ promises docs/preemption.md makes


def _one_gpu_scheduler(policy: prioq.Policy) -> prioq.Scheduler:
    return prioq.Scheduler([prioq.Node(id="n0", capacity="gpu=A100:1")], policy=policy)


@pytest.mark.parametrize("compare", ["base", "effective"])
def test_a_released_victim_does_not_retake_its_preemptors_nomination(compare: str) -> None:
    """No thrashing: once A preempted B, B (requeued) must not restart on the capacity A is
    nominated to only to be preempted again, cycle after cycle, while A never starts.

    With aging, the requeued victim keeps its old ``submitted_at`` and can rank ahead of its
    preemptor in the queue (effective priority), while preemption compares base (or frozen)
    priorities, by which A outranks B. A nomination that binds only jobs behind its owner in
    queue order then lets B take the freed GPU, and A evicts it again: a livelock.
    """
    pol = prioq.Policy(
        aging=prioq.LinearAging(rate=0.1, max_boost=30),
        preemption=prioq.Preemption(policy="lower-priority", compare=compare),  # type: ignore[arg-type]
    )
    s = _one_gpu_scheduler(pol)
    s.submit(prioq.Job(id="B", submitted_at=0, priority=10, request="gpu=1"), 0)
    s.schedule(0)
    s.submit(prioq.Job(id="A", submitted_at=1000, priority=20, request="gpu=1"), 1000)
    history: list[tuple[str, str]] = []
    now = 1000.0
    for _ in range(4):
        decisions = s.schedule(now)
        history += [(type(d).__name__, d.job_id) for d in decisions]
        for d in decisions:
            if isinstance(d, prioq.Preempt):
                s.release(d.job_id, now + 1)
        now += 1
    assert history.count(("Preempt", "B")) == 1, f"B was preempted again and again: {history}"
    assert ("Start", "A") in history, f"A never started: {history}"


def test_set_priority_on_a_running_job_protects_it_under_compare_effective() -> None:
    """A priority change takes effect at once (docs/architecture.md#the-scheduling-order).
    Under compare="effective" the running job's frozen start priority must move with its base
    priority (here 10 -> 90), or a priority-50 job still evicts a job the operator just
    raised to 90 (compare="base" does not)."""
    pol = prioq.Policy(preemption=prioq.Preemption(policy="lower-priority", compare="effective"))
    s = _one_gpu_scheduler(pol)
    s.submit(prioq.Job(id="B", submitted_at=0, priority=10, request="gpu=1"), 0)
    s.schedule(0)
    s.set_priority("B", 90, 1)
    s.submit(prioq.Job(id="A", submitted_at=2, priority=50, request="gpu=1"), 2)
    assert s.schedule(3) == []


def test_spread_breaks_cpu_only_ties_by_node_order_like_every_policy() -> None:
    """docs/scheduler.md and prioq.placement: every built-in policy breaks ties by node order
    (lowest first). spread does so for GPU requests, but CPU-only requests on equally free
    nodes go to the *last* node (the CPU list is walked in reverse, order included)."""
    nodes = [prioq.Node(id=f"n{i}", capacity="cpu=8 memory=8GB") for i in range(2)]
    s = prioq.Scheduler(nodes, policy=prioq.Policy(placement="spread"))
    s.submit(prioq.Job(id="a", submitted_at=0, request="cpu=1"), 0)
    (start,) = s.schedule(0)
    assert start.node_ids == ("n0",)
