"""What a stateful placement policy learns, as part of the scheduler's state (FGD's window).

A mixin of :class:`~prioq.scheduler._state.State`: the same object, its methods in a
module of their own (the state module stays readable). See the comment below.
"""

from __future__ import annotations

from collections.abc import Sequence

from prioq.errors import PrioqError, StoreError
from prioq.policy import Policy
from prioq.resources import ResourceRequest
from prioq.storage import Snapshot

__all__ = ["PlacementState"]


class PlacementState:
    """The placement policy's learnt state: kept, persisted and undone with the scheduler's."""

    policy: Policy

    # ------------------------------------------------------------------ placement policy state
    # FGD learns its workload from arrivals; that window is state, persisted with the call that
    # changed it so that a reopened scheduler places exactly as the live one. A policy with state
    # has the optional methods ``state() -> str | None`` and ``restore(text)``; one without them
    # is shown arrivals after the commit, as before (it has nothing to persist or undo).

    def _init_placement_state(self) -> None:
        placement = self.policy.placement
        self._placement_stateful = callable(getattr(placement, "state", None)) and callable(
            getattr(placement, "restore", None)
        )
        self.placement_saved: str | None = None
        """The placement state text the store holds (``None``: none yet)."""
        self._placement_before: str | None = None
        self._arrivals_after: list[ResourceRequest] = []

    def _placement_state(self) -> str | None:
        if not self._placement_stateful:
            return None
        text: str | None = self.policy.placement.state()  # type: ignore[attr-defined]
        return text

    def _load_placement_state(self, snap: Snapshot) -> None:
        """Restore the stored placement state; a store without one (written before schema 3, or
        by a policy without state) has the held jobs shown as arrivals, in arrival order."""
        if snap.placement is not None and self._placement_stateful:
            try:
                self.policy.placement.restore(snap.placement)  # type: ignore[attr-defined]
            except PrioqError as exc:
                raise StoreError(f"cannot restore the stored placement state: {exc}") from exc
            self.placement_saved = snap.placement
            return
        for jrow in snap.jobs:
            self.policy.placement.observe(jrow.job.request)

    def arrive(self, requests: Sequence[ResourceRequest]) -> None:
        """Jobs were submitted: the placement policy learns from their requests. A stateful
        policy learns inside the call (its state is committed with it, undone on failure);
        any other after the commit."""
        if self._placement_stateful:
            for request in requests:
                self.policy.placement.observe(request)
        else:
            self._arrivals_after.extend(requests)

    def _begin_placement_state(self) -> None:
        self._placement_before = self._placement_state()  # cached text: O(1) when unchanged
        self._arrivals_after = []

    def _changed_placement_state(self) -> str | None:
        """The state text to commit, or ``None`` when the store already holds it."""
        text = self._placement_state()
        if text is None or text is self.placement_saved or text == self.placement_saved:
            return None
        return text

    def _committed_placement_state(self, text: str | None) -> None:
        if text is not None:
            self.placement_saved = text

    def _rollback_placement_state(self) -> None:
        self._arrivals_after = []
        before = self._placement_before
        if before is not None:
            now = self._placement_state()
            if now is not before and now != before:
                self.policy.placement.restore(before)  # type: ignore[attr-defined]

    def _after_placement_commit(self) -> None:
        arrivals, self._arrivals_after = self._arrivals_after, []
        for request in arrivals:
            self.policy.placement.observe(request)
