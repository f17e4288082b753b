"""Trace loaders: the Alibaba GPU trace v2023, SWF, a plain CSV format, bundled traces.

Every loader returns a :class:`~prioq.sim.workload.Workload` whose jobs are
sorted by submission time (ties keep file order) and whose ``duration`` is the
true runtime. Files may be gzip-compressed (detected by content, not name).
Malformed input raises :class:`TraceError` naming the file, the line (1 is the
header of a CSV file) and the field. The rules each loader applies (QoS to
priority, which times make a duration, how an SWF header becomes a cluster)
are documented on the loader and in ``docs/simulation.md``. Bad arguments (not
the file's content) raise :class:`~prioq.InvalidValue`, wrong types its ``...Type`` variant.

One module per format: ``_alibaba`` (pod lists), ``_swf``, ``_plain`` (the job
CSV), ``_nodes`` (node lists), ``_bundled`` (shipped traces and format
detection), over ``_reading`` (gzip, CSV rows, located errors).
"""

from __future__ import annotations

from prioq.sim.loaders._alibaba import ALIBABA_ATTRIBUTION, DEFAULT_QOS_PRIORITIES, load_alibaba
from prioq.sim.loaders._bundled import BUNDLED, bundled_names, load_bundled, load_trace
from prioq.sim.loaders._nodes import CSV_NODE_COLUMNS, load_alibaba_nodes, load_nodes, load_nodes_csv
from prioq.sim.loaders._plain import CSV_JOB_COLUMNS, load_csv
from prioq.sim.loaders._reading import MIN_DURATION, TraceError
from prioq.sim.loaders._swf import PWA_ATTRIBUTION, SWF_FIELDS, load_swf

__all__ = [
    "ALIBABA_ATTRIBUTION",
    "BUNDLED",
    "CSV_JOB_COLUMNS",
    "CSV_NODE_COLUMNS",
    "DEFAULT_QOS_PRIORITIES",
    "MIN_DURATION",
    "PWA_ATTRIBUTION",
    "SWF_FIELDS",
    "TraceError",
    "bundled_names",
    "load_alibaba",
    "load_alibaba_nodes",
    "load_bundled",
    "load_csv",
    "load_nodes",
    "load_nodes_csv",
    "load_swf",
    "load_trace",
]
