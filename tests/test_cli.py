"""The ``prioq`` command: simulate (table, report with plots, store), show, demo, bench, bad input."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import prioq.sim.cli as cli
from prioq import Scheduler
from prioq.sim import strategy
from prioq.sim.cli import DEMO_ARGS, Progress, build_parser, main, parse_aging
from prioq.storage import open_store

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
# The report's plots, in page order; "owner-waits" needs owners, "aging" a strategy that ages jobs.
FIGURES = ("queue-length", "gpu-utilization", "wait-cdf", "class-waits", "owner-waits", "aging",
           "preemptions")

# Four low-priority jobs fill both nodes at 0..3; mid jobs queue at 500; high jobs arrive at 1000,
# when the low jobs are past the preemption strategies' min_runtime (600 s).
JOBS_CSV = """id,submitted_at,duration,priority,request,owner,class
low-0,0,3600,10,gpu=1 cpu=2,alice,low
low-1,1,3600,10,gpu=1 cpu=2,alice,low
low-2,2,3600,10,gpu=1 cpu=2,bob,low
low-3,3,3600,10,gpu=1 cpu=2,bob,low
mid-0,500,900,50,gpu=1 cpu=2,carol,mid
mid-1,501,900,50,gpu=1 cpu=2,carol,mid
high-0,1000,600,90,gpu=1 cpu=2,dave,high
high-1,1100,600,90,gpu=2 cpu=4,dave,high
"""
NODES_CSV = """id,capacity
n0,cpu=8 memory=64GB gpu=T4:16GB:2
n1,cpu=8 memory=64GB gpu=T4:16GB:2
"""


@pytest.fixture
def trace(tmp_path: Path) -> tuple[Path, Path]:
    jobs, nodes = tmp_path / "jobs.csv", tmp_path / "nodes.csv"
    jobs.write_text(JOBS_CSV)
    nodes.write_text(NODES_CSV)
    return jobs, nodes


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def table_row(output: str, metric: str) -> list[str]:
    for line in output.splitlines():
        cells = line.split()
        if cells and cells[0] == metric:
            return cells[1:]
    raise AssertionError(f"no row {metric!r} in:\n{output}")


# --------------------------------------------------------------------------- the report's plots

_PATH = re.compile(r'<path d="([^"]*)"(?: clip-path="[^"]*")? style="([^"]*)"')
_CLIPPED = re.compile(r'<path d="([^"]*)" clip-path="[^"]*" style="([^"]*)"')
_PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00")  # Okabe-Ito


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'<figure id="([a-z-]+)"[^>]*>(.*?)</figure>', html, flags=re.S))


def data_lines(svg: str) -> list[str]:
    """Plotted series: clipped to the axes (legend swatches are not), a palette colour, >= 2 points."""
    return [
        d for d, style in _CLIPPED.findall(svg)
        if "fill: none" in style and any(f"stroke: {c}" in style for c in _PALETTE) and "L" in d
    ]


def bars(svg: str) -> list[float]:
    """Heights of the plotted bars (vermillion preemptions, orange GPU-hours lost)."""
    heights = []
    for d, style in _CLIPPED.findall(svg):
        if style.startswith(("fill: #d55e00", "fill: #e69f00")):
            ys = [float(y) for y in re.findall(r"[ML] [-\d.]+ ([-\d.]+)", d)]
            heights.append(max(ys) - min(ys))
    return heights


def check_report(path: Path, policies: int, *, without: tuple[str, ...] = ()) -> dict[str, str]:
    html = path.read_text(encoding="utf-8")
    figs = figures(html)
    assert list(figs) == [f for f in FIGURES if f not in without]
    for fid, body in figs.items():
        assert body.lstrip().startswith("<svg"), fid
        assert _PATH.search(body), fid
    assert len(data_lines(figs["wait-cdf"])) >= 1
    assert len(data_lines(figs["queue-length"])) == policies
    assert len(data_lines(figs["gpu-utilization"])) == policies
    # Self-contained: nothing fetched from anywhere, no scripts.
    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="https?:', html)
    return figs


# --------------------------------------------------------------------------- simulate


def test_simulate_prints_the_table_and_writes_a_report_with_the_four_plots(
    trace: tuple[Path, Path], tmp_path: Path
) -> None:
    jobs, nodes = trace
    report = tmp_path / "report.html"
    code, out, err = run(
        "simulate", "--trace", str(jobs), "--nodes", str(nodes),
        "--policies", "fifo,priority+preemption", "--report", str(report),
    )
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "fifo", "priority+preemption"]
    assert table_row(out, "jobs") == ["8", "8"]
    assert table_row(out, "finished") == ["8", "8"]
    fifo_preemptions, preempting = (int(v) for v in table_row(out, "preemptions"))
    assert fifo_preemptions == 0 and preempting > 0
    assert f"report: {report.resolve()}" in out
    figs = check_report(report, policies=2, without=("aging",))  # neither strategy ages jobs
    heights = bars(figs["preemptions"])
    assert len(heights) == 4 and sum(h > 0 for h in heights) == 2  # fifo's two bars are empty
    assert "fifo: " in err and " events, " in err  # per-run timing goes to stderr


def test_python_dash_m_prioq_and_the_cli_module_run(trace: tuple[Path, Path], tmp_path: Path) -> None:
    jobs, nodes = trace
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for module in ("prioq", "prioq.sim.cli"):
        done = subprocess.run(
            [sys.executable, "-m", module, "simulate", "--trace", str(jobs), "--nodes", str(nodes),
             "--policies", "priority"],
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert table_row(done.stdout, "jobs") == ["8"]
        assert "progress" not in done.stderr and "\r" not in done.stderr  # stderr is not a terminal


def test_trace_shaping_options(trace: tuple[Path, Path]) -> None:
    jobs, nodes = trace
    base = ("simulate", "--trace", str(jobs), "--nodes", str(nodes), "--policies", "fifo")
    code, out, _ = run(*base, "--jobs", "3", "--cluster-fraction", "0.5")
    assert code == 0
    assert "3 jobs" in out.splitlines()[0] and "1 nodes" in out.splitlines()[0]
    assert table_row(out, "jobs") == ["3"]
    assert "first 3 jobs" in out and "first 50% of the nodes" in out
    _, slow, _ = run(*base, "--arrival-scale", "2", "--duration-scale", "0.5")
    assert "submission gaps x2" in slow and "runtimes x0.5" in slow
    # Stopping at t=1010: the jobs submitted later (high-1) are not in the run.
    _, stopped, _ = run(*base, "--until", "1010")
    assert table_row(stopped, "jobs") == ["7"]
    _, drained, _ = run(*base, "--drain", "0")
    assert table_row(drained, "jobs") == ["8"]
    code, ticking, _ = run(*base, "--interval", "60")
    assert code == 0 and "a cycle every 60 s" in ticking


def test_swf_log_without_a_node_list_gets_the_cluster_its_header_describes() -> None:
    code, out, err = run("simulate", "--trace", str(DATA / "small.swf"), "--policies", "fifo,priority")
    assert code == 0, err
    assert "4 nodes" in out.splitlines()[0]


def test_simulate_with_a_store_then_show_prints_the_scheduler_s_queue(
    trace: tuple[Path, Path], tmp_path: Path
) -> None:
    jobs, nodes = trace
    db = tmp_path / "run.db"
    url = f"sqlite:///{db}"
    name = "priority+aging+preemption"
    # Stop at 1010: the preemptions decided at 1000 are still in progress (grace 30 s).
    code, _, err = run("simulate", "--trace", str(jobs), "--nodes", str(nodes), "--policies", name,
                       "--store", url, "--until", "1010")
    assert code == 0, err
    code, out, err = run("show", "--store", url, "--aging", "aging")
    assert code == 0, err
    assert out.startswith("now = 1000 (the scheduler's last call)")
    pending, running = parse_show(out)

    # The same store resumed by a real scheduler with the run's policy (a copy: the scheduler writes).
    shutil.copy(db, tmp_path / "copy.db")
    sched = Scheduler(policy=strategy(name).policy, store=open_store(f"sqlite:///{tmp_path / 'copy.db'}"))
    expected = sched.pending(1000)
    assert [p[0] for p in pending] == [p.job.id for p in expected]
    for (job_id, effective, state), p in zip(pending, expected, strict=True):
        assert effective == pytest.approx(p.effective_priority, abs=0.01), job_id
        assert state.startswith("nominated") == (job_id in sched.nominations())
    assert any(state.startswith("nominated") for *_, state in pending)
    assert {r[0] for r in running} == {r.job.id for r in sched.running()}
    terminating = {r[0] for r in running if r[1] == "terminating"}
    assert terminating == set(sched.terminating()) and terminating

    # --limit and --now.
    code, limited, _ = run("show", "--store", url, "--limit", "1", "--now", "4600")
    assert code == 0 and limited.startswith("now = 4600 (--now)")
    assert f"... and {len(pending) - 1} more" in limited
    # show opened the file read-only: the simulation's store is unchanged and a writer may open it.
    open_store(url).close()


def parse_show(out: str) -> tuple[list[tuple[str, float, str]], list[tuple[str, str]]]:
    """(id, effective priority, state) per pending row and (id, state) per running row."""
    pending: list[tuple[str, float, str]] = []
    running: list[tuple[str, str]] = []
    section = None
    for line in out.splitlines():
        if line.startswith(("PENDING", "RUNNING")):
            section = line.split()[0]
            continue
        cells = line.split()
        if not cells or cells[0] in ("#", "id", "...") or section is None:
            continue
        if section == "PENDING":
            pending.append((cells[1], float(cells[4]), " ".join(cells[6:])))
        else:
            running.append((cells[0], cells[2]))
    return pending, running


def test_show_on_postgresql_uses_read_only_queries(
    postgres_url: str, trace: tuple[Path, Path]
) -> None:
    import secrets
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    import psycopg

    schema = f"t_cli_{secrets.token_hex(4)}"
    parts = urlsplit(postgres_url)
    url = urlunsplit(parts._replace(query=urlencode([*parse_qsl(parts.query), ("schema", schema)])))
    jobs, nodes = trace
    try:
        code, _, err = run("simulate", "--trace", str(jobs), "--nodes", str(nodes),
                           "--policies", "priority+preemption", "--store", url, "--until", "1010")
        assert code == 0, err
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            lease = conn.execute(f'SELECT holder, epoch FROM "{schema}".prioq_lease').fetchone()
        code, out, err = run("show", "--store", url)
        assert code == 0, err
        assert out.startswith("now = 1000 (the scheduler's last call)")
        pending, running = parse_show(out)
        assert pending and running
        # The queue view of the same store (a read-only load: no lease either) lists the same jobs.
        import json

        data = Path(tempfile.mkdtemp()) / "q.json"
        code, _, err = run("show", "--store", url, "--json", str(data))
        assert code == 0, err
        view = json.loads(data.read_text())
        assert [p["job_id"] for p in view["pending"]] == [p[0] for p in pending]
        assert [r["job_id"] for r in view["running"]] == [r[0] for r in running]
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            # show never took the leader lease: holder and fencing epoch are as simulate left them.
            assert conn.execute(f'SELECT holder, epoch FROM "{schema}".prioq_lease').fetchone() == lease
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_show_on_postgresql_lists_cordons_stops_borrowing_and_usage(postgres_url: str) -> None:
    """What the keyed state holds shows for a PostgreSQL store as for SQLite (a read-only load)."""
    import secrets
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    import psycopg

    from prioq import FairShare, Job, Node, Policy, Quota, Scheduler
    from prioq.storage import open_store

    schema = f"t_cli_{secrets.token_hex(4)}"
    parts = urlsplit(postgres_url)
    url = urlunsplit(parts._replace(query=urlencode([*parse_qsl(parts.query), ("schema", schema)])))
    try:
        store = open_store(url)
        pol = Policy(fair_share=FairShare(), quotas={"a": Quota(nominal="gpu=2", cohort="c"),
                                                     "b": Quota(nominal="gpu=6", cohort="c")})
        s = Scheduler([Node(id="n0", capacity="cpu=8 gpu=A100:8"), Node(id="n1", capacity="cpu=8")],
                      policy=pol, store=store)
        s.submit_many([Job(id=f"a{i}", submitted_at=0, request="gpu=2", owner="a") for i in range(2)], 0)
        s.submit(Job(id="t", submitted_at=0, request="cpu=1", time_limit=10, allowed_nodes=["n1"]), 0)
        s.schedule(1)
        s.cordon_node("n1", 2)
        s.schedule(11)
        store.close()
        code, out, err = run("show", "--store", url)
        assert code == 0, err
        assert out.startswith("now = 11 (the scheduler's last call)")
        assert "running (borrowing from c)" in out and "terminating (time-limit)" in out
        assert "CORDONED (1 nodes)\n  n1  cordoned" in out
        assert "USAGE" in out
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_show_with_a_mistyped_schema_creates_nothing(postgres_url: str) -> None:
    import secrets
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    import psycopg

    typo = f"t_typo_{secrets.token_hex(4)}"
    parts = urlsplit(postgres_url)
    url = urlunsplit(parts._replace(query=urlencode([*parse_qsl(parts.query), ("schema", typo)])))
    code, _, err = run("show", "--store", url)
    assert code != 0 and "holds no prioq store" in err and "nothing was created" in err
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
                            (typo,)).fetchone() == (0,)


# --------------------------------------------------------------------------- demo and bench


def test_demo_is_simulate_with_the_documented_arguments(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = build_parser().parse_args(["simulate", *DEMO_ARGS])
    assert args.trace == "alibaba-openb"
    assert args.policies == "fifo,priority,priority+aging,priority+aging+preemption"
    assert args.cluster_fraction < 1 and args.arrival_scale < 1
    # The real demo replays all 8,152 pods four times; here only the first 300, same code path.
    monkeypatch.setattr(cli, "DEMO_ARGS", (*DEMO_ARGS, "--jobs", "300"))
    report = tmp_path / "demo.html"
    code, out, err = run("demo", "--report", str(report))
    assert code == 0, err
    assert "prioq simulate --trace alibaba-openb" in out
    assert table_row(out, "jobs") == ["300"] * 4
    check_report(report, policies=4)
    assert "Alibaba" in report.read_text(encoding="utf-8")  # attribution travels with the report


def test_bench_prints_events_per_second() -> None:
    code, out, err = run("bench", "--synthetic", "300", "--nodes-count", "20", "--repeat", "2")
    assert code == 0, err
    assert re.search(r"priority\+aging\+preemption: \d+ events, .* [\d,]+ events/s", out)
    assert "median of 2 runs" in out
    code, out, err = run("bench", "--trace", str(DATA / "small.swf"), "--policy", "fifo")
    assert code == 0, err
    assert "fifo: " in out and "events/s" in out


# --------------------------------------------------------------------------- progress bar


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_progress_bar_waits_a_moment_then_redraws_at_most_every_tenth_of_a_second() -> None:
    clock, stream = FakeClock(), io.StringIO()
    bar = Progress("run:", stream, enabled=True, clock=clock)
    bar(1, 10)
    assert stream.getvalue() == ""  # a short run never shows a bar
    clock.t += 0.6
    bar(2, 10)
    assert stream.getvalue().count("\r") == 1 and "2/10" in stream.getvalue()
    bar(3, 10)  # too soon after the last draw
    assert stream.getvalue().count("\r") == 1
    clock.t += 0.2
    bar(4, 10)
    assert stream.getvalue().count("\r") == 2
    bar(10, 10)  # the last one always draws
    bar.close()
    assert stream.getvalue().endswith("100% 10/10 jobs arrived, 0.8 s\n")


def test_progress_bar_disabled_or_never_drawn_writes_nothing() -> None:
    clock, stream = FakeClock(), io.StringIO()
    quiet = Progress("run:", stream, enabled=False, clock=clock)
    clock.t += 5
    quiet(1, 2)
    quiet.close()
    short = Progress("run:", stream, enabled=True, clock=clock)
    short(2, 2)
    short.close()
    assert stream.getvalue() == ""


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--trace", "alibaba-nope"], "unknown trace 'alibaba-nope'"),
        (["simulate", "--policies", "fifo,priorty"], "strategy 'priorty'"),
        (["simulate", "--policies", "priority+agin"], "unknown modifier 'agin'"),
        (["simulate", "--policies", "fifo,fifo"], "'fifo' appears twice"),
        (["simulate", "--trace", str(DATA / "alibaba_bad_negative_time.csv"), "--nodes",
          str(DATA / "alibaba_nodes.csv")], "alibaba_bad_negative_time.csv:4: creation_time"),
        (["simulate", "--trace", str(DATA / "jobs_bad_request.csv"), "--nodes", str(DATA / "nodes.csv")],
         "jobs_bad_request.csv:"),
        (["simulate", "--trace", str(DATA / "alibaba_pods.csv"), "--nodes", str(DATA / "jobs.csv")],
         "jobs.csv:1"),
        (["simulate", "--trace", str(DATA / "jobs.csv")], "--nodes"),
        (["simulate", "--trace", str(DATA / "alibaba_multigpu.csv"), "--nodes",
          str(DATA / "alibaba_nodes.csv")], "no duration"),
        (["simulate", "--policies", "fifo,priority", "--store", "sqlite:///x.db"], "single strategy"),
        (["simulate", "--trace", str(DATA / "small.swf"), "--policies", "fifo", "--store", "nosuch://x"],
         "unknown store URL scheme"),
        (["show", "--store", "sqlite:////nonexistent/dir/x.db"], "no such file"),
        (["show", "--store", "sqlite:///x.db", "--aging", "linear:fast:40"], "parameters must be numbers"),
        (["show", "--store", "sqlite:///x.db", "--aging", "quadratic"], "aging 'quadratic'"),
        (["show", "--store", "sqlite:///x.db", "--aging", "linear:1e400:40"], "rate"),
        (["bench", "--policy", "lifo"], "'lifo'"),
    ],
)
def test_bad_input_exits_2_with_a_message(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert err.startswith("prioq: error: ") and message in err, err
    assert "Traceback" not in err + out


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--cluster-fraction", "1.5"],
        ["simulate", "--cluster-fraction", "0"],
        ["simulate", "--arrival-scale", "-1"],
        ["simulate", "--jobs", "0"],
        ["simulate", "--interval", "nan"],
        ["simulate", "--until", "5", "--drain", "5"],
        ["show"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_arguments_exit_2_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: prioq" in capsys.readouterr().err


def test_simulate_into_a_non_empty_store_is_refused_and_leaves_it_unchanged(
    trace: tuple[Path, Path], tmp_path: Path
) -> None:
    jobs, nodes = trace
    url = f"sqlite:///{tmp_path / 'run.db'}"
    argv = ("simulate", "--trace", str(jobs), "--nodes", str(nodes), "--policies", "fifo", "--store", url)
    assert run(*argv, "--until", "600")[0] == 0
    before = (tmp_path / "run.db").read_bytes()
    code, _, err = run(*argv)
    assert code == 2 and "already holds scheduler state" in err
    assert (tmp_path / "run.db").read_bytes() == before


def test_no_traceback_from_the_installed_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    bad = tmp_path / "pods.csv"
    bad.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np1,abc,1,0,0\n")
    done = subprocess.run([sys.executable, "-m", "prioq", "simulate", "--trace", str(bad), "--nodes",
                           str(DATA / "alibaba_nodes.csv")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{bad}:2: cpu_milli" in done.stderr


def test_parse_aging_specs() -> None:
    from prioq import LinearAging, NoAging, StepAging

    assert parse_aging("none") == NoAging()
    assert parse_aging("linear:0.5:20") == LinearAging(rate=0.5, max_boost=20)
    assert parse_aging("step:900:10:40") == StepAging(interval=900, step=10, max_boost=40)
    assert parse_aging("aging") == strategy("priority+aging").policy.aging
    assert parse_aging("step-aging") == strategy("priority+step-aging").policy.aging


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Relative paths some tests pass (sqlite:///x.db) land in a temporary directory."""
    monkeypatch.chdir(tmp_path)
    yield


