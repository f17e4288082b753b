"""A fair-share group's reason recorded once for all of its owners' heads (docs/fairness.md#cost).

A mixin of :class:`~prioq.scheduler._state.State`. With fair share a request shape is
parked per owner; when a cycle learns mid-visit that its shape has no room left
(``Cycle._expand``), every owner's parked queue of that group not visited yet waits for
the same reason. Written out, that is one reason per queue: its head's (stamped with the
cycle) and the queue's shape reason naming that head, for the head's mates -- one peek and
a few dict writes per owner, most of a cycle that starts a few jobs of 10**5 pending.

A :class:`Settled` record says the same in O(1): the cycle's stamp, the reason and the
queues it does *not* speak for (``skip``: those the cycle visited, and those whose head had
a reason of this cycle already). :meth:`SettledState.reason_of` reads it exactly as the
written-out entries would read, taking each queue's head when asked. That head is the one
the cycle saw as long as no job joined or left the queue since and the order within a
queue does not move with time (no aging: the record is made only then). So before any job
joins or leaves a queue the record covers -- and before a cycle overwrites its shape
reason -- the record is **written out** for that queue (:meth:`SettledState.touch`): the
entries the cycle would have written, journaled, and the queue added to ``skip``. A queue
that appears after the record never was one it covers (``skip`` too). The reasons read by
``pending()``, ``explain()`` and ``status()`` are therefore those of writing them all out at
once, as tests/test_fairshare_settled.py checks against that path.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

import attrs

from prioq.model import Reason
from prioq.scheduler._journal import Journal

if TYPE_CHECKING:
    from prioq.scheduler._pending import Pending

__all__ = ["ReasonText", "Settled", "SettledState", "Stamped"]

ReasonText = tuple[Reason, str]
Stamped = tuple[int, ReasonText]
"""A reason with the number of the cycle that found it (the scheduler state's, defined here
for this mixin of it)."""


@attrs.define(slots=True, eq=False)
class Settled:
    """One cycle's reason for every parked queue of a group but those in ``skip``."""

    stamp: int
    reason: ReasonText
    skip: set[Hashable]


class SettledState(Journal):
    """Journaled group reasons for :class:`~prioq.scheduler._state.State`."""

    queue: Pending
    now: float | None
    reasons: dict[str, Stamped]
    shape_reasons: dict[Hashable, tuple[int, str, ReasonText]]
    settled: dict[Hashable, Settled]

    def settle_group(self, group: Hashable, record: Settled) -> None:
        """Record ``record`` for ``group``, replacing an older record (written out first for
        the queues the new one skips, which keep what the old one said). O(skipped)."""
        old = self.settled.get(group)
        if old is not None:
            for shape in record.skip:
                self._write_out(group, old, shape)
        self._set_item(self.settled, group, record)

    def touch(self, shape: Hashable | None) -> None:
        """A job is about to join or leave parked queue ``shape``, or a cycle to record its
        reason: write out what a group record says of it. O(1) amortized."""
        if shape is None or not self.settled:
            return
        group = self.queue.group_key(shape)
        record = None if group is None else self.settled.get(group)
        if record is not None and shape not in record.skip:
            self._write_out(group, record, shape)

    def _write_out(self, group: Hashable, record: Settled, shape: Hashable) -> None:
        if shape in record.skip:
            return
        queue = self.queue.parked.get(shape)
        if queue is not None and self.queue.group_key(shape) == group:
            head = self._head(shape)
            stamp = record.stamp
            own = self.reasons.get(head)
            if own is None or own[0] < stamp:
                self._set_item(self.reasons, head, (stamp, record.reason))
            rec = self.shape_reasons.get(shape)
            if rec is None or rec[0] < stamp:
                self._set_item(self.shape_reasons, shape, (stamp, head, record.reason))
        # a queue that appears only now was never one the record spoke for
        skip = record.skip
        self._do(lambda: skip.add(shape), lambda: skip.discard(shape))

    def _head(self, shape: Hashable) -> str:
        """The head of a parked queue: without aging the same at every ``now``. O(1) amortized."""
        queue = self.queue.parked[shape]
        last = queue.last_now
        now = last if last is not None else self.now
        assert now is not None
        return queue.peek(now).id

    def reason_of(self, job_id: str, shape: Hashable, group: Hashable | None,
                  best: Stamped | None) -> tuple[Stamped | None, tuple[int, str, ReasonText] | None]:
        """For parked ``job_id`` of ``shape``: its own reason and its shape's reason as they
        would be with ``group``'s record written out (``best``: the own reason stored). O(1)."""
        rec = self.shape_reasons.get(shape)
        record = None if group is None else self.settled.get(group)
        if record is None or shape in record.skip:
            return best, rec
        head = self._head(shape)
        stamp = record.stamp
        if head == job_id and (best is None or best[0] < stamp):
            best = (stamp, record.reason)
        if rec is None or rec[0] < stamp:
            rec = (stamp, head, record.reason)
        return best, rec

    def drop_stale_settled(self) -> None:
        """Forget the records of groups no job is parked in any more. O(records)."""
        groups = self.queue.groups
        for group in [g for g in self.settled if g not in groups]:
            self._del_item(self.settled, group)
