"""The scheduler and preemption benchmarks run at toy size and print their tables.

Timings are never asserted (the machine is shared); the scripts' own sanity
checks are: the indexed placement makes the naive scan's choices, and
plan_preemption, Scheduler.schedule and the naive subset search pick the same
victims. A script exits non-zero when a sanity check fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--toy"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize("policy", ["first-fit", "best-fit", "spread", "fragmentation-aware"])
def test_bench_scheduler_toy_prints_its_table(policy: str, scheduler_output: str) -> None:
    rows = [line for line in scheduler_output.splitlines() if line.startswith(policy + " ")]
    paths = ["Scheduler.schedule (reservation=False)", "Scheduler.schedule (default Policy)",
             "NodeIndex + policy.place", "naive scan (every job)"]
    assert [p for p in paths if any(p in r for r in rows)] == paths, scheduler_output
    for r in rows:
        assert r.rstrip().endswith("x"), r  # the ratio column
    assert "SANITY FAILED" not in scheduler_output
    assert scheduler_output.count("sanity: the naive scan chose the same node") == 4


@pytest.fixture(scope="module")
def scheduler_output() -> str:
    out = run("bench_scheduler.py")
    assert "placements/s" in out and "vs naive" in out
    return out


def test_bench_preemption_toy_prints_its_table() -> None:
    out = run("bench_preemption.py")
    assert "decisions/s" in out and "vs naive" in out
    for gpus in (1, 2, 4, 8):
        rows = [line for line in out.splitlines() if line.startswith(f"gpu={gpus} ")]
        paths = ["Scheduler.schedule", "plan_preemption", "sampled", "naive"]
        assert [r.split()[1] for r in rows] == paths, out
    assert out.count("sanity: all three chose the same victims") == 4, out
    assert "SANITY FAILED" not in out


def test_bench_backlog_toy_shows_parking_makes_later_cycles_cheaper() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_backlog.py"), "--toy"],
        capture_output=True, text=True, timeout=600, check=True,
    ).stdout
    assert "first cycle (visits all)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("best-effort", "aging+preemption"))]
    assert len(rows) == 2
    for row in rows:
        # the first cycle visits all 200 jobs, later ones only each parked shape's head
        assert float(row[-1].rstrip("x")) > 1, row


def test_bench_contention_toy_prints_ratios_side_by_side() -> None:
    out = run("bench_contention.py")
    starts = ("steady", "after", "next")
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(starts)}
    assert set(rows) == {"steady", "after", "next"}, out
    for r in rows.values():
        assert r.rstrip().endswith("x"), r  # the ratio column
    assert "decisions per cycle" in out


def test_bench_fairshare_toy_prints_its_table_and_keeps_the_order() -> None:
    out = run("bench_fairshare.py")
    for op in ("submit", "set_priority", "cancel", "schedule (full)", "schedule (per start)"):
        rows = [line for line in out.splitlines() if line.startswith(op + " ")]
        assert rows and rows[0].rstrip().endswith("x"), out
    assert "sanity: invariants hold; each cycle's starts follow pending() order" in out


def test_sim_fairshare_toy_prints_both_tables() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "sim_fairshare.py"), "--toy", "--strategies", "fifo,fifo+fair-share",
         "--nasa-strategies", "fifo,fifo+fair-share"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("| fifo+fair-share |") == 2 and "QoS classes as owners" in proc.stdout


def test_bench_quota_toy_prints_its_table() -> None:
    out = run("bench_quota.py")
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["no", "quotas"], out
