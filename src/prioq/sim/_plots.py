"""The report's plots: matplotlib figures as inline SVG (text kept as text, deterministic ids),
in the Okabe-Ito palette with a distinct line style per strategy, time axes zoomed to the
contended window. matplotlib is imported lazily (the ``report`` extra)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from prioq.errors import PrioqError
from prioq.queue.aging import AgingPolicy, NoAging
from prioq.sim.engine import SimResult
from prioq.sim.metrics import JobRecord
from prioq.view import PALETTE

__all__ = [
    "Window",
    "aging_strategy",
    "aging_traces",
    "class_waits",
    "contended_window",
    "owner_waits",
    "preemptions",
    "series",
    "wait_cdfs",
]

MAX_POINTS = 2000  # per line: keeps SVGs small for long runs
STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))

Window = tuple[float, float, float, float]
"""(window start, window end, run start, run end), trace seconds."""


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PrioqError("writing a report needs matplotlib: pip install 'prioq[report]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcParams.update({
        "svg.fonttype": "none",  # text stays text: smaller, selectable, the page's font
        "svg.hashsalt": "prioq",  # deterministic element ids: the same run gives the same bytes
        "axes.prop_cycle": cycler(color=PALETTE[: len(STYLES)], linestyle=list(STYLES)),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 10,
        "lines.linewidth": 1.8,
    })
    return plt


def svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _thin(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    step = max(1, len(points) // MAX_POINTS)
    return list(points[::step])


def contended_window(results: Mapping[str, SimResult]) -> Window:
    """Where the queue was: from when 1% of any run's pending job-seconds had accrued to when 99%
    had, padded by 2% of the run; the whole run when no job ever waited. O(samples)."""
    start = min((r.timeline.samples[0].time for r in results.values() if len(r.timeline)), default=0.0)
    end = max((r.metrics.end for r in results.values()), default=start)
    lo: float | None = None
    hi: float | None = None
    for r in results.values():
        pts = r.metrics.queue_length_series
        areas = [(pts[i][0], q * ((pts[i + 1][0] if i + 1 < len(pts) else r.metrics.end) - pts[i][0]))
                 for i, (_, q) in enumerate(pts)]
        total = sum(a for _, a in areas)
        if total <= 0:
            continue
        acc = 0.0
        first = last = None
        for i, (t, a) in enumerate(areas):
            acc += a
            if first is None and acc >= 0.01 * total:
                first = t
            if last is None and acc >= 0.99 * total:
                last = pts[i + 1][0] if i + 1 < len(pts) else r.metrics.end
        assert first is not None and last is not None
        lo = first if lo is None else min(lo, first)
        hi = last if hi is None else max(hi, last)
    if lo is None or hi is None or hi <= lo:
        return start, end, start, end
    pad = 0.02 * (end - start)
    return max(start, lo - pad), min(end, hi + pad), start, end


def series(results: Mapping[str, SimResult], attr: str, title: str, ylabel: str, percent: bool,
           window: Window) -> str:
    """One line per strategy over the contended window (hours since the run began)."""
    plt = pyplot()
    lo, hi, t0, _ = window
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name, r in results.items():
        pts = [(t, v) for t, v in getattr(r.metrics, attr)]
        before = [p for p in pts if p[0] <= lo][-1:]  # the value in force when the window opens
        pts = _thin([*before, *(p for p in pts if lo < p[0] <= hi)])
        if pts:
            xs = [max(t, lo) for t, _ in pts] + [hi]
            ys = [v * (100 if percent else 1) for _, v in pts]
            ax.step([(x - t0) / 3600 for x in xs], [*ys, ys[-1]], where="post", label=name)
    ax.set_xlim((lo - t0) / 3600, (hi - t0) / 3600)
    ax.set_title(title, loc="left")
    ax.set_xlabel("hours since the run began")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncols=2)
    return svg(fig)


def _classes(results: Mapping[str, SimResult]) -> list[str]:
    classes: list[str] = []
    for r in results.values():
        for c in r.metrics.by_class:
            if c not in classes:
                classes.append(c)
    return classes


def _wait(rec: JobRecord, end: float) -> float:
    return (rec.started_at if rec.started_at is not None else end) - rec.submitted_at


def wait_cdfs(results: Mapping[str, SimResult]) -> str:
    """The wait-time CDF, one panel per priority class, one line per strategy (log time)."""
    plt = pyplot()
    classes = _classes(results)
    cols = min(4, max(1, len(classes)))  # the figure spans the page's width: one row for four classes
    rows = (len(classes) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False,
                             layout="constrained")
    for i, cls in enumerate(classes):
        ax = axes[i // cols][i % cols]
        for name, r in results.items():
            waits = sorted(_wait(rec, r.metrics.end) / 60 for rec in r.records if rec.priority_class == cls)
            if waits:
                ys = [(k + 1) / len(waits) for k in range(len(waits))]
                ax.step([max(w, 1e-3) for w in waits], ys, where="post", label=name)
        ax.set_xscale("log")
        ax.set_title(f"class {cls}", loc="left")
        ax.set_xlabel("wait (minutes, log)")
        ax.set_ylabel("fraction of jobs")
        ax.grid(alpha=0.3)
    for j in range(len(classes), rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(fontsize="small")
    fig.suptitle("Wait-time CDF per priority class")
    return svg(fig)


def _grouped(ax: Any, groups: Sequence[str], values: Mapping[str, Sequence[float]]) -> None:
    """Horizontal bars: one group per label, one bar per strategy in its palette colour."""
    n = max(1, len(values))
    height = 0.8 / n
    for k, (name, vals) in enumerate(values.items()):
        ys = [g + (k - (n - 1) / 2) * height for g in range(len(groups))]
        ax.barh(ys, vals, height=height * 0.92, label=name, color=PALETTE[k % len(PALETTE)],
                hatch=("", "//", "..", "xx", "\\\\", "++")[k % 6], edgecolor="white", linewidth=0.4)
    ax.set_yticks(range(len(groups)), groups)
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x")


def class_waits(results: Mapping[str, SimResult]) -> str:
    """Per class: mean and 95th-percentile wait per strategy (two panels; the mean rather than the
    median, which is 0 for every class of a cluster that starts most jobs at once)."""
    plt = pyplot()
    classes = _classes(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.9 + 0.55 * len(classes) * max(1, len(results)) / 2),
                             layout="constrained")
    for ax, (label, attr) in zip(axes, (("mean wait", "wait_mean"), ("95th percentile wait", "wait_p95")),
                                 strict=True):
        values = {name: [(getattr(r.metrics.by_class[c], attr) or 0.0) / 60 if c in r.metrics.by_class
                         else 0.0 for c in classes] for name, r in results.items()}
        _grouped(ax, classes, values)
        ax.set_title(f"{label} per class (minutes)", loc="left")
    axes[1].legend(fontsize="small", loc="lower right")
    return svg(fig)


def owner_waits(results: Mapping[str, SimResult], top: int = 12) -> str | None:
    """Per owner (the ``top`` with most jobs): mean wait per strategy; ``None`` without owners."""
    counts: dict[str, int] = {}
    first = next(iter(results.values()))
    for rec in first.records:
        if rec.owner is not None:
            counts[rec.owner] = counts.get(rec.owner, 0) + 1
    if not counts:
        return None
    owners = sorted(counts, key=lambda o: (-counts[o], o))[:top]
    plt = pyplot()
    values = {}
    for name, r in results.items():
        sums: dict[str, list[float]] = {}
        for rec in r.records:
            if rec.owner in owners:
                sums.setdefault(rec.owner, []).append(_wait(rec, r.metrics.end) / 60)
        values[name] = [sum(sums.get(o, [0.0])) / max(1, len(sums.get(o, []))) for o in owners]
    height = 0.9 + 0.3 * len(owners) * max(1, len(results)) / 2
    fig, ax = plt.subplots(figsize=(9, height), layout="constrained")
    _grouped(ax, [f"{o} ({counts[o]} jobs)" for o in owners], values)
    ax.set_title("mean wait per owner (minutes)" + (f", the {top} owners with most jobs"
                                                    if len(counts) > top else ""), loc="left")
    ax.legend(fontsize="small", loc="lower right")
    return svg(fig)


def aging_strategy(results: Mapping[str, SimResult]) -> str | None:
    """The run whose aging the priority plot shows: the first with aging and the jobs' own
    priorities (a ``fifo`` run presents every job at one priority)."""
    aged = [n for n, r in results.items() if r.policy is not None and not isinstance(r.policy.aging, NoAging)]
    own = [n for n in aged if not n.startswith("fifo")]
    return (own or aged or [None])[0]  # type: ignore[list-item]


def sampled_jobs(result: SimResult, per_class: int = 2) -> list[JobRecord]:
    """A few jobs to follow: in each class, the one that waited longest and the one nearest the
    class's 90th-percentile wait among those that waited. Deterministic."""
    out: list[JobRecord] = []
    end = result.metrics.end
    for cls in result.metrics.by_class:
        waited = sorted((r for r in result.records if r.priority_class == cls and _wait(r, end) > 0),
                        key=lambda r: (_wait(r, end), r.job_id))
        if not waited:
            continue
        picks = [waited[-1], waited[int(0.9 * (len(waited) - 1))]]
        for r in picks[:per_class]:
            if r not in out:
                out.append(r)
    return out[:8]


