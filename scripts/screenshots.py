"""Regenerate the screenshots in docs/images/ (docs/visualization.md, README): never edit them by hand.

    PYTHONPATH=src python scripts/screenshots.py [--out docs/images]

Renders, in the real headless Chromium (tests/chromium.py, the browser tests' driver):

* the queue view of a live scheduler caught mid-run: a synthetic cluster and workload replayed
  by the simulator into a store, resumed by a Scheduler with the run's policy, one cycle, then
  ``queue_view(scheduler).html()`` -> ``queue-view-1400.png``, ``queue-view-390.png``;
* the simulation report of the docs' synthetic comparison (docs/simulation.md's quick start:
  four strategies, 400 jobs at 1.5x the cluster's capacity) -> ``report-1400.png`` (its top),
  ``report-390.png``.

Everything is seeded, so a rerun on the same code draws the same pages.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the browser driver lives with the tests that use it

import chromium  # noqa: E402
from prioq import Scheduler  # noqa: E402
from prioq.sim import compare, simulate, strategy, synthetic_cluster, synthetic_workload, write_report  # noqa: E402
from prioq.storage import MemoryStore  # noqa: E402
from prioq.view import queue_view  # noqa: E402

QUEUE_STRATEGY = "priority+aging+preemption+fair-share-term"
REPORT_STRATEGIES = ("fifo", "priority", "priority+aging", "priority+aging+preemption")


def queue_page(folder: Path) -> Path:
    cluster = synthetic_cluster(5, seed=3)
    jobs = synthetic_workload(160, seed=4, nodes=cluster, load=2.0, median_duration=900, owners=6)
    store = MemoryStore()
    until = jobs.jobs[110].submitted_at
    strat = strategy(QUEUE_STRATEGY)
    simulate(jobs, strat, until=until, store=store)
    s = Scheduler(policy=strat.policy, store=store)
    s.schedule(until)
    path = folder / "queue.html"
    path.write_text(queue_view(s, until, limit=25).html(title="prioq queue (synthetic cluster)"),
                    encoding="utf-8")
    return path


def report_page(folder: Path) -> Path:
    cluster = synthetic_cluster(8, seed=1)
    jobs = synthetic_workload(400, seed=2, nodes=cluster, load=1.5, median_duration=600)
    results = compare(jobs, [strategy(n) for n in REPORT_STRATEGIES])
    return write_report(folder / "report.html", results, title="prioq: synthetic, 1.5x load",
                        source=jobs.summary())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    exe = chromium.find()
    if exe is None:
        print("no chromium found: apt-get install chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pages = {"queue-view": queue_page(folder), "report": report_page(folder)}
        browser = chromium.Browser(exe, folder / "profile")
        try:
            for name, path in pages.items():
                for width, max_height in ((1400, 2200), (390, 2600)):
                    page = browser.open(path, width)
                    problems = page.problems()
                    if problems:
                        print(f"{name} at {width} px: {problems}", file=sys.stderr)
                        return 1
                    png = args.out / f"{name}-{width}.png"
                    page.screenshot(png, max_height=max_height)
                    page.close()
                    print(png.relative_to(ROOT) if png.is_relative_to(ROOT) else png)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
