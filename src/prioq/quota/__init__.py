"""Quotas: per-owner limits on concurrent resources, grouped in cohorts (docs/quotas.md).

Kueue's model on prioq's owners: * :mod:`prioq.quota._config` -- :class:`Quota`
(nominal quota, cohort, borrowing and lending limits, preemption rules) and
:class:`Quotas` (every owner's, and fair sharing); * :mod:`prioq.quota._ledger`
-- :class:`Ledger`, usage kept incrementally with Kueue's availability rules;
* :mod:`prioq.quota._targets` -- which jobs to evict so that a job fits its
quota (Kueue's preemption).
"""

from __future__ import annotations

from prioq.quota._config import Amounts, Quota, Quotas, quotas, show, usage_of
from prioq.quota._ledger import Ledger, QuotaShape
from prioq.quota._targets import Contender, eligible, targets

__all__ = [
    "Amounts",
    "Contender",
    "Ledger",
    "Quota",
    "QuotaShape",
    "Quotas",
    "eligible",
    "quotas",
    "show",
    "targets",
    "usage_of",
]
