"""The queue view as one self-contained HTML page: inline CSS and SVG, no script, no network.

Sections (each an element with an id the tests look up): ``summary``, ``bands``, ``pending``,
``nodes``, ``running``, ``preemptions``. Colours come from the Okabe-Ito palette and every
coloured mark also carries its text, so nothing depends on telling colours apart.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

from prioq.resources import MILLI
from prioq.view._style import BASE_CSS, PART_COLOURS, colour

if TYPE_CHECKING:
    from prioq.view._data import NodeUse, PendingEntry, QueueView

__all__ = ["duration", "number", "render_queue"]

_CSS = """
svg.parts{width:100%;min-width:7rem;height:14px;display:block}
table.narrow{width:auto;min-width:min(100%,32rem)}
svg.ladder{width:100%;max-width:60rem;height:auto;display:block;margin-top:.8rem}
.legend span{margin-right:1rem;white-space:nowrap}
.devices{display:flex;flex-wrap:wrap;gap:4px;margin:.4rem 0}
.devices svg{width:46px;height:58px}
.node h3{margin:.1rem 0;font-size:1rem}.node .cap{color:var(--muted);font-size:.8rem;word-break:break-word}
.node ul{margin:.2rem 0 0;padding-left:1.1rem;font-size:.85rem}
.cpu{height:8px;background:var(--soft);border:1px solid var(--line);border-radius:3px;overflow:hidden}
.cpu b{display:block;height:100%;background:#56B4E9}
.frag{color:#D55E00;font-weight:600}
"""


def duration(seconds: float) -> str:
    """``42s``, ``8m20s``, ``3h05m``, ``2d04h``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{int(seconds // 86400)}d{int(seconds % 86400 // 3600):02d}h"


def number(value: float) -> str:
    """An integer as such, else up to 4 significant decimals (``55.56``)."""
    return f"{value:.0f}" if value == int(value) else f"{value:.4g}"


def _td(label: str, text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f'<td data-label="{escape(label)}"{attr}>{text}</td>'


def _swatch(index: int) -> str:
    return f'<span class="swatch" style="background:{colour(index)}"></span>'


def _parts_bar(p: PendingEntry, scale: float) -> str:
    """Base, aging and fair-share term as one stacked bar, widths proportional to the values."""
    parts = [("base", max(0.0, float(p.base))), ("aging", p.aging), ("fair_share", max(0.0, p.fair_share))]
    x, rects = 0.0, []
    for name, value in parts:
        w = 200 * value / scale if scale > 0 else 0.0
        if w > 0:
            rects.append(f'<rect x="{x:.2f}" y="1" width="{w:.2f}" height="12" fill="{PART_COLOURS[name]}"/>')
            x += w
    label = f"base {p.base} + aging {number(p.aging)}"
    if p.fair_share:
        label += f" + fair share {number(p.fair_share)}"
    return (f'<svg class="parts" viewBox="0 0 200 14" preserveAspectRatio="none" role="img" '
            f'aria-label="{escape(label)}"><title>{escape(label)}</title>{"".join(rects)}</svg>')


def _summary(v: QueueView) -> str:
    gpus = sum(len(n.devices) for n in v.nodes)
    used = sum(MILLI - d.free_milli for n in v.nodes for d in n.devices) / MILLI
    frag = sum(1 for n in v.nodes for d in n.devices if d.fragmented)
    stats = [
        (str(v.pending_total), "pending"),
        (str(len(v.running)), "running"),
        (f"{number(round(used, 3))} / {gpus}", "GPUs held"),
        (str(frag), "GPUs partly used"),
        (str(len(v.nominations)), "nominated preemptors"),
        (str(len(v.terminating)), "terminating victims"),
    ]
    cards = "".join(f'<div class="card"><span class="stat">{escape(s)}</span>'
                    f'<span class="stat-label">{escape(label)}</span></div>' for s, label in stats)
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in v.notes)
    return f'<section id="summary"><div class="cards stats">{cards}</div>{notes}</section>'


def _ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values covering [lo, hi]."""
    raw = (hi - lo) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step) + 1)]


def _ladder(v: QueueView) -> str:
    """Bands as lanes on one effective-priority axis: each band's base priority is a line, each
    shown pending job a dot at its effective priority, so aging lifting a job past the base of a
    higher band shows at a glance."""
    if not v.bands:
        return ""
    values = [float(b.priority) for b in v.bands] + [p.effective for p in v.pending]
    lo, hi = min(values), max(values)
    pad = max(1.0, 0.05 * (hi - lo))
    lo, hi = lo - pad, hi + pad
    left, right, lane = 130.0, 790.0, 26.0

    def x(value: float) -> float:
        return left + (right - left) * (value - lo) / (hi - lo)

    parts = []
    for k, b in enumerate(v.bands):
        y = 8 + k * lane
        mid = y + (lane - 4) / 2
        fill = colour(b.colour)
        base = x(b.priority)
        parts.append(f'<rect x="{left}" y="{y}" width="{right - left}" height="{lane - 4}" fill="#f4f5f7"/>')
        parts.append(f'<text x="{left - 8}" y="{mid + 4:.1f}" font-size="12" text-anchor="end" '
                     f'fill="#1a1a1a">{escape(b.name)}</text>')
        parts.append(f'<line x1="{base:.1f}" x2="{base:.1f}" y1="{y}" y2="{y + lane - 4}" stroke="{fill}" '
                     f'stroke-width="3"><title>{escape(b.name)}: base {b.priority}</title></line>')
        for p in v.pending:
            if p.band == b.name:
                tip = f"{escape(p.job_id)}: effective {number(p.effective)} (#{p.position})"
                parts.append(f'<circle cx="{x(p.effective):.1f}" cy="{mid:.1f}" r="5" fill="{fill}" '
                             f'stroke="#1a1a1a" stroke-width="0.8"><title>{tip}</title></circle>')
    bottom = 8 + len(v.bands) * lane
    for t in _ticks(lo, hi):
        tick = x(t)
        parts.append(f'<line x1="{tick:.1f}" x2="{tick:.1f}" y1="{bottom - 2}" y2="{bottom + 3}" '
                     'stroke="#555"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{bottom + 15}" font-size="11" text-anchor="middle" '
                     f'fill="#1a1a1a">{number(t)}</text>')
    height = bottom + 34
    caption = "effective priority (line: the band's base priority; dot: a pending job)"
    parts.append(f'<text x="{(left + right) / 2}" y="{height - 4}" font-size="11" text-anchor="middle" '
                 f'fill="#555">{escape(caption)}</text>')
    return (f'<svg class="ladder" viewBox="0 0 800 {height:.0f}" role="img" aria-label="pending jobs by '
            f'effective priority, one lane per band">{"".join(parts)}</svg>')


def _bands(v: QueueView) -> str:
    rows = "".join(
        f"<tr>{_td('band', _swatch(b.colour) + escape(b.name))}{_td('base priority', str(b.priority), 'num')}"
        f"{_td('pending', str(b.pending), 'num')}{_td('running', str(b.running), 'num')}</tr>"
        for b in v.bands
    )
    return (
        '<section id="bands"><h2>Priority bands</h2><p class="meta">Each priority class (or level) '
        "has a colour; pending and running jobs carry it. Most important first.</p>"
        '<div class="scroll"><table class="stack narrow"><thead><tr><th>band</th>'
        '<th class="num">base priority</th><th class="num">pending</th><th class="num">running</th>'
        "</tr></thead>"
        f"<tbody>{rows}</tbody></table></div>{_ladder(v)}</section>"
    )


def _pending(v: QueueView, bands: dict[str, int]) -> str:
    legend = "".join(f'<span><span class="swatch" style="background:{c}"></span>'
                     f'{escape(n.replace("_", " "))}</span>' for n, c in PART_COLOURS.items())
    legend = f'<p class="legend">{legend}</p>'
    scale = max((max(0.0, float(p.base)) + p.aging + max(0.0, p.fair_share) for p in v.pending), default=0.0)
    fair = any(p.fair_share for p in v.pending) or v.fair_share is not None
    rows = []
    for p in v.pending:
        state = "nominated on " + ", ".join(p.nominated) if p.nominated else "pending"
        if p.inherited_from:
            state += "; inherits from " + ", ".join(p.inherited_from)
        reason = escape(p.reason or "-")
        if p.message:
            reason = f'<span title="{escape(p.message)}">{reason}</span>'
        cells = [
            _td("#", str(p.position), "num"),
            _td("job", _swatch(bands.get(p.band, 0)) + f"<b>{escape(p.job_id)}</b>"),
            _td("band", escape(p.band)),
            _td("priority parts", _parts_bar(p, scale)),
            _td("effective", number(p.effective), "num"),
            _td("base", str(p.base), "num"),
            _td("aging", number(p.aging), "num"),
        ]
        if fair:
            cells.append(_td("fair share", number(p.fair_share), "num"))
        cells += [
            _td("wait", duration(p.wait), "num"),
            _td("reason", reason),
            _td("state", escape(state)),
            _td("owner", escape(p.owner or "-")),
            _td("request", escape(p.request)),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    heads = ["#", "job", "band", "priority parts", "effective", "base", "aging"]
    if fair:
        heads.append("fair share")
    heads += ["wait", "reason", "state", "owner", "request"]
    numeric = {"#", "effective", "base", "aging", "fair share", "wait"}
    head = "".join(f'<th class="num">{h}</th>' if h in numeric else f"<th>{h}</th>" for h in heads)
    more = ""
    if v.pending_total > len(v.pending):
        more = f'<p class="meta">… and {v.pending_total - len(v.pending)} more pending jobs.</p>'
    empty = "" if v.pending else '<p class="meta">No job is waiting.</p>'
    return (
        f'<section id="pending"><h2>Pending queue ({v.pending_total} jobs, scheduling order)</h2>'
        '<p class="meta">Effective priority = base (the job\'s priority, or the one it inherits) + '
        f"aging (its wait) + fair-share term (when on). Aging: {escape(v.aging)}.</p>{legend}"
        f'<div class="scroll"><table class="stack"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
        f"</tbody></table></div>{more}{empty}</section>"
    )


def _device_svg(index: int, model: str, holders: tuple[tuple[str, int], ...], free: int,
                band_of: dict[str, int]) -> str:
    """One device as a 40x40 box filled from the bottom by its holders' shares."""
    y = 48.0
    rects = []
    for job_id, milli in holders:
        h = 40 * milli / MILLI
        y -= h
        fill = colour(band_of.get(job_id, 0))
        rects.append(f'<rect x="3" y="{y:.2f}" width="40" height="{h:.2f}" fill="{fill}">'
                     f"<title>{escape(job_id)}: {milli / MILLI:g} GPU</title></rect>")
    fragmented = 0 < free < MILLI
    dash = ' stroke-dasharray="4 2" stroke="#D55E00"' if fragmented else ' stroke="#555"'
    used = (MILLI - free) / MILLI
    label = f"GPU {index} ({model}): {used:.0%} held" + (", fragmented" if fragmented else "")
    return (f'<svg viewBox="0 0 46 58" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>'
            f'<rect x="3" y="8" width="40" height="40" fill="#f4f5f7"/>{"".join(rects)}'
            f'<rect x="3" y="8" width="40" height="40" fill="none" stroke-width="1.5"{dash}/>'
            f'<text x="23" y="6" font-size="7" text-anchor="middle" fill="#1a1a1a">{index}</text>'
            f'<text x="23" y="57" font-size="8" text-anchor="middle" fill="#1a1a1a">{used:.0%}</text></svg>')


def _node(n: NodeUse, band_of: dict[str, int]) -> str:
    devices = "".join(_device_svg(d.index, d.model, d.holders, d.free_milli, band_of) for d in n.devices)
    cpu = 100 * n.cpu_used_milli / n.cpu_milli if n.cpu_milli else 0.0
    held: dict[str, float] = {}
    for d in n.devices:
        for job_id, milli in d.holders:
            held[job_id] = held.get(job_id, 0.0) + milli / MILLI
    items = "".join(
        f"<li>{_swatch(band_of.get(j, 0))}{escape(j)}" + (f": {held[j]:g} GPU" if j in held else "") + "</li>"
        for j in n.jobs
    )
    frag = sum(1 for d in n.devices if d.fragmented)
    frag_text = f' <span class="frag">{frag} partly used</span>' if frag else ""
    return (
        f'<div class="card node" id="node-{escape(n.node_id)}"><h3>{escape(n.node_id)}{frag_text}</h3>'
        f'<div class="cap">{escape(n.capacity)}</div>'
        f'<div class="devices">{devices}</div>'
        f'<div class="cpu" title="CPU {cpu:.0f}% held"><b style="width:{cpu:.1f}%"></b></div>'
        f'<div class="cap">CPU {n.cpu_used_milli / 1000:g} of {n.cpu_milli / 1000:g} held</div>'
        f"<ul>{items}</ul></div>"
    )


def _nodes(v: QueueView, band_of: dict[str, int]) -> str:
    cards = "".join(_node(n, band_of) for n in v.nodes)
    return (
        '<section id="nodes"><h2>Nodes and GPU devices</h2><p class="meta">Each box is one GPU, filled '
        "by the shares its jobs hold (band colours); a dashed orange outline marks a partly used device, "
        f'whose free share only fractional requests can use.</p><div class="cards">{cards}</div></section>'
    )


def _running(v: QueueView, band_of: dict[str, int]) -> str:
    rows = []
    for r in v.running:
        state = "running"
        if r.terminating_for is not None:
            state = f"terminating for {r.terminating_for}"
            if r.deadline is not None:
                state += f" (grace until {number(r.deadline)})"
        rows.append(
            "<tr>" + _td("job", _swatch(band_of.get(r.job_id, 0)) + f"<b>{escape(r.job_id)}</b>")
            + _td("band", escape(r.band)) + _td("priority", str(r.priority), "num")
            + _td("nodes", escape(", ".join(r.node_ids))) + _td("GPUs", f"{r.gpu_milli / MILLI:g}", "num")
            + _td("started", number(r.started_at), "num") + _td("running", duration(r.running_for), "num")
            + _td("state", escape(state)) + _td("owner", escape(r.owner or "-"))
            + _td("request", escape(r.request)) + "</tr>"
        )
    head = "".join(f'<th class="num">{h[1:]}</th>' if h[0] == "#" else f"<th>{h}</th>" for h in (
        "job", "band", "#priority", "nodes", "#GPUs", "#started", "#running", "state", "owner", "request"))
    empty = "" if v.running else '<p class="meta">No job is running.</p>'
    return (f'<section id="running"><h2>Running jobs ({len(v.running)})</h2><div class="scroll">'
            f'<table class="stack"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            f"{empty}</section>")


def _preemptions(v: QueueView) -> str:
    victims: dict[str, list[str]] = {}
    deadlines: dict[str, float] = {}
    for r in v.running:
        if r.terminating_for is not None:
            victims.setdefault(r.terminating_for, []).append(r.job_id)
            if r.deadline is not None:
                deadlines[r.terminating_for] = max(deadlines.get(r.terminating_for, r.deadline), r.deadline)
    preemptors = list(dict.fromkeys([*v.nominations, *victims]))
    rows = "".join(
        "<tr>" + _td("preemptor", f"<b>{escape(p)}</b>")
        + _td("nominated nodes", escape(", ".join(v.nominations.get(p, ())) or "-"))
        + _td("victims terminating", escape(", ".join(victims.get(p, [])) or "-"))
        + _td("grace ends", number(deadlines[p]) if p in deadlines else "-", "num") + "</tr>"
        for p in preemptors
    )
    body = (
        '<div class="scroll"><table class="stack"><thead><tr><th>preemptor</th><th>nominated nodes</th>'
        '<th>victims terminating</th><th class="num">grace ends</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
        if preemptors else '<p class="meta">No preemption in progress.</p>'
    )
    return (f'<section id="preemptions"><h2>Preemptions in progress</h2><p class="meta">A nominated '
            "preemptor holds the nodes its victims are freeing; each victim stops when its grace "
            f"period ends.</p>{body}</section>")


def render_queue(v: QueueView, *, title: str, refresh: float | None) -> str:
    """The page for a :class:`~prioq.view.QueueView`. O(jobs + devices)."""
    bands = {b.name: b.colour for b in v.bands}
    band_of = {r.job_id: bands.get(r.band, 0) for r in v.running}
    meta = f'<meta http-equiv="refresh" content="{refresh:g}">' if refresh is not None else ""
    fair = f"; fair share: {escape(v.fair_share)}" if v.fair_share else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{escape(title)}</title><style>{BASE_CSS}{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p class=\"meta\">now = {number(v.now)} ({escape(v.clock)}); "
        f"source: {escape(v.source)}; aging: {escape(v.aging)}{fair}</p></header>"
        f"{_summary(v)}{_bands(v)}{_pending(v, bands)}{_nodes(v, band_of)}{_running(v, band_of)}"
        f"{_preemptions(v)}</body></html>\n"
    )
