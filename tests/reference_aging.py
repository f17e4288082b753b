"""The docs/queue.md#aging reference for tests: aging boosts and effective priorities in exact
Fraction arithmetic, written independently of prioq.queue.aging so tests compare two implementations."""

from __future__ import annotations

import math
from fractions import Fraction

from prioq.model import Job
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging


def reference_boost(policy: AgingPolicy, wait: Fraction) -> Fraction:
    """``min(rate * wait, max_boost)`` or ``min(floor(wait / interval) * step, max_boost)``, exactly;
    for a policy that is none of the built-ins, its own ``exact_boost``."""
    if isinstance(policy, LinearAging):
        b = Fraction(policy.rate) * wait
        return b if math.isinf(policy.max_boost) else min(b, Fraction(policy.max_boost))
    if isinstance(policy, StepAging):
        steps = math.floor(wait / Fraction(policy.interval))
        return min(steps * Fraction(policy.step), Fraction(policy.max_boost))
    if isinstance(policy, NoAging):
        return Fraction(0)
    # A user-defined policy (tests/test_queue_custom_aging.py): its exact_boost is its definition.
    return policy.exact_boost(wait)


def reference_eff(policy: AgingPolicy, job: Job, now: float) -> Fraction:
    """``priority + boost(max(0, now - submitted_at))`` over the exact values of the floats."""
    wait = max(Fraction(0), Fraction(now) - Fraction(job.submitted_at))
    return job.priority + reference_boost(policy, wait)
