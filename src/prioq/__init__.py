"""prioq: decide which waiting job runs next, where, and whom to preempt.

The public API is re-exported here; see ``docs/`` for concepts and examples.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prioq.errors import (
    DependencyCycle,
    DuplicateJob,
    DuplicateNode,
    InvalidCursor,
    InvalidJob,
    InvalidNode,
    InvalidPolicy,
    InvalidSpec,
    InvalidTime,
    InvalidType,
    InvalidValue,
    NotLeader,
    PolicyMismatch,
    PrioqError,
    StoreError,
    UnknownGroup,
    UnknownJob,
    UnknownNode,
)
from prioq.events import Event, EventKind, EventPage
from prioq.fairshare import DominantShare, FairShare, OwnerRanking, Weights
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
    Stop,
)
from prioq.ordering import RUNS_LIST, SCHEDULING, Order, Page, paginate
from prioq.placement import NodeIndex, NodeState, PlacementPolicy
from prioq.placement.fragmentation import FragmentationAware
from prioq.policy import Policy
from prioq.preemption import Preemption, PreemptionRule
from prioq.queue import PriorityQueue
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging
from prioq.quota import Quota, Quotas
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
from prioq.scheduler import NodeChanges, Scheduler, Terminating
from prioq.selection import LabelRequirement, Selector, Taint, Toleration
from prioq.status import Demand, JobStatus, NodeClassFit, PriorityParts, Reservation
from prioq.storage import MemoryStore, QueryStore, Store, open_store

try:
    __version__ = version("prioq")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "GPU",
    "RUNS_LIST",
    "SCHEDULING",
    "AgingPolicy",
    "Decision",
    "Demand",
    "DependencyCycle",
    "Device",
    "DominantShare",
    "DuplicateJob",
    "DuplicateNode",
    "Event",
    "EventKind",
    "EventPage",
    "FairShare",
    "FragmentationAware",
    "GPURequest",
    "InsufficientResources",
    "InvalidCursor",
    "InvalidJob",
    "InvalidNode",
    "InvalidPolicy",
    "InvalidSpec",
    "InvalidTime",
    "InvalidType",
    "InvalidValue",
    "Job",
    "JobStatus",
    "LabelRequirement",
    "Labels",
    "LinearAging",
    "MemoryStore",
    "Misfit",
    "NoAging",
    "Node",
    "NodeChanges",
    "NodeClassFit",
    "NodeIndex",
    "NodeState",
    "NotLeader",
    "Order",
    "OwnerRanking",
    "Page",
    "PendingJob",
    "PlacementPolicy",
    "Policy",
    "PolicyMismatch",
    "Preempt",
    "Preemption",
    "PreemptionRule",
    "PrioqError",
    "PriorityClass",
    "PriorityParts",
    "PriorityQueue",
    "QueryStore",
    "Quota",
    "Quotas",
    "Range",
    "Reason",
    "Reservation",
    "ResourceRequest",
    "Resources",
    "Running",
    "Scheduler",
    "Selector",
    "Start",
    "StepAging",
    "Stop",
    "Store",
    "StoreError",
    "Taint",
    "Terminating",
    "Toleration",
    "UnknownGroup",
    "UnknownJob",
    "UnknownNode",
    "Weights",
    "__version__",
    "check",
    "fit",
    "open_store",
    "paginate",
    "why_not",
]
