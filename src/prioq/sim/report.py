"""A self-contained HTML report of a comparison: the metrics table and matplotlib plots as inline SVG.

Needs the ``report`` extra (matplotlib), imported only when a report is written.
Plots: wait-time CDF per priority class, queue length and GPU utilization over
time, and preemptions with the GPU-hours they cost. No network, no scripts.
"""

from __future__ import annotations

import html
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prioq import _validate
from prioq.errors import InvalidValue, PrioqError
from prioq.sim.engine import SimResult
from prioq.sim.metrics import format_table

__all__ = ["render_report", "write_report"]

_MAX_POINTS = 2000  # per line: keeps SVGs small for long runs


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PrioqError("writing a report needs matplotlib: pip install 'prioq[report]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    _pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _thin(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    step = max(1, len(points) // _MAX_POINTS)
    return list(points[::step])


def _hours(t: float, t0: float) -> float:
    return (t - t0) / 3600


def _wait_cdfs(results: Mapping[str, SimResult]) -> str:
    plt = _pyplot()
    classes: list[str] = []
    for r in results.values():
        for c in r.metrics.by_class:
            if c not in classes:
                classes.append(c)
    cols = min(3, max(1, len(classes)))
    rows = (len(classes) + cols - 1) // cols or 1
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, layout="constrained"
    )
    for i, cls in enumerate(classes):
        ax = axes[i // cols][i % cols]
        for name, r in results.items():
            end = r.metrics.end
            waits = sorted(
                ((rec.started_at if rec.started_at is not None else end) - rec.submitted_at) / 60
                for rec in r.records
                if rec.priority_class == cls
            )
            if waits:
                ys = [(k + 1) / len(waits) for k in range(len(waits))]
                ax.step([max(w, 1e-3) for w in waits], ys, where="post", label=name)
        ax.set_xscale("log")
        ax.set_title(f"class {cls}")
        ax.set_xlabel("wait (minutes, log)")
        ax.set_ylabel("fraction of jobs")
        ax.grid(alpha=0.3)
    for j in range(len(classes), rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(fontsize="small")
    fig.suptitle("Wait-time CDF per priority class")
    return _svg(fig)


def _series(results: Mapping[str, SimResult], attr: str, title: str, ylabel: str, percent: bool) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    t0 = min((r.timeline.samples[0].time for r in results.values() if len(r.timeline)), default=0.0)
    for name, r in results.items():
        pts = _thin(getattr(r.metrics, attr))
        if pts:
            ax.step([_hours(t, t0) for t, _ in pts], [v * (100 if percent else 1) for _, v in pts],
                    where="post", label=name)
    ax.set_title(title)
    ax.set_xlabel("time (hours)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _svg(fig)


def _preemptions(results: Mapping[str, SimResult]) -> str:
    plt = _pyplot()
    names = list(results)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    a1.bar(names, [r.metrics.overall.preemptions for r in results.values()], color="tab:red")
    a1.set_title("preemptions")
    a2.bar(names, [r.metrics.overall.gpu_hours_lost for r in results.values()], color="tab:orange")
    a2.set_title("GPU-hours of work lost")
    for ax in (a1, a2):
        ax.tick_params(axis="x", labelrotation=20, labelsize="small")
        ax.grid(alpha=0.3, axis="y")
    return _svg(fig)


def render_report(results: Mapping[str, SimResult], *, title: str, source: str = "") -> str:
    """The report as one HTML string (inline SVG, no external resources).

    Bad arguments raise :class:`~prioq.InvalidValue` (wrong types its ``...Type`` variant).
    """
    if not isinstance(results, Mapping):
        message = f"render_report: expected name -> SimResult, got {results!r}"
        raise _validate.wrong_type(InvalidValue, message)
    if not results:
        raise InvalidValue("render_report: no results to report")
    for name, result in results.items():
        _validate.identifier(name, "render_report: run name")
        _validate.instance(result, SimResult, f"render_report: run {name}")
    _validate.instance(title, str, "render_report: title")
    _validate.instance(source, str, "render_report: source")
    table = format_table({name: r.metrics for name, r in results.items()})
    plots = [
        ("wait-cdf", _wait_cdfs(results)),
        ("queue-length", _series(results, "queue_length_series", "Queue length over time", "pending jobs",
                                 False)),
        ("gpu-utilization", _series(results, "gpu_utilization_series", "GPU utilization over time",
                                    "GPU utilization (%)", True)),
        ("preemptions", _preemptions(results)),
    ]
    figures = "\n".join(f'<figure id="{pid}">{svg}</figure>' for pid, svg in plots)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} pre{{background:#f6f6f6;padding:1em;
overflow-x:auto}} figure{{margin:1.5em 0}} svg{{max-width:100%;height:auto}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{html.escape(source)}</p>
<h2>Metrics</h2><pre>{html.escape(table)}</pre>
<h2>Plots</h2>
{figures}
</body></html>
"""


def write_report(path: str | Path, results: Mapping[str, SimResult], *, title: str, source: str = "") -> Path:
    """Write :func:`render_report` to ``path``; returns the path."""
    if not isinstance(path, str | os.PathLike):
        raise _validate.wrong_type(InvalidValue, f"write_report: expected a file path, got {path!r}")
    out = Path(path)
    out.write_text(render_report(results, title=title, source=source), encoding="utf-8")
    return out
