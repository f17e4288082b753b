"""Traces by name: the ones shipped in ``prioq/sim/data`` (:func:`load_bundled`), and
:func:`load_trace`, which tells a file's format from its content."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from importlib import resources as importlib_resources
from pathlib import Path

import attrs

from prioq import _validate
from prioq.errors import InvalidValue
from prioq.model import Node
from prioq.sim.loaders._alibaba import ALIBABA_ATTRIBUTION, load_alibaba
from prioq.sim.loaders._nodes import load_alibaba_nodes, load_nodes
from prioq.sim.loaders._plain import load_csv
from prioq.sim.loaders._reading import PathLike, TraceError, check_path, first_line
from prioq.sim.loaders._swf import PWA_ATTRIBUTION, load_swf
from prioq.sim.workload import Workload

__all__ = ["BUNDLED", "bundled_names", "load_bundled", "load_trace"]

BUNDLED: Mapping[str, tuple[str, str | None]] = {
    "alibaba-openb": ("openb_pod_list_default.csv.gz", "openb_node_list_gpu_node.csv.gz"),
    "alibaba-openb-gpuspec33": ("openb_pod_list_gpuspec33.csv.gz", "openb_node_list_gpu_node.csv.gz"),
    "alibaba-openb-multigpu50": ("openb_pod_list_multigpu50.csv.gz", "openb_node_list_gpu_node.csv.gz"),
    "nasa-ipsc": ("NASA-iPSC-1993-3.1-cln.swf.gz", None),
}
"""Traces shipped in ``prioq/sim/data`` (see its ATTRIBUTION.md): name -> (trace file, node file)."""


def bundled_names() -> tuple[str, ...]:
    """Names :func:`load_bundled` accepts."""
    return tuple(BUNDLED)


def load_bundled(name: str, **options: object) -> Workload:
    """Load a trace shipped with prioq by name (offline; no files outside the package).

    ``alibaba-openb`` (8,152 pods on 1,213 nodes with 6,212 GPUs),
    ``alibaba-openb-gpuspec33`` (same pods, ~33% of GPU pods restricted to GPU
    models), ``alibaba-openb-multigpu50`` (9,061 pods, no times), ``nasa-ipsc``
    (NASA Ames iPSC/860, 1993, SWF, 128 nodes). ``options`` go to the loader.
    """
    _validate.instance(name, str, "load_bundled: name")
    if name not in BUNDLED:
        raise InvalidValue(f"unknown bundled trace {name!r}; known: {', '.join(BUNDLED)}")
    trace_file, node_file = BUNDLED[name]
    data = importlib_resources.files("prioq.sim").joinpath("data")
    with ExitStack() as stack:
        trace = stack.enter_context(importlib_resources.as_file(data.joinpath(trace_file)))
        if node_file is None:
            workload = _call(load_swf, trace, fixed={"name": name}, options=options)
            return _attributed(workload, f"{PWA_ATTRIBUTION}; NASA Ames iPSC/860 log, 1993 (cleaned)")
        if "nodes" not in options:
            node_path = stack.enter_context(importlib_resources.as_file(data.joinpath(node_file)))
            options["nodes"] = load_alibaba_nodes(node_path)
        fixed = {"name": name, "source": ALIBABA_ATTRIBUTION}
        return _call(load_alibaba, trace, fixed=fixed, options=options)


def _attributed(workload: Workload, source: str) -> Workload:
    return attrs.evolve(workload, source=source)


def _call(
    loader: Callable[..., Workload],
    path: PathLike,
    *args: object,
    fixed: Mapping[str, object] = {},
    options: Mapping[str, object],
) -> Workload:
    """``loader(path, *args, **fixed, **options)``; an option the loader does not take is an
    :class:`~prioq.InvalidType` naming it, not a bare ``TypeError`` from the call."""
    params = inspect.signature(loader).parameters
    accepted = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY or p == "nodes"]
    for key in options:
        if key not in accepted or key in fixed:
            allowed = ", ".join(p for p in accepted if p not in fixed)
            message = f"{loader.__name__}: unknown option {key!r} for this trace (options: {allowed})"
            raise _validate.wrong_type(InvalidValue, message)
    return loader(path, *args, **fixed, **options)


def load_trace(
    trace: PathLike,
    nodes: PathLike | Iterable[Node] | None = None,
    **options: object,
) -> Workload:
    """Load a bundled trace by name, or a file in any supported format.

    The format is told from content: a ``;`` first line or a ``.swf``/``.swf.gz``
    name is SWF, a CSV header starting with ``name,cpu_milli`` is the Alibaba
    format, a header with ``id`` and ``submitted_at`` is the plain CSV.
    ``options`` go to the loader (e.g. ``never_ran="drop"``).
    """
    text = os.fspath(check_path(trace, "load_trace: trace"))
    if text in BUNDLED and not Path(text).exists():
        if nodes is not None:
            options["nodes"] = nodes
        return load_bundled(text, **options)
    first = first_line(trace)
    lowered = text.lower()
    if first.startswith(";") or lowered.endswith((".swf", ".swf.gz")):
        if isinstance(nodes, str | os.PathLike):
            nodes = load_nodes(nodes)
        return _call(load_swf, trace, fixed={"nodes": nodes}, options=options)
    columns = [c.strip() for c in first.split(",")]
    if columns[:2] == ["name", "cpu_milli"]:
        if isinstance(nodes, str | os.PathLike):
            nodes = load_nodes(nodes)
        return _call(load_alibaba, trace, nodes, fixed={}, options=options)
    if "id" in columns and "submitted_at" in columns:
        return _call(load_csv, trace, nodes, fixed={}, options=options)
    raise TraceError(
        text, 1, "header",
        "unknown trace format (expected SWF, an Alibaba pod list, or a CSV with id,submitted_at)",
    )

