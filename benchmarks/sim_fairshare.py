"""FIFO vs priority vs fair share on real traces: fairness among owners, per-owner waits, utilization.

* ``nasa-ipsc`` (NASA Ames iPSC/860, 1993; SWF): its users are the owners; the first
  ``--nasa-jobs`` jobs (default 6,000, about a month), submission gaps scaled by
  ``--nasa-arrival`` (default 0.5: twice the offered load, so that the 128 nodes are
  contended and arbitration matters). The trace has no priorities (every job gets the
  default one), so ``priority`` is ``fifo`` there and is not run;
* ``alibaba-openb`` with the demo's shaping (first 5% of the nodes, submission gaps x0.03,
  six hours of drain; see docs/simulation.md): its QoS classes are the owners
  (``Workload.owned_by("qos")``).

Per strategy: Jain's index over the owners' mean bounded slowdowns (``Metrics.fairness``;
1 = every owner is served alike), the owners' 95th-percentile waits (the median owner and
the worst owner), the mean wait, and GPU (openb) or CPU (NASA) utilization. Prints a
Markdown table (docs/fairness.md holds its output).

    python benchmarks/sim_fairshare.py            # both traces, ~minutes
    python benchmarks/sim_fairshare.py --toy      # a few hundred jobs of each (CI)
    python benchmarks/sim_fairshare.py --plot docs/images   # also the per-owner wait plots

``--plot DIR`` writes one SVG per trace (``fairness-<trace>.svg``, needs matplotlib): each
owner's 95th-percentile wait under each strategy, owners sorted from best to worst served.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from prioq.sim import SimResult, Workload, load_bundled, simulate, strategy
from prioq.sim.metrics import percentile

STRATEGIES = ("fifo", "priority", "fifo+fair-share", "priority+fair-share", "priority+fair-share-term")
NASA_STRATEGIES = ("fifo", "fifo+fair-share", "fifo+fair-share-term")


def workloads(args: argparse.Namespace) -> list[tuple[Workload, float | None, str, tuple[str, ...]]]:
    nasa = load_bundled("nasa-ipsc").head(args.nasa_jobs)
    openb = load_bundled("alibaba-openb").owned_by("qos")
    if args.toy:
        nasa, openb = nasa.head(300), openb.head(400)
    nasa = nasa.scaled(arrival=args.nasa_arrival)
    openb = openb.scaled(arrival=0.03)
    openb = openb.with_nodes(openb.nodes[: max(1, round(0.05 * len(openb.nodes)))])
    drain = max(j.submitted_at for j in openb.jobs) + 21600
    return [
        (nasa, None, f"nasa-ipsc, users as owners, first {len(nasa.jobs)} jobs, submission gaps "
         f"x{args.nasa_arrival:g}", tuple(args.nasa_strategies.split(","))),
        (openb, drain, "alibaba-openb, QoS classes as owners, first 5% of nodes, gaps x0.03, 6 h drain",
         tuple(args.strategies.split(","))),
    ]


def owner_p95(res: SimResult, end: float) -> list[float]:
    waits: dict[str, list[float]] = {}
    for r in res.records:
        if r.owner is None:
            continue
        start = r.started_at if r.started_at is not None else end
        waits.setdefault(r.owner, []).append(max(0.0, start - r.submitted_at))
    return sorted(percentile(w, 95) for w in waits.values())


def hours(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.2f} h"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--nasa-arrival", type=float, default=0.5)
    ap.add_argument("--nasa-jobs", type=int, default=6000)
    ap.add_argument("--trace", choices=("both", "nasa-ipsc", "alibaba-openb"), default="both")
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="for openb")
    ap.add_argument("--nasa-strategies", default=",".join(NASA_STRATEGIES))
    ap.add_argument("--plot", metavar="DIR", help="write fairness-<trace>.svg plots there")
    args = ap.parse_args()
    for work, until, title, names in workloads(args):
        if args.trace not in ("both", title.split(",")[0]):
            continue
        gpu = work.gpu_capacity_milli > 0
        print(f"\n**{title}** ({len(work.jobs)} jobs, {len(work.nodes)} nodes, "
              f"{len({j.owner for j in work.jobs})} owners)\n")
        print("| strategy | Jain (owners' mean slowdown) | owner wait p95: median owner | worst owner "
              f"| mean wait | {'GPU' if gpu else 'CPU'} utilization | sim time |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        curves: dict[str, list[float]] = {}
        for name in names:
            t0 = time.process_time()
            res = simulate(work, strategy(name), until=until, fragmentation_every=0)
            took = time.process_time() - t0
            m = res.metrics
            p95 = owner_p95(res, m.end)
            util = m.gpu_utilization if gpu else m.cpu_utilization
            jain = "-" if m.fairness is None else f"{m.fairness:.3f}"
            used = "-" if util is None else f"{util:.1%}"
            print(f"| {name} | {jain} | {hours(statistics.median(p95))} | {hours(p95[-1])} "
                  f"| {hours(m.overall.wait_mean)} | {used} | {took:.0f} s |")
            curves[name] = p95
        sys.stdout.flush()
        if args.plot:
            plot(curves, title, f"{args.plot}/fairness-{title.split(',')[0]}.svg")
    return 0


def plot(curves: dict[str, list[float]], title: str, path: str) -> None:
    """Each owner's p95 wait per strategy, owners sorted best to worst served (a step line each)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "prioq"  # the same SVG for the same figures
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"]  # Okabe-Ito: colour-blind safe
    styles = ["-", "--", "-.", ":", "-"]
    for i, (name, p95) in enumerate(curves.items()):
        xs = [(k + 1) / len(p95) for k in range(len(p95))]
        ax.step(xs, [w / 3600 for w in p95], where="post", label=name, color=colors[i % 5],
                linestyle=styles[i % 5], linewidth=1.6)
    ax.set_xlabel("owners, best to worst served (fraction)")
    ax.set_ylabel("owner's p95 wait (h)")
    ax.set_title(title.split(",")[0] + ": each owner's 95th-percentile wait", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    sys.exit(main())
