"""Colours and CSS shared by the queue view and the simulation report: one accessible palette,
one responsive stylesheet (readable at 1,400 px and on a phone; no fonts or files fetched)."""

from __future__ import annotations

__all__ = ["BAND_COLOURS", "BASE_CSS", "PALETTE", "PART_COLOURS", "colour"]

PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
"""Okabe and Ito's colour-blind-safe palette (the one docs/fairness.md's plots use)."""

PART_COLOURS: dict[str, str] = {"base": "#0072B2", "aging": "#E69F00", "fair_share": "#009E73"}
"""The parts of an effective priority, each always drawn in the same colour (and labelled)."""


BAND_COLOURS: tuple[str, ...] = ("#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999")
"""Priority bands' colours: the palette's colours that :data:`PART_COLOURS` does not use (plus
grey), so that a band never looks like a part of a priority."""


def colour(index: int) -> str:
    """The ``index``-th band colour, cycling."""
    return BAND_COLOURS[index % len(BAND_COLOURS)]


BASE_CSS = """
:root{--ink:#1a1a1a;--muted:#555;--line:#d0d0d0;--bg:#fff;--soft:#f4f5f7}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
background:var(--bg);margin:0 auto;padding:1rem 1.25rem 3rem;max-width:1400px;line-height:1.45;font-size:15px}
h1{font-size:1.55rem;margin:.4rem 0 .2rem}
h2{font-size:1.2rem;margin:2rem 0 .6rem;border-bottom:2px solid var(--line);
padding-bottom:.2rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
p.meta{color:var(--muted);margin:.2rem 0 1rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right}
.swatch{display:inline-block;width:.85em;height:.85em;border-radius:2px;vertical-align:-.1em;margin-right:.35em;
border:1px solid rgba(0,0,0,.35)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:.75rem}
.card{border:1px solid var(--line);border-radius:6px;padding:.6rem .75rem;background:var(--bg)}
.stats{grid-template-columns:repeat(auto-fill,minmax(9rem,1fr))}
.stat{font-size:1.6rem;font-weight:650;display:block}
.stat-label{color:var(--muted);font-size:.85rem}
.note{background:#fff8e1;border-left:4px solid #E69F00;padding:.4rem .7rem;margin:.6rem 0}
ul.headline{padding-left:1.2rem}ul.headline li{margin:.3rem 0}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto;display:block}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,36rem),1fr));gap:0 1.5rem}
.figures figure svg{width:100%}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.3rem}
@media (max-width:700px){
 body{padding:.6rem .7rem 2rem;font-size:14px}
 table.stack thead{display:none}
 table.stack tr{display:block;border:1px solid var(--line);border-radius:6px;margin:.5rem 0;
  padding:.2rem .4rem}
 table.stack td{display:flex;justify-content:space-between;gap:.8rem;border:0;padding:.15rem 0;
  text-align:right}
 table.stack td::before{content:attr(data-label);font-weight:600;color:var(--muted);text-align:left}
}
"""
"""The pages' stylesheet. Tables with class ``stack`` turn into one card per row under 700 px."""
