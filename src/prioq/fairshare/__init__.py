"""Fair share among owners: weights, decayed usage accounting, and the owners' order.

* :mod:`prioq.fairshare._config` -- :class:`FairShare` (``Policy.fair_share``) and
  :class:`Weights` (``Policy.weights``), validated values;
* :mod:`prioq.fairshare._ranking` -- :class:`OwnerRanking` (ordering among equal priorities,
  open to user code), the :class:`UsageView` it reads, the built-in :class:`DominantShare`;
* :mod:`prioq.fairshare._ledger` -- :class:`Account` (one owner's decayed usage, exact in
  closed form between start/stop events) and :class:`Ledger` (every owner's account, shares
  and ranks);
* :mod:`prioq.fairshare._order` -- :class:`OwnerOrder` (owners walked in the order of their
  keys at ``now``, each re-keyed only when visited).

See ``docs/fairness.md``.
"""

from __future__ import annotations

from prioq.fairshare._config import DEFAULT_HALF_LIFE, FairShare, Weights
from prioq.fairshare._ledger import (
    FRAME_HALF_LIVES,
    RESOURCES,
    USAGE_PREFIX,
    Account,
    Ledger,
    Rank,
    decode,
    rate_of,
)
from prioq.fairshare._order import OwnerOrder
from prioq.fairshare._owners import levels
from prioq.fairshare._ranking import RANK_DEPTH, DominantShare, OwnerRanking, UsageView

__all__ = [
    "DEFAULT_HALF_LIFE",
    "FRAME_HALF_LIVES",
    "RANK_DEPTH",
    "RESOURCES",
    "USAGE_PREFIX",
    "Account",
    "DominantShare",
    "FairShare",
    "Ledger",
    "OwnerOrder",
    "OwnerRanking",
    "Rank",
    "UsageView",
    "Weights",
    "decode",
    "levels",
    "rate_of",
]
