"""The ``prioq`` command (``prioq.sim.cli:main``; ``python -m prioq`` runs it too):
``simulate``, ``demo``, ``bench`` and ``show``.

* ``prioq simulate`` replays a trace (a bundled name or a file) under one or more
  named strategies (:func:`prioq.sim.strategy`), prints the metrics side by side
  and optionally writes a self-contained HTML report.
* ``prioq demo`` is the README's main job: ``simulate`` with the
  :data:`DEMO_ARGS` below (the default comparison on the bundled Alibaba trace,
  compressed in time and space so that the cluster is contended).
* ``prioq bench`` replays a whole trace (or a synthetic workload) once and prints events/s.
* ``prioq show`` prints a store's pending queue and running jobs, like a UI's jobs
  page, from the stores' read-only queries (it never takes a scheduler's lease); with
  ``--html`` / ``--json`` it writes the queue view instead (:mod:`prioq.view`,
  docs/visualization.md), with ``--watch`` again every few seconds.

Bad input (an unknown trace or strategy name, a malformed file, a store that
cannot be opened: any :class:`~prioq.PrioqError`, or an ``OSError``) exits with
status 2 and a one-line message, no traceback.
See ``docs/simulation.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from prioq.errors import PrioqError
from prioq.view import duration

if TYPE_CHECKING:
    from prioq.queue.aging import AgingPolicy
    from prioq.sim.engine import SimResult
    from prioq.sim.workload import Workload
    from prioq.storage import JobRow, Store

__all__ = ["DEMO_ARGS", "main"]

DEMO_ARGS: tuple[str, ...] = (
    "--trace", "alibaba-openb",
    "--policies", "fifo,priority,priority+aging,priority+aging+preemption",
    "--since", "11500000",
    "--owners-from", "qos",
    "--cluster-fraction", "0.03",
    "--arrival-scale", "0.03",
    "--drain", "21600",
)
"""What ``prioq demo`` passes to ``prioq simulate`` (plus ``--report``).

