"""Node lists: the Alibaba openb format (``sn,cpu_milli,...``) and the plain CSV (``id,capacity``)."""

from __future__ import annotations

from prioq.errors import InvalidSpec, InvalidValue
from prioq.model import Node
from prioq.resources import GPU, Device, Resources
from prioq.sim.loaders._reading import MIB, PathLike, check_path, csv_rows, first_line, labels_of, unique

__all__ = ["CSV_NODE_COLUMNS", "load_alibaba_nodes", "load_nodes", "load_nodes_csv"]

ALIBABA_NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")

CSV_NODE_COLUMNS = ("id", "capacity")
"""Columns of the plain node CSV (both required); ``label.<key>`` adds labels."""


def load_alibaba_nodes(path: PathLike) -> tuple[Node, ...]:
    """An Alibaba node list (``sn,cpu_milli,memory_mib,gpu,model``) as nodes. O(n).

    Each node has ``gpu`` devices of ``GPU(model)`` (no per-device memory: the
    trace names models, and ``gpu_spec`` filters by name) and the label
    ``model``. A node with ``gpu`` 0 may leave ``model`` empty.
    """
    _, rows = csv_rows(check_path(path, "load_alibaba_nodes: path"), ALIBABA_NODE_COLUMNS)
    models: dict[str, GPU] = {}
    nodes: list[Node] = []
    seen: set[str] = set()
    for row in rows:
        sn = row.text("sn")
        if not sn:
            raise row.error("sn", "missing node name")
        unique(row, "sn", sn, seen)
        cpu_milli = row.integer("cpu_milli")
        memory = row.integer("memory_mib") * MIB
        count = row.integer("gpu")
        model = row.optional_text("model")
        if count and model is None:
            raise row.error("model", f"missing GPU model for {count} GPUs")
        try:
            gpu = models.setdefault(model, GPU(model)) if model else None
            devices = tuple(Device(i, gpu) for i in range(count)) if gpu else ()
            node = Node(
                id=sn,
                capacity=Resources(cpu_milli=cpu_milli, memory=memory, gpus=devices),
                labels={"model": model} if model else {},
            )
        except InvalidValue as exc:  # InvalidSpec, InvalidNode: the row's values
            raise row.error("row", str(exc)) from exc
        nodes.append(node)
    return tuple(nodes)


def load_nodes_csv(path: PathLike) -> tuple[Node, ...]:
    """Load nodes from the plain node CSV: ``id,capacity`` (a capacity spec) and ``label.*``. O(n)."""
    path = check_path(path, "load_nodes_csv: path")
    header, rows = csv_rows(path, CSV_NODE_COLUMNS, known=CSV_NODE_COLUMNS)
    nodes: list[Node] = []
    seen: set[str] = set()
    for row in rows:
        node_id = row.text("id")
        if not node_id:
            raise row.error("id", "missing node id")
        unique(row, "id", node_id, seen)
        try:
            capacity = Resources.parse(row.text("capacity"))
        except InvalidSpec as exc:
            raise row.error("capacity", str(exc)) from exc
        try:
            nodes.append(Node(id=node_id, capacity=capacity, labels=labels_of(row, header)))
        except InvalidValue as exc:  # InvalidSpec, InvalidNode: the row's values
            raise row.error("row", str(exc)) from exc
    return tuple(nodes)


def load_nodes(path: PathLike) -> tuple[Node, ...]:
    """Load a node list in either format, told apart by its header (``sn,...`` is Alibaba's)."""
    first = first_line(check_path(path, "load_nodes: path"))
    if first.split(",")[0].strip() == "sn":
        return load_alibaba_nodes(path)
    return load_nodes_csv(path)

