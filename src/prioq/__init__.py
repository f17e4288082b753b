"""prioq: decide which waiting job runs next, where, and whom to preempt.

The public API is re-exported here; see ``docs/`` for concepts and examples.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prioq.errors import (
    DuplicateJob,
    InvalidCursor,
    InvalidJob,
    InvalidSpec,
    InvalidTime,
    NotLeader,
    PrioqError,
    StoreError,
    UnknownJob,
    UnknownNode,
)
from prioq.model import (
    Decision,
    Job,
    Labels,
    Node,
    PendingJob,
    Preempt,
    PriorityClass,
    Reason,
    Running,
    Start,
)
from prioq.resources import (
    GPU,
    Device,
    GPURequest,
    InsufficientResources,
    Misfit,
    Range,
    ResourceRequest,
    Resources,
    check,
    fit,
    why_not,
)

try:
    __version__ = version("prioq")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "GPU",
    "Decision",
    "Device",
    "DuplicateJob",
    "GPURequest",
    "InsufficientResources",
    "InvalidCursor",
    "InvalidJob",
    "InvalidSpec",
    "InvalidTime",
    "Job",
    "Labels",
    "Misfit",
    "Node",
    "NotLeader",
    "PendingJob",
    "Preempt",
    "PrioqError",
    "PriorityClass",
    "Range",
    "Reason",
    "ResourceRequest",
    "Resources",
    "Running",
    "Start",
    "StoreError",
    "UnknownJob",
    "UnknownNode",
    "__version__",
    "check",
    "fit",
    "why_not",
]
