"""Placement: where a job runs.

* :mod:`prioq.placement._index` -- :class:`NodeIndex`, nodes filed by free capacity;
* :mod:`prioq.placement._policies` -- the :class:`PlacementPolicy` protocol and the
  built-in first-fit, best-fit and spread policies;
* :mod:`prioq.placement.fragmentation` -- Fragmentation Gradient Descent (FGD);
* :mod:`prioq.placement._window` -- FGD's learnt workload: a window of recent
  arrivals and its persisted text.

See ``docs/scheduler.md#placement``.
"""

from __future__ import annotations

from prioq.placement._index import Allow, NodeIndex, NodeState, always
from prioq.placement._policies import (
    PLACEMENTS,
    BestFit,
    FirstFit,
    PlacementPolicy,
    Spread,
    place_with_room,
    placement_policy,
    still_no_room,
)
from prioq.placement.fragmentation import FragmentationAware

__all__ = [
    "PLACEMENTS",
    "Allow",
    "BestFit",
    "FirstFit",
    "FragmentationAware",
    "NodeIndex",
    "NodeState",
    "PlacementPolicy",
    "Spread",
    "always",
    "place_with_room",
    "placement_policy",
    "still_no_room",
]
