"""A self-contained HTML report of a comparison that tells its story (docs/visualization.md).

Sections: ``headline`` (what each strategy changed against the first one, the baseline, in
sentences generated from the metrics), ``metrics`` (HTML tables, overall and per class), and
the plots as inline SVG: queue length and GPU utilization zoomed to the contended window,
wait-time CDFs and waits per class, mean wait per owner, the effective priority of sampled
jobs while they wait (aging at work), preemptions and the work they cost. No script, no
network. Needs the ``report`` extra (matplotlib), imported only when a report is written.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path

from prioq import _validate
from prioq.errors import InvalidValue
from prioq.sim import _plots
from prioq.sim.engine import SimResult
from prioq.sim.metrics import Metrics, _duration, _format
from prioq.view import BASE_CSS, PALETTE

__all__ = ["contended_utilization", "headline", "render_report", "write_report"]

_SAME = 0.10  # relative change under which a wait counts as "about the same"
_MIN_CHANGE = 60.0  # seconds: and under which too


def contended_utilization(metrics: Metrics, lo: float, hi: float) -> float | None:
    """Time-weighted GPU utilization between ``lo`` and ``hi`` (``None`` over no time). O(samples)."""
    pts = metrics.gpu_utilization_series
    area = span = 0.0
    for i, (t, v) in enumerate(pts):
        stop = pts[i + 1][0] if i + 1 < len(pts) else metrics.end
        a, b = max(t, lo), min(stop, hi)
        if b > a:
            area += v * (b - a)
            span += b - a
    return area / span if span > 0 else None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _change(before: float | None, after: float | None) -> str:
    """``17.2m → 5.86m (−66%)``."""
    if before is None or after is None:
        return f"{_format('wait_p95', before)} → {_format('wait_p95', after)}"
    change = (after - before) / before if before > 0 else None
    # one decimal near +-100%, where rounding would claim a wait vanished or doubled exactly
    digits = 1 if change is not None and 0.99 <= abs(change) < 1.01 and abs(change) != 1 else 0
    rel = f" ({change:+.{digits}%})" if change is not None else ""
    return f"{_duration(before)} → {_duration(after)}{rel}".replace("-", "−")


def headline(results: Mapping[str, SimResult], window: _plots.Window) -> list[str]:
    """The findings as sentences (HTML-escaped text): the contended window, then for each
    strategy against the first (the baseline) which classes waited less or more (95th-percentile
    wait), utilization, preemptions and the GPU-hours they cost, and fairness."""
    names = list(results)
    base_name = names[0]
    base = results[base_name].metrics
    lo, hi, t0, end = window
    run = end - t0
    lines = []
    if run > 0 and (lo, hi) != (t0, end):
        lines.append(
            f"The cluster was contended (jobs waiting) from hour {(lo - t0) / 3600:.1f} to hour "
            f"{(hi - t0) / 3600:.1f} of {run / 3600:.1f} ({(hi - lo) / run:.0%} of the run): the time "
            "plots show that window."
        )
    elif run > 0:
        lines.append(f"No job waited long enough to mark a contended window: the plots show the whole run "
                     f"({run / 3600:.1f} hours).")
    if base.owners:
        lines.append(f"Fairness is Jain's index over the {base.owners} owners' mean bounded slowdown "
                     "(1 = every owner slowed down alike).")
    else:
        lines.append("Fairness: the trace names no owners (prioq simulate --owners-from LABEL gives jobs one "
                     "from a label, e.g. the Alibaba QoS class).")
    for name in names[1:]:
        m = results[name].metrics
        less, more, same = [], [], []
        for cls, s in m.by_class.items():
            b = base.by_class.get(cls)
            if b is None or b.wait_p95 is None or s.wait_p95 is None:
                continue
            diff = s.wait_p95 - b.wait_p95
            text = f"{cls} {_change(b.wait_p95, s.wait_p95)}"
            if abs(diff) < max(_MIN_CHANGE, _SAME * b.wait_p95):
                same.append(cls)
            elif diff < 0:
                less.append(text)
            else:
                more.append(text)
        parts = [f"<b>{html.escape(name)}</b> vs {html.escape(base_name)}:"]
        if less:
            parts.append("waited less (95th percentile): " + html.escape("; ".join(less)) + ".")
        if more:
            parts.append("Waited more: " + html.escape("; ".join(more)) + ".")
        if same:
            parts.append("About the same: " + html.escape(", ".join(same)) + ".")
        util_b, util_m = contended_utilization(base, lo, hi), contended_utilization(m, lo, hi)
        parts.append(f"GPU utilization while contended {_pct(util_b)} → {_pct(util_m)} "
                     f"(whole run {_pct(base.gpu_utilization)} → {_pct(m.gpu_utilization)}).")
        o = m.overall
        if o.preemptions:
            share = (f", {o.gpu_hours_lost / o.gpu_hours:.1%} of the GPU-hours finished jobs did"
                     if o.gpu_hours else "")
            parts.append(f"{o.preemptions:,} preemptions threw away {o.gpu_hours_lost:,.0f} GPU-hours of "
                         f"work{share}.")
        else:
            parts.append("No preemptions.")
        if base.fairness is not None and m.fairness is not None:
            word = ("fairer" if m.fairness > base.fairness + 0.01
                    else "less fair" if m.fairness < base.fairness - 0.01 else "as fair")
            parts.append(f"Fairness {base.fairness:.3f} → {m.fairness:.3f} ({word}).")
        lines.append(" ".join(parts))
    return lines


_OVERALL = ("jobs", "finished", "never_started", "wait_mean", "wait_p50", "wait_p95", "wait_max",
            "slowdown_mean", "gpu_util", "gpu_frag", "queue_mean", "preemptions", "gpu_hours_lost",
            "fairness", "makespan")
_PER_CLASS = ("jobs", "wait_p50", "wait_p95", "wait_p99", "never_started", "preemptions", "gpu_hours_lost")


def _table(table_id: str, caption: str, rows: list[tuple[str, list[str]]], names: list[str]) -> str:
    head = "".join(f'<th class="num">{html.escape(n)}</th>' for n in names)
    body = "".join(
        f"<tr><th scope=\"row\">{html.escape(label)}</th>"
        + "".join(f'<td class="num" data-label="{html.escape(n)}">{html.escape(c)}</td>'
                  for n, c in zip(names, cells, strict=True))
        + "</tr>"
        for label, cells in rows
    )
    return (f'<div class="scroll"><table id="{table_id}" class="metrics"><caption>{html.escape(caption)}'
            f"</caption><thead><tr><th>metric</th>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _tables(results: Mapping[str, SimResult], window: _plots.Window) -> str:
    names = list(results)
    rows_by_run = {n: r.metrics.as_row() for n, r in results.items()}
    lo, hi, _, _ = window
    overall = [(k.replace("_", " "), [_format(k, rows_by_run[n].get(k)) for n in names]) for k in _OVERALL]
    overall.insert(9, ("gpu util while contended",
                       [_pct(contended_utilization(results[n].metrics, lo, hi)) for n in names]))
    caption = "Overall (waits with units, utilization as a share of capacity)"
    out = [_table("overall", caption, overall, names)]
    classes = list(dict.fromkeys(c for r in results.values() for c in r.metrics.by_class))
    per_class = [
        (f"{c}: {k.replace('_', ' ')}", [_format(k, rows_by_run[n].get(f"{k}[{c}]")) for n in names])
        for c in classes for k in _PER_CLASS
    ]
    out.append(_table("per-class", "Per priority class, most important first", per_class, names))
    return "".join(out)


_CSS = """
.figures figure.wide{grid-column:1/-1}
@media (max-width:700px){.figures figure.wide{overflow-x:auto}
 .figures figure.wide svg{width:220%;max-width:none}}