def test_parse_aging_rejects_bad_specs_as_policy_errors() -> None:
    # An aging spec is a policy parameter: InvalidPolicy (was InvalidJob); wrong types its Type variant.
    from prioq.errors import InvalidJob, InvalidPolicy, InvalidPolicyType

    for bad in ("quadratic", "linear:1", "linear:fast:40", "step:1:2"):
        with pytest.raises(InvalidPolicy) as info:
            parse_aging(bad)
        assert not isinstance(info.value, InvalidJob)
    with pytest.raises(InvalidPolicyType):
        parse_aging(5)  # type: ignore[arg-type]


def test_the_installed_command_is_the_sim_cli() -> None:
    assert 'prioq = "prioq.sim.cli:main"' in (ROOT / "pyproject.toml").read_text()
    assert "prioq.sim.cli" in (ROOT / "docs" / "simulation.md").read_text()


def test_show_prints_fair_share_usage_as_the_scheduler_computes_it(tmp_path: Path) -> None:
    """``prioq show`` decays each owner's stored usage and adds what its running jobs accrued
    since: the figures equal ``Scheduler.usage`` at the same instant."""
    from prioq import FairShare, Job, Node, Policy

    url = f"sqlite:///{tmp_path}/fs.db"
    store = open_store(url)
    s = Scheduler([Node(id="n0", capacity="cpu=8 memory=64GB gpu=A100:80GB:4")],
                  policy=Policy(fair_share=FairShare(half_life=3600)), store=store)
    s.submit(Job(id="a", submitted_at=0, request="gpu=2 cpu=2 memory=8GB", owner="org/a"), 0)
    s.submit(Job(id="b", submitted_at=0, request="gpu=1", owner="org/b"), 0)
    s.schedule(0)
    s.release("b", 1800)
    expected = s.usage(5000)
    store.close()
    out = io.StringIO()
    assert main(["show", "--store", url, "--half-life", "3600", "--now", "5000"], out=out) == 0
    text = out.getvalue()
    assert "USAGE (fair share, decayed with a half-life of 1h00m)" in text
    rows = {line.split()[0]: line.split()[1:] for line in text.split("USAGE")[1].splitlines()[2:]}
    for owner in ("org", "org/a", "org/b"):
        gpu, cpu, mem = (float(x) for x in rows[owner])
        want = expected[owner]
        assert gpu == pytest.approx(want["gpu"] / 3600, rel=1e-3)
        assert cpu == pytest.approx(want["cpu"] / 3600, rel=1e-3)
        assert mem == pytest.approx(want["memory"] / 2**30 / 3600, rel=1e-3)
    assert float(rows["org/a"][0]) > float(rows["org/b"][0]) > 0


