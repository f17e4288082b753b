"""prioq.sim: replay cluster traces against the scheduler and measure the outcome.

Runs: :func:`simulate` replays a workload under one :class:`Strategy` (or
:class:`prioq.Policy`), :func:`compare` under several; :func:`strategy` builds
one from a name such as ``priority+aging+preemption``; :func:`write_report`
writes the HTML report (needs the ``report`` extra).

Data side: :mod:`prioq.sim.workload` (the :class:`Workload` a run replays),
:mod:`prioq.sim.loaders` (Alibaba GPU trace v2023, SWF, plain CSV, bundled
traces), :mod:`prioq.sim.synthetic` (seeded generators) and
:mod:`prioq.sim.metrics` (per-job records and a timeline to summary metrics).
"""

from __future__ import annotations

from prioq.sim.engine import NodeEvent, SimResult, Strategy, compare, simulate
from prioq.sim.loaders import (
    BUNDLED,
    DEFAULT_QOS_PRIORITIES,
    TraceError,
    bundled_names,
    load_alibaba,
    load_alibaba_nodes,
    load_bundled,
    load_csv,
    load_nodes,
    load_nodes_csv,
    load_swf,
    load_trace,
)
from prioq.sim.metrics import (
    JobRecord,
    JobStats,
    Metrics,
    Sample,
    Timeline,
    compute_metrics,
    format_table,
    fragmented_gpu_milli,
    jain_index,
)
from prioq.sim.report import render_report, write_report
from prioq.sim.strategies import DEFAULT_COMPARISON, strategy
from prioq.sim.synthetic import NodeType, synthetic_cluster, synthetic_workload
from prioq.sim.workload import Workload, class_of, job_gpu_milli

__all__ = [
    "BUNDLED",
    "DEFAULT_COMPARISON",
    "DEFAULT_QOS_PRIORITIES",
    "JobRecord",
    "JobStats",
    "Metrics",
    "NodeEvent",
    "NodeType",
    "Sample",
    "SimResult",
    "Strategy",
    "Timeline",
    "TraceError",
    "Workload",
    "bundled_names",
    "class_of",
    "compare",
    "compute_metrics",
    "format_table",
    "fragmented_gpu_milli",
    "jain_index",
    "job_gpu_milli",
    "load_alibaba",
    "load_alibaba_nodes",
    "load_bundled",
    "load_csv",
    "load_nodes",
    "load_nodes_csv",
    "load_swf",
    "load_trace",
    "render_report",
    "simulate",
    "strategy",
    "synthetic_cluster",
    "synthetic_workload",
    "write_report",
]