Replayed at its real pace the openb trace barely loads its cluster (at most
65 of 6,212 GPUs busy at once), so every strategy shows zero waits. The demo
keeps the trace's last 16 days (pods submitted from t=11,500,000 s, day 133:
4,144 of the 8,152; earlier days would be quiet hours on every plot), the first
3% of the nodes (36 nodes, 148 GPUs), and divides the gaps between submissions
by 33 (runtimes unchanged), so that jobs wait for most of the run; it stops six
hours after the last arrival (the trace's longest pods run for months). Owners are the pods' QoS classes, for
fairness and the per-owner panel. See docs/simulation.md.
"""

_DEMO_REPORT = "report.html"


class UsageError(PrioqError):
    """A command line that parses but cannot be run (e.g. ``--store`` with several strategies)."""


# --------------------------------------------------------------------------- argument types


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0)


def parse_aging(text: str) -> AgingPolicy:
    """``none``, ``linear:RATE:MAX``, ``step:INTERVAL:STEP:MAX``, or a strategy modifier
    (``aging``, ``step-aging``) meaning that modifier's settings. Raises :class:`~prioq.InvalidPolicy`
    (a ``ValueError``); wrong types its ``...Type`` variant."""
    from prioq import _validate
    from prioq.errors import InvalidPolicy
    from prioq.queue.aging import LinearAging, NoAging, StepAging
    from prioq.sim.strategies import MODIFIERS

    _validate.instance(text, str, "aging spec", error=InvalidPolicy)
    kind, *params = text.strip().split(":")
    if kind == "none" and not params:
        return NoAging()
    if kind in ("aging", "step-aging") and not params:
        aging: AgingPolicy = MODIFIERS[kind]["aging"]
        return aging
    expected = {"linear": 2, "step": 3}
    if kind not in expected or len(params) != expected[kind]:
        raise InvalidPolicy(
            f"aging {text!r}: expected none, linear:RATE:MAX, step:INTERVAL:STEP:MAX, aging or step-aging"
        )
    try:
        numbers = [float(p) for p in params]
    except ValueError:
        raise InvalidPolicy(f"aging {text!r}: parameters must be numbers") from None
    if kind == "linear":
        return LinearAging(rate=numbers[0], max_boost=numbers[1])
    return StepAging(interval=numbers[0], step=numbers[1], max_boost=numbers[2])


# --------------------------------------------------------------------------- progress bar


class Progress:
    """A one-line progress bar on a terminal stream, drawn only once a run has lasted ``delay`` seconds.

    Called as ``progress(done, total)`` (the simulator's progress callback);
    redraws at most every ``every`` seconds, so its cost is negligible.
    ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        label: str,
        stream: IO[str],
        *,
        enabled: bool,
        delay: float = 0.5,
        every: float = 0.1,
        width: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream
        self.enabled = enabled
        self.delay = delay
        self.every = every
        self.width = width
        self.clock = clock
        self.started = clock()
        self.drawn_at: float | None = None
        self.last = (0, 0)

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        self.last = (done, total)
        now = self.clock()
        if self.drawn_at is None:
            if now - self.started < self.delay:
                return
        elif now - self.drawn_at < self.every and done < total:
            return
        self._draw(done, total, now)

    def _draw(self, done: int, total: int, now: float) -> None:
        share = done / total if total else 1.0
        filled = round(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {share:4.0%} {done}/{total} jobs arrived, {now - self.started:.1f} s"
        )
        self.stream.flush()
        self.drawn_at = now

    def close(self) -> None:
        """End the bar's line (if one was drawn)."""
        if self.drawn_at is not None:
            self._draw(*self.last, self.clock())
            self.stream.write("\n")
            self.stream.flush()


def _want_progress(flag: bool | None, stream: IO[str]) -> bool:
    if flag is not None:
        return flag
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- workloads


def _load(args: argparse.Namespace) -> Workload:
    """The workload the trace options describe: load, drop jobs before --since, set owners from
    --owners-from, keep the first --jobs, scale, cut the cluster."""
    import attrs

    from prioq.sim.loaders import bundled_names, load_nodes, load_trace

    if args.trace not in bundled_names() and not os.path.exists(args.trace):
        raise UsageError(
            f"unknown trace {args.trace!r}: neither a bundled trace ({', '.join(bundled_names())}) "
            "nor an existing file"
        )
    nodes = load_nodes(args.nodes) if args.nodes is not None else None
    workload = load_trace(args.trace, nodes)
    if args.since is not None:
        workload = attrs.evolve(workload, name=f"{workload.name}[t>={args.since:g}]",
                                jobs=[j for j in workload.jobs if j.submitted_at >= args.since])
    if args.owners_from is not None:
        workload = workload.owned_by(args.owners_from)
    if args.jobs is not None:
        workload = workload.head(args.jobs)
    if args.arrival_scale != 1 or args.duration_scale != 1:
        workload = workload.scaled(arrival=args.arrival_scale, duration=args.duration_scale)
    if args.cluster_fraction != 1:
        keep = max(1, round(args.cluster_fraction * len(workload.nodes)))
        workload = workload.with_nodes(workload.nodes[:keep])
    if not workload.nodes:
        raise UsageError(
            f"trace {args.trace!r} describes no nodes: pass a node list with --nodes PATH "
            "(an Alibaba node list or a CSV with id,capacity)"
        )
    if not workload.jobs:
        raise UsageError(f"trace {args.trace!r} has no jobs to replay")
    return workload


def _describe(args: argparse.Namespace) -> str:
    parts = []
    if args.since is not None:
        parts.append(f"jobs submitted from t={args.since:g} s")
    if args.owners_from is not None:
        parts.append(f"owners from the {args.owners_from!r} label")
    if args.jobs is not None:
        parts.append(f"first {args.jobs} jobs")
    if args.arrival_scale != 1:
        parts.append(f"submission gaps x{args.arrival_scale:g}")
    if args.duration_scale != 1:
        parts.append(f"runtimes x{args.duration_scale:g}")
    if args.cluster_fraction != 1:
        parts.append(f"first {args.cluster_fraction:.0%} of the nodes")
    if args.interval is not None:
        parts.append(f"a cycle every {args.interval:g} s")
    if args.until is not None:
        parts.append(f"stopped at t={args.until:g} s")
    if args.drain is not None:
        parts.append(f"stopped {args.drain:g} s after the last arrival")
    return "; ".join(parts) if parts else "as recorded"


# --------------------------------------------------------------------------- simulate


def _policies(text: str) -> list[str]:
    from prioq.sim.strategies import strategy

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--policies: give at least one strategy name")
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise UsageError(f"--policies: {dup!r} appears twice")
    if any(":" in name for name in names) and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # "mymodule:X" from the cwd, as python -m
    for name in names:
        strategy(name)  # validates early: a typo fails before a long run
    return names


def _run_simulate(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from prioq.sim.engine import simulate
    from prioq.sim.metrics import format_table
    from prioq.sim.strategies import strategy

    names = _policies(args.policies)
    if args.store is not None and len(names) != 1:
        raise UsageError(
            f"--store keeps the scheduler state of one run: give a single strategy in --policies "
            f"(got {len(names)}: {', '.join(names)})"
        )
    workload = _load(args)
    until = args.until
    if args.drain is not None:
        until = max(j.submitted_at for j in workload.jobs) + args.drain
    print(workload.summary(), file=out)
    print(f"replayed: {_describe(args)}", file=out)
    out.flush()
    show = _want_progress(args.progress, err)
    results: dict[str, SimResult] = {}
    for name in names:
        store = _open_sim_store(args.store) if args.store is not None else None
        bar = Progress(f"{name}:", err, enabled=show)
        started, cpu = time.perf_counter(), time.process_time()
        try:
            result = simulate(workload, strategy(name), interval=args.interval, until=until,
                              store=store, progress=bar)
        finally:
            bar.close()
            if store is not None:
                store.close()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        results[name] = result
        print(f"{name}: {result.events} events, {result.cycles} cycles in {wall:.1f} s "
              f"({cpu:.1f} s CPU)", file=err)
    print(file=out)
    print(format_table({name: r.metrics for name, r in results.items()}), file=out)
    if args.report is not None:
        from prioq.sim.report import write_report

        source = f"{workload.summary()}. Replayed: {_describe(args)}."
        if workload.source:
            source += f" Data: {workload.source}"
        path = write_report(args.report, results, title=f"prioq: {workload.name}", source=source)
        print(f"\nreport: {path.resolve()}", file=out)
    return 0


def _open_sim_store(url: str) -> Store:
    from prioq.storage import open_store

    store = open_store(url)
    try:
        if not store.load().is_empty():
            raise UsageError(
                "--store already holds scheduler state; simulate needs a new, empty store "
                "(delete the file or pick another URL)"
            )
    except BaseException:
        store.close()
        raise
    return store


# --------------------------------------------------------------------------- bench


def _run_bench(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from prioq.sim.engine import simulate
    from prioq.sim.strategies import strategy

    strat = strategy(args.policy)
    loaded = time.perf_counter()
    if args.synthetic is not None:
        from prioq.sim.synthetic import synthetic_cluster, synthetic_workload

        cluster = synthetic_cluster(args.nodes_count, seed=args.seed)
        workload = synthetic_workload(args.synthetic, seed=args.seed + 1, nodes=cluster)
    else:
        args.jobs, args.arrival_scale, args.duration_scale, args.cluster_fraction = None, 1.0, 1.0, 1.0
        args.since = args.owners_from = None
        workload = _load(args)
    loaded = time.perf_counter() - loaded
    print(f"{workload.summary()} (built in {loaded:.1f} s)", file=out)
    show = _want_progress(args.progress, err)
    walls: list[float] = []
    for run in range(args.repeat):
        bar = Progress(f"run {run + 1}:", err, enabled=show)
        started, cpu = time.perf_counter(), time.process_time()
        try:
            result = simulate(workload, strat, progress=bar)
        finally:
            bar.close()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        walls.append(wall)
        print(
            f"{strat.name}: {result.events} events, {result.cycles} cycles, {result.decisions} decisions "
            f"in {wall:.2f} s ({cpu:.2f} s CPU): {result.events / wall:,.0f} events/s",
            file=out,
        )
    if len(walls) > 1:
        median = statistics.median(walls)
        print(f"median of {len(walls)} runs: {median:.2f} s, {result.events / median:,.0f} events/s",
              file=out)
    return 0


# --------------------------------------------------------------------------- show


def _readonly_url(url: str) -> str:
    """A sqlite or PostgreSQL URL opened read-only (``mode=ro``: no writer lock or lease, never
    creates a file, a schema or a table); others unchanged."""
    if urlsplit(url).scheme.lower() not in ("sqlite", "postgresql", "postgres", "postgresql+psycopg"):
        return url
    base, _, query = url.partition("?")
    if any(k == "mode" for k, _ in parse_qsl(query, keep_blank_values=True)):
        return url
    # Appended by hand: urlunsplit would turn sqlite:////abs/path into sqlite://abs/path.
    return f"{base}?{query}&mode=ro" if query else f"{base}?mode=ro"


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = []
    for row in (header, *rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                        strict=True))]
        lines.append("  ".join(cells).rstrip())
    return lines


def _all_pending(store: object) -> list[JobRow]:
    rows: list[JobRow] = []
    cursor: str | None = None
    while True:
        page = store.pending_jobs(1000, cursor)  # type: ignore[attr-defined]
        rows.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return rows


def _run_show(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """The queue once, or with ``--watch S`` every S seconds (``--iterations K`` times; 0: until
    interrupted), as text or, with ``--html`` / ``--json``, as the queue view's files."""
    aging = parse_aging(args.aging)  # before opening anything: a typo fails fast
    done = 0
    while True:
        if args.html is not None or args.json is not None:
            _write_view(args, aging, out)
        else:
            if done:
                print(file=out)  # a blank line between two readings of the queue
            _show_text(args, aging, out)
        done += 1
        if args.watch is None or (args.iterations and done >= args.iterations):
            return 0
        out.flush()
        time.sleep(args.watch)


def _write_view(args: argparse.Namespace, aging: AgingPolicy, out: IO[str]) -> None:
    """Write the queue view (docs/visualization.md) of the store, read-only, to --html / --json."""
    import attrs

    from prioq.storage import open_store
    from prioq.view import queue_view

    url = _readonly_url(args.store)
    store = open_store(url)
    try:
        snap = store.load()  # read-only: no lease, no lock, nothing created
    finally:
        store.close()
    view = queue_view(snap, args.now, aging=aging, limit=args.limit)
    parts = urlsplit(args.store)
    where = parts._replace(netloc=parts.hostname or "", query="").geturl() if parts.password else args.store
    view = attrs.evolve(view, source=where, aging=args.aging)
    if args.html is not None:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(view.html(title="prioq queue", refresh=args.watch))
    if args.json is not None:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(view.json(indent=1) + "\n")
    written = " and ".join(p for p in (args.html, args.json) if p is not None)
    print(f"now = {_number(view.now)}: {view.pending_total} pending, {len(view.running)} running "
          f"-> {written}", file=out)


def _show_text(args: argparse.Namespace, aging: AgingPolicy, out: IO[str]) -> None:
    from prioq.storage import open_store

    url = _readonly_url(args.store)
    store = open_store(url)
    try:
        pending = _all_pending(store)
        running = list(store.running_jobs())  # type: ignore[attr-defined]
        now, clock = args.now, "--now"
        # The keyed state and the clock are in the snapshot: a read-only load takes no lock
        # (SQLite) nor lease (PostgreSQL). The pending pages above and it are two reads: a write
        # in between may show between two states.
        snap = store.load()

        def keyed(prefix: str) -> dict[str, str]:
            return {k[len(prefix):]: v for k, v in snap.extras.items() if k.startswith(prefix)}

        outcomes = keyed("outcome/")  # non-success outcomes: who lends priority (docs/dependencies.md)
        borrowing = keyed("quota/borrowing/")  # quota marks (docs/quotas.md)
        accounts = keyed("usage/")  # fair-share usage per owner path (prioq.fairshare.USAGE_PREFIX)
        cordons = keyed("cordon/")  # cordoned and drained nodes (docs/scheduler.md)
        stops = keyed("stop/")  # jobs told to stop (a drain, a time limit)
        if now is None:
            now, clock = snap.now, "the scheduler's last call"
        if now is None:
            times = [r.job.submitted_at for r in pending] + [r.started_at or 0.0 for r in running]
            now, clock = max(times, default=0.0), "latest submission or start in the store"
    finally:
        store.close()
    print(f"now = {_number(now)} ({clock}); aging: {args.aging}", file=out)

    from prioq.scheduler import inherited_priorities

    # priority inheritance: a dependency queues with what its waiting dependants lend it
    lifts = inherited_priorities([r.job for r in pending], [r.job.id for r in running], outcomes)
    ranked = []
    for row in pending:
        priority, submitted, _ = lifts.get(row.job.id, (row.job.priority, row.job.submitted_at, ()))
        boost = aging.boost(max(0.0, now - submitted))
        effective = priority + boost
        wait = max(0.0, now - row.job.submitted_at)  # its own wait, shown
        ranked.append((-effective, submitted, row.seq, row.job.id, row, wait, boost))
    ranked.sort(key=lambda r: r[:4])
    shown = ranked if args.limit == 0 else ranked[: args.limit]
    print(f"\nPENDING ({len(pending)} jobs, scheduling order)", file=out)
    if shown:
        rows = []
        for rank, (neg, _, _, _, row, wait, boost) in enumerate(shown, 1):
            state = "nominated" if row.nominated else "pending"
            if row.nominated:
                state += " on " + ",".join(row.nominated)
            rows.append([
                str(rank), row.job.id, str(row.job.priority), _number(boost), _number(-neg), duration(wait),
                state, str(row.job.request), row.job.owner or "-",
            ])
            if lifts:
                rows[-1].append(",".join(lifts[row.job.id][2]) if row.job.id in lifts else "-")
        header = ["#", "id", "priority", "boost", "effective", "wait", "state", "request", "owner"]
        if lifts:  # the column only when some job inherits: plain queues print as before
            header.append("inherits from")
        for line in _table(header, rows, {0, 2, 3, 4, 5}):
            print("  " + line, file=out)
        if len(shown) < len(ranked):
            print(f"  ... and {len(ranked) - len(shown)} more (--limit 0 shows all)", file=out)
    print(f"\nRUNNING ({len(running)} jobs)", file=out)
    if running:
        rows = []
        for row in running:
            state = row.state if row.preempted_by is None else f"{row.state} for {row.preempted_by}"
            if row.job.id in borrowing:
                state += f" (borrowing from {borrowing[row.job.id]})"
            if row.job.id in stops:  # [reason, told at, deadline] (prioq.scheduler._selection)
                state = "terminating (" + str(json.loads(stops[row.job.id])[0]) + ")"
            started = row.started_at if row.started_at is not None else now
            rows.append([
                row.job.id, str(row.job.priority), state, ",".join(row.node_ids), _number(started),
                duration(now - started), str(row.job.request), row.job.owner or "-",
            ])
        header = ["id", "priority", "state", "nodes", "started", "running", "request", "owner"]
        for line in _table(header, rows, {1, 4, 5}):
            print("  " + line, file=out)
    if cordons:
        print(f"\nCORDONED ({len(cordons)} nodes)", file=out)
        for node_id, mode in sorted(cordons.items()):
            print(f"  {node_id}  {mode}", file=out)
    if accounts:
        _print_usage(accounts, running, now, args.half_life, out)


def _print_usage(accounts: dict[str, str], running: list[JobRow], now: float, half_life: float,
                 out: IO[str]) -> None:
    """Fair share's decayed usage per owner path at ``now``, exactly as the scheduler computes it:
    the stored account (usage at its last start/stop) plus what the owner's running jobs have
    accrued since, decayed with ``half_life`` (docs/fairness.md)."""
    from prioq.fairshare import decode, levels, rate_of

    rates: dict[str, tuple[int, int, int]] = {}
    for row in running:
        for path in levels(row.job.owner):
            old = rates.get(path, (0, 0, 0))
            add = rate_of(row.allocation)
            rates[path] = (old[0] + add[0], old[1] + add[1], old[2] + add[2])
    rows = []
    for path, text in sorted(accounts.items()):
        gpu, cpu, mem = decode(text, rates.get(path, (0, 0, 0))).at_time(now, half_life)
        rows.append([path or "(no owner)", f"{gpu / 1000 / 3600:.4g}", f"{cpu / 1000 / 3600:.4g}",
                     f"{mem / 2**30 / 3600:.4g}"])
    print(f"\nUSAGE (fair share, decayed with a half-life of {duration(half_life)})", file=out)
    for line in _table(["owner", "GPU-hours", "CPU-hours", "memory GiB-hours"], rows, {1, 2, 3}):
        print("  " + line, file=out)


# --------------------------------------------------------------------------- parser


def _trace_options(p: argparse.ArgumentParser, *, shaping: bool) -> None:
    from prioq.sim.loaders import bundled_names

    p.add_argument(
        "--trace", default="alibaba-openb", metavar="NAME|PATH",
        help=f"a bundled trace ({', '.join(bundled_names())}) or a trace file: Alibaba pod list, "
        ".swf/.swf.gz, or CSV with id,submitted_at,... (default: alibaba-openb)",
    )
    p.add_argument("--nodes", metavar="PATH",
                   help="node list: Alibaba openb format or CSV with id,capacity (an SWF log without "
                   "one gets the cluster its header describes)")
    if not shaping:
        return
    p.add_argument("--since", type=_nonnegative_float, metavar="T",
                   help="keep only jobs submitted at or after trace time T (seconds, before scaling)")
    p.add_argument("--owners-from", metavar="LABEL",
                   help="set each job's owner from this label (e.g. qos: the Alibaba QoS class), for "
                   "fairness and the per-owner panel")
    p.add_argument("--jobs", type=_positive_int, metavar="N", help="keep only the first N jobs")
    p.add_argument("--arrival-scale", type=_positive_float, default=1.0, metavar="X",
                   help="multiply the gaps between submissions by X (0.1: ten times the arrival rate)")
    p.add_argument("--duration-scale", type=_positive_float, default=1.0, metavar="X",
                   help="multiply every runtime by X (floored at 1 s)")
    p.add_argument("--cluster-fraction", type=_fraction, default=1.0, metavar="F",
                   help="keep the first F of the nodes (0 < F <= 1), at least one")
    p.add_argument("--interval", type=_positive_float, metavar="S",
                   help="also run a scheduling cycle every S seconds (default: only after events)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--until", type=_nonnegative_float, metavar="T",
                      help="stop at trace time T (seconds, after scaling); unfinished jobs are reported")
    stop.add_argument("--drain", type=_nonnegative_float, metavar="S",
                      help="stop S seconds after the last arrival (default: run until every job ends)")


def _progress_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="draw a progress bar on stderr even when it is not a terminal")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="never draw one")


def build_parser() -> argparse.ArgumentParser:
    """The ``prioq`` argument parser (subcommands simulate, demo, bench, show)."""
    from prioq.sim.strategies import DEFAULT_COMPARISON

    parser = argparse.ArgumentParser(
        prog="prioq",
        description="prioq: priority scheduling for GPU/CPU clusters. Simulate strategies on cluster "
        "traces, or inspect a scheduler's stored queue.",
        epilog="Strategy names: fifo or priority, plus modifiers joined by '+': aging, step-aging, "
        "preemption, strict, no-reservation, no-estimates, quota, first-fit, best-fit, spread, fgd. "
        "See docs/simulation.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("simulate", help="replay a trace under named strategies, side by side",
                         description="Replay a trace under each strategy, print the metrics side by "
                         "side, and write an HTML report with plots.")
    _trace_options(sim, shaping=True)
    sim.add_argument("--policies", default=",".join(DEFAULT_COMPARISON), metavar="LIST",
                     help=f"comma-separated strategy names, or your own policies by import path "
                     f"(priority+mymodule:MyPlacement) (default: {','.join(DEFAULT_COMPARISON)})")
    sim.add_argument("--report", metavar="PATH", help="write a self-contained HTML report there")
    sim.add_argument("--store", metavar="URL",
                     help="persist the scheduler state in this new store (sqlite:///run.db, "
                     "postgresql://...); needs a single strategy")
    _progress_options(sim)

    demo = sub.add_parser("demo", help="the README's main job: compare the default strategies on the "
                          "bundled Alibaba trace",
                          description=f"Run: prioq simulate {' '.join(DEMO_ARGS)} --report PATH")
    demo.add_argument("--report", default=_DEMO_REPORT, metavar="PATH",
                      help=f"where to write the report (default: {_DEMO_REPORT})")
    _progress_options(demo)

    bench = sub.add_parser("bench", help="replay a whole trace once and print events/s",
                           description="Replay a whole trace (default: the bundled alibaba-openb) or a "
                           "synthetic workload with one strategy and print events/s.")
    _trace_options(bench, shaping=False)
    bench.add_argument("--policy", default="priority+aging+preemption", metavar="NAME",
                       help="strategy name (default: priority+aging+preemption)")
    bench.add_argument("--synthetic", type=_positive_int, metavar="N",
                       help="instead of a trace, N synthetic jobs (prioq.sim.synthetic)")
    bench.add_argument("--nodes-count", type=_positive_int, default=1000, metavar="M",
                       help="nodes of the synthetic cluster (default 1000)")
    bench.add_argument("--seed", type=_nonnegative_int, default=1, help="synthetic seed (default 1)")
    bench.add_argument("--repeat", type=_positive_int, default=1, metavar="K",
                       help="run K times and print the median (default 1)")
    _progress_options(bench)

    show = sub.add_parser("show", help="print a store's pending queue and running jobs",
                          description="Print the pending queue (scheduling order, effective priority, "
                          "aging boost, wait, pending or nominated) and the running/terminating jobs of "
                          "a store, from its read-only queries; or write the queue view as HTML / JSON "
                          "(--html, --json), again every few seconds with --watch.")
    show.add_argument("--store", required=True, metavar="URL",
                      help="sqlite:///path.db (opened read-only) or postgresql://...")
    show.add_argument("--aging", default="none", metavar="SPEC",
                      help="the scheduler's aging, to compute effective priorities: none, "
                      "linear:RATE:MAX, step:INTERVAL:STEP:MAX, or aging / step-aging (the strategies' "
                      "settings); default none")
    show.add_argument("--now", type=_nonnegative_float, metavar="T",
                      help="the time to measure waits at (default: the store's clock for SQLite, else "
                      "the latest submission or start)")
    show.add_argument("--limit", type=_nonnegative_int, default=50, metavar="N",
                      help="pending jobs to print (default 50, 0 = all)")
    show.add_argument("--html", metavar="PATH",
                      help="write the queue view, a self-contained HTML page, there (docs/visualization.md)")
    show.add_argument("--json", metavar="PATH", help="write the queue view's data as JSON there")
    show.add_argument("--watch", type=_positive_float, metavar="SECONDS",
                      help="read the store again every SECONDS (the HTML page reloads itself as often)")
    show.add_argument("--iterations", type=_nonnegative_int, default=0, metavar="K",
                      help="with --watch: stop after K reads (default 0: until interrupted)")
    show.add_argument("--half-life", type=_positive_float, default=7 * 86400, metavar="SECONDS",
                      help="the fair-share half-life, to decay owners' usage (default 604800, 7 days)")
    return parser


def main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Run the ``prioq`` command; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the message
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        if args.command == "simulate":
            return _run_simulate(args, out, err)
        if args.command == "demo":
            print(
                "prioq demo: the default strategies on the bundled Alibaba GPU trace (openb), compressed "
                "so that the cluster is contended:\n"
                f"  prioq simulate {' '.join(DEMO_ARGS)} --report {args.report}\n"
                "(at its real pace the trace keeps at most 65 of its 6,212 GPUs busy: no strategy "
                "would ever make a job wait)\n",
                file=out,
            )
            demo_args = parser.parse_args(["simulate", *DEMO_ARGS, "--report", args.report])
            demo_args.progress = args.progress
            return _run_simulate(demo_args, out, err)
        if args.command == "bench":
            return _run_bench(args, out, err)
        return _run_show(args, out, err)
    except PrioqError as exc:
        print(f"prioq: error: {exc}", file=err)
        return 2
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        print(f"prioq: error:{name}: {exc.strerror or exc}", file=err)
        return 2
    except KeyboardInterrupt:
        print("prioq: interrupted", file=err)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