# --------------------------------------------------------------------------- show --html (issue 15)


def test_show_html_and_json_with_a_bounded_watch(trace: tuple[Path, Path], tmp_path: Path) -> None:
    """``--watch S --iterations K`` reads the store K times, rewriting both files each time; the page
    reloads itself every S seconds; the JSON is the view of the store (docs/visualization.md)."""
    import json

    jobs, nodes = trace
    url = f"sqlite:///{tmp_path / 'run.db'}"
    assert run("simulate", "--trace", str(jobs), "--nodes", str(nodes), "--policies",
               "priority+aging+preemption", "--store", url, "--until", "1010")[0] == 0
    page, data = tmp_path / "q.html", tmp_path / "q.json"
    code, out, err = run("show", "--store", url, "--aging", "aging", "--html", str(page), "--json", str(data),
                         "--watch", "0.05", "--iterations", "3")
    assert code == 0, err
    assert out.splitlines() == [f"now = 1000: 3 pending, 4 running -> {page} and {data}"] * 3
    html = page.read_text(encoding="utf-8")
    assert '<meta http-equiv="refresh" content="0.05">' in html
    view = json.loads(data.read_text(encoding="utf-8"))
    _, text = run("show", "--store", url, "--aging", "aging")[:2]
    pending, running = parse_show(text)
    assert [p["job_id"] for p in view["pending"]] == [p[0] for p in pending]
    assert [p["effective"] for p in view["pending"]] == pytest.approx([p[1] for p in pending], abs=0.01)
    assert [r["job_id"] for r in view["running"]] == [r[0] for r in running]
    assert set(view["terminating"]) == {r[0] for r in running if r[1] == "terminating"}
    assert sorted(view["terminating"].values()) == ["high-0", "mid-0"]
    # Without --iterations a watch goes on until interrupted (here: the second sleep).
    calls = []

    def interrupt(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli.time, "sleep", interrupt)
        code, out, err = run("show", "--store", url, "--json", str(data), "--watch", "7")
    assert code == 130 and calls == [7, 7] and len(out.splitlines()) == 2


def test_since_and_owners_from_shape_the_workload(trace: tuple[Path, Path]) -> None:
    jobs, nodes = trace
    code, out, err = run("simulate", "--trace", str(jobs), "--nodes", str(nodes), "--policies", "fifo",
                         "--since", "500", "--owners-from", "class")
    assert code == 0, err
    assert table_row(out, "jobs") == ["4"]  # mid-0, mid-1, high-0, high-1
    assert "jobs submitted from t=500 s" in out and "owners from the 'class' label" in out
    assert table_row(out, "fairness") != ["-"]
