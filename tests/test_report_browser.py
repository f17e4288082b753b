"""Both pages in the real headless Chromium (DevTools protocol over a pipe, tests/chromium.py):
the simulation report and the queue view (``prioq show --html``).

At 1,400 px and at a phone's 390 px each page loads with no console error, warning or failed
load, asks for nothing but its own file, shows every section and plot (a box of real size,
not hidden), fits the phone's width without sideways scrolling of the page, and says what the
metrics / the store say. A full-page screenshot of each page at both widths is saved under the
test's temp dir (``<tmp>/shots``).

Outside CI the tests skip, with the reason, when no browser is installed; under ``CI=true``
(``.ci/run`` installs Debian's ``chromium``) a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import chromium
from prioq import Scheduler
from prioq.sim import load_nodes, load_trace, simulate, strategy, write_report
from prioq.sim.cli import main
from prioq.sim.metrics import _format
from prioq.storage import open_store
from test_cli import JOBS_CSV, NODES_CSV  # one tiny trace for the CLI and browser tests

WIDTHS = (1400, 390)
STRATEGIES = ("fifo", "priority+aging+preemption")
REPORT_SECTIONS = ("headline", "metrics", "plots")
REPORT_FIGURES = ("queue-length", "gpu-utilization", "wait-cdf", "class-waits", "owner-waits", "aging",
                  "preemptions")
QUEUE_SECTIONS = ("summary", "bands", "pending", "nodes", "running", "preemptions")

VISIBLE = """(sel) => [...document.querySelectorAll(sel)].map(e => {
  const r = e.getBoundingClientRect(), s = getComputedStyle(e);
  return [e.id, Math.round(r.width), Math.round(r.height), s.visibility, s.display];
})"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[chromium.Browser]:
    exe = chromium.find()
    if exe is None:
        reason = (f"no headless browser found (looked for {', '.join(chromium.BROWSERS)}): "
                  "apt-get install chromium")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    b = chromium.Browser(exe, tmp_path_factory.mktemp("profile"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trace")
    (folder / "jobs.csv").write_text(JOBS_CSV)
    (folder / "nodes.csv").write_text(NODES_CSV)
    return folder


def check_page(browser: chromium.Browser, page_path: Path, shots: Path, name: str,
               sections: tuple[str, ...]) -> list[chromium.Page]:
    """Load at both widths; common checks; screenshots. Returns the open pages (caller closes)."""
    shots.mkdir(exist_ok=True)
    pages = []
    for width in WIDTHS:
        page = browser.open(page_path, width)
        pages.append(page)
        assert page.problems() == [], (width, page.problems())
        assert page.requests() == [page_path.resolve().as_uri()], page.requests()  # nothing else fetched
        boxes = page.evaluate(f"({VISIBLE})('section')")
        assert [b[0] for b in boxes] == list(sections)
        for sid, w, h, visibility, display in boxes:
            assert w > 0.8 * min(width, 1400) - 60 and h > 40, sid
            assert visibility == "visible" and display != "none", sid
        # The page itself never scrolls sideways (wide tables scroll inside their own box).
        assert page.evaluate("document.documentElement.scrollWidth") <= width, width
        png = shots / f"{name}-{width}.png"
        css_width, css_height = page.screenshot(png)
        assert png.stat().st_size > 10_000 and css_width == width and css_height > 600
    return pages


def test_the_report_in_a_browser(browser: chromium.Browser, trace: Path, tmp_path: Path) -> None:
    workload = load_trace(str(trace / "jobs.csv"), load_nodes(str(trace / "nodes.csv")))
    results = {name: simulate(workload, strategy(name)) for name in STRATEGIES}
    path = write_report(tmp_path / "report.html", results, title="tiny", source=workload.summary())
    pages = check_page(browser, path, tmp_path / "shots", "report", REPORT_SECTIONS)
    for page, width in zip(pages, WIDTHS, strict=True):
        figures = page.evaluate(f"({VISIBLE})('figure')")
        assert [f[0] for f in figures] == list(REPORT_FIGURES)
        for fid, w, h, visibility, _ in figures:
            # two columns of plots on a wide screen, one on a phone
            share = 0.45 if width > 900 else 0.8
            assert w > share * width - 60 and h > 100 and visibility == "visible", fid
            svg = page.evaluate(f"(() => {{ const r = document.querySelector('#{fid} svg')"
                                ".getBoundingClientRect(); return [r.width, r.height]; })()")
            assert svg[0] > 250 and svg[1] > 80, (fid, svg)  # drawn at a readable size, not squashed
        # The tables say what the metrics say.
        cells = page.evaluate("[...document.querySelectorAll('#overall tbody tr')].map(tr => "
                              "[tr.querySelector('th').textContent, "
                              "...[...tr.querySelectorAll('td')].map(td => td.textContent)])")
        rows = {row[0]: row[1:] for row in cells}
        for key in ("jobs", "wait_p95", "preemptions", "gpu_hours_lost", "fairness"):
            expected = [_format(key, r.metrics.as_row()[key]) for r in results.values()]
            assert rows[key.replace("_", " ")] == expected
        headline = page.evaluate("document.querySelector('#headline').innerText")
        preempting = results["priority+aging+preemption"].metrics.overall
        assert "priority+aging+preemption vs fifo" in headline
        assert f"{preempting.preemptions:,} preemptions" in headline
        page.close()


def test_the_queue_view_in_a_browser(browser: chromium.Browser, trace: Path, tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    name = "priority+aging+preemption"
    # Stopped at 1010: preemptions decided at 1000 are in progress (grace 30 s).
    assert main(["simulate", "--trace", str(trace / "jobs.csv"), "--nodes", str(trace / "nodes.csv"),
                 "--policies", name, "--store", f"sqlite:///{db}", "--until", "1010", "--no-progress"]) == 0
    page_path = tmp_path / "queue.html"
    assert main(["show", "--store", f"sqlite:///{db}", "--aging", "aging", "--html", str(page_path)]) == 0
    # What the scheduler itself says about that state (a copy: a scheduler takes the store's lock).
    shutil.copy(db, tmp_path / "copy.db")
    s = Scheduler(policy=strategy(name).policy, store=open_store(f"sqlite:///{tmp_path / 'copy.db'}"))
    pages = check_page(browser, page_path, tmp_path / "shots", "queue", QUEUE_SECTIONS)
    for page in pages:
        pending = page.evaluate("[...document.querySelectorAll('#pending tbody tr')].map(tr => ["
                                "tr.querySelector('td[data-label=job] b').textContent, "
                                "tr.querySelector('td[data-label=effective]').textContent])")
        assert [p[0] for p in pending] == [p.job.id for p in s.pending(1000)]
        for (_, effective), p in zip(pending, s.pending(1000), strict=True):
            assert float(effective) == pytest.approx(p.effective_priority, abs=0.01)
        running = page.evaluate("[...document.querySelectorAll('#running tbody tr')].map(tr => "
                                "tr.querySelector('td[data-label=job] b').textContent)")
        assert running == [r.job.id for r in s.running()]
        victims = page.evaluate("[...document.querySelectorAll('#preemptions tbody tr')].map(tr => "
                                "tr.querySelector('td[data-label=\"victims terminating\"]').textContent)")
        assert sorted(",".join(sorted(v.split(", "))) for v in victims) == sorted(
            ",".join(sorted(k for k, t in s.terminating().items() if t.by == p)) for p in s.nominations())
        devices = page.evaluate("document.querySelectorAll('#nodes .devices svg').length")
        assert devices == sum(n.capacity.gpu_count for n in s.nodes)
        page.close()