def aging_traces(result: SimResult, name: str, aging: AgingPolicy) -> str:
    """Effective priority (base + aging) of sampled jobs from submission to first start."""
    plt = pyplot()
    end = result.metrics.end
    fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
    bases = sorted({r.priority for r in result.records}, reverse=True)
    for b in bases[:8]:
        ax.axhline(b, color="#999999", linewidth=0.6, linestyle=(0, (2, 2)))
    sampled = sampled_jobs(result)
    for r in sampled:
        wait = _wait(r, end)
        steps = 120
        xs = [wait * k / steps for k in range(steps + 1)]
        ys = [r.priority + aging.boost(x) for x in xs]
        (line,) = ax.plot([x / 60 for x in xs], ys, label=f"{r.job_id} ({r.priority_class})")
        if r.started_at is not None:
            ax.plot([wait / 60], [ys[-1]], marker="o", color=line.get_color(), linestyle="none")
    ax.set_xlabel("minutes since submission (a dot: the job started)")
    ax.set_ylabel("effective priority")
    ax.set_title(f"Aging at work ({name}): effective priority of sampled jobs while they wait; "
                 "dashed: the classes' base priorities", loc="left", fontsize="medium")
    ax.grid(alpha=0.3)
    if sampled:
        ax.legend(fontsize="x-small", ncols=2, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no job waited", transform=ax.transAxes, ha="center")
    return svg(fig)


def preemptions(results: Mapping[str, SimResult]) -> str:
    plt = pyplot()
    names = list(results)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    a1.bar(names, [r.metrics.overall.preemptions for r in results.values()], color="#D55E00")
    a1.set_title("preemptions", loc="left")
    a2.bar(names, [r.metrics.overall.gpu_hours_lost for r in results.values()], color="#E69F00")
    a2.set_title("GPU-hours of work lost", loc="left")
    for ax in (a1, a2):
        ax.tick_params(axis="x", labelrotation=20, labelsize="small")
        ax.grid(alpha=0.3, axis="y")
    return svg(fig)