table.metrics{width:auto;min-width:min(100%,40rem)}
table.metrics caption{text-align:left;font-weight:600;padding:.3rem 0}
table.metrics th[scope=row]{font-weight:500;background:none;white-space:nowrap}
table.metrics td{white-space:nowrap}
.legend-row span{margin-right:1rem;white-space:nowrap}
"""


def _figure(fid: str, svg: str, caption: str, *, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f'<figure id="{fid}"{cls}>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'


def render_report(results: Mapping[str, SimResult], *, title: str, source: str = "") -> str:
    """The report as one HTML string (inline SVG, no external resources). The first run is the
    baseline the headline compares the others with.

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
    window = _plots.contended_window(results)
    lo, hi, t0, end = window
    zoom = ("the contended window" if (lo, hi) != (t0, end) else "the whole run")
    figures = [
        _figure("queue-length", _plots.series(results, "queue_length_series", "Queue length", "pending jobs",
                                              False, window), f"Pending jobs over {zoom}."),
        _figure("gpu-utilization", _plots.series(results, "gpu_utilization_series", "GPU utilization",
                                                 "GPUs held (%)", True, window),
                f"Share of the cluster's GPUs held over {zoom}."),
        _figure("wait-cdf", _plots.wait_cdfs(results),
                "Wait-time CDF per priority class: further left is better.", wide=True),
        _figure("class-waits", _plots.class_waits(results), "Mean and 95th-percentile wait per class."),
    ]
    owners = _plots.owner_waits(results)
    owner_note = ""
    if owners is not None:
        figures.append(_figure("owner-waits", owners, "Mean wait per owner."))
    else:
        owner_note = '<p class="note">The trace names no owners: no per-owner panel.</p>'
    aged = _plots.aging_strategy(results)
    aging_note = ""
    if aged is not None:
        policy = results[aged].policy
        assert policy is not None
        figures.append(_figure("aging", _plots.aging_traces(results[aged], aged, policy.aging),
                               "Effective priority = base + aging boost, for the longest and "
                               "90th-percentile waits of each class."))
    else:
        aging_note = '<p class="note">No strategy ages jobs: no aging panel.</p>'
    figures.append(_figure("preemptions", _plots.preemptions(results),
                           "Preemptions and the GPU-hours of work they threw away."))
    legend = "".join(f'<span><span class="swatch" style="background:{PALETTE[k % len(PALETTE)]}"></span>'
                     f"{html.escape(n)}</span>" for k, n in enumerate(results))
    findings = "".join(f"<li>{line}</li>" for line in headline(results, window))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{BASE_CSS}{_CSS}</style></head>
<body><header><h1>{html.escape(title)}</h1>
<p class="meta">{html.escape(source)}</p>
<p class="legend-row">{legend}</p></header>
<section id="headline"><h2>What the comparison found</h2><ul class="headline">{findings}</ul></section>
<section id="metrics"><h2>Metrics</h2>{_tables(results, window)}</section>
<section id="plots"><h2>Plots</h2>{owner_note}{aging_note}
<div class="figures">{"".join(figures)}</div>
</section>
</body></html>
"""


def write_report(path: str | Path, results: Mapping[str, SimResult], *, title: str, source: str = "") -> Path:
    """Write :func:`render_report` to ``path``; returns the path."""
    if not isinstance(path, str | os.PathLike):
        raise _validate.wrong_type(InvalidValue, f"write_report: expected a file path, got {path!r}")
    out = Path(path)
    out.write_text(render_report(results, title=title, source=source), encoding="utf-8")
    return out
