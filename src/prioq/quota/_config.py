"""Quota configuration: amounts, one owner's :class:`Quota`, and :class:`Quotas` (docs/quotas.md).

Follows Kueue's ClusterQueue model: an owner (``Job.owner``) has a nominal quota
per resource, may belong to a cohort, and may borrow its cohort's idle nominal
quota within a borrowing limit while lending at most its lending limit. Every
field is validated on construction: :class:`~prioq.errors.InvalidPolicy` (a bad
spec inside a quota too, so that one ``except InvalidPolicy`` covers a policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs

from prioq._validate import choice, identifier, priority, wrong_type
from prioq.errors import InvalidPolicy, InvalidSpec
from prioq.resources import MILLI, ResourceRequest, format_bytes

__all__ = ["Amounts", "Quota", "Quotas", "quotas", "show", "usage_of"]

WithinOwner = Literal["never", "lower-priority", "lower-or-newer-equal"]
Reclaim = Literal["never", "lower-priority", "any"]
Borrow = Literal["never", "lower-priority"]
Strategy = Literal["LessThanOrEqualToFinalShare", "LessThanInitialShare"]
STRATEGIES: tuple[Strategy, ...] = ("LessThanOrEqualToFinalShare", "LessThanInitialShare")

# Canonical resource order; extras follow, by name. Units: milli-GPUs, milli-CPUs, bytes.
_ORDER = {"gpu": 0, "cpu": 1, "memory": 2, "disk": 3}


def _sort_key(name: str) -> tuple[int, str]:
    return (_ORDER.get(name, len(_ORDER)), name)


@attrs.frozen(slots=True)
class Amounts(Mapping[str, int]):
    """Exact amounts per resource name (``gpu`` and ``cpu`` in milli-units, ``memory`` and
    ``disk`` in bytes, extras in units): a quota, a limit, or a job's usage. Only the names
    present count; ``amounts["gpu"]`` of an absent name is 0 (``in`` tells them apart)."""

    items_: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, values: Mapping[str, int]) -> Amounts:
        return cls(tuple(sorted(values.items(), key=lambda kv: _sort_key(kv[0]))))

    @classmethod
    def parse(cls, spec: object, what: str) -> Amounts:
        """A spec string or mapping in the request grammar with exact values
        (``"gpu=16 cpu=256 memory=1TB"``); GPUs of any model (no filters), no ranges."""
        if isinstance(spec, Amounts):
            return spec
        if not isinstance(spec, str | Mapping):
            message = f"{what}: expected a spec string like 'gpu=16 cpu=256', got {spec!r}"
            raise wrong_type(InvalidPolicy, message)
        try:
            req = ResourceRequest.parse(spec)
        except InvalidSpec as exc:
            raise InvalidPolicy(f"{what}: {exc}") from None
        out: dict[str, int] = {}
        if req.gpu is not None:
            g = req.gpu
            if g.names or g.vendor or g.memory is not None or g.count.max != g.count.min:
                raise InvalidPolicy(f"{what}: a quota counts GPUs of any model: give 'gpu=N', got {spec!r}")
            out["gpu"] = g.milli
        ranges = [("cpu", req.cpu), ("memory", req.memory), ("disk", req.disk), *req.extras]
        minimum = req.minimum()
        for name, rng in ranges:
            if rng.min is None and rng.max is None:
                continue
            if rng.max != rng.min:
                raise InvalidPolicy(f"{what}: {name} must be one exact amount, not a range, got {spec!r}")
            out[name] = minimum.cpu_milli if name == "cpu" else (
                getattr(minimum, name) if name in ("memory", "disk") else minimum.extra(name)
            )
        if not out:
            raise InvalidPolicy(f"{what}: names no resource, got {spec!r}")
        return cls.of(out)

    def __getitem__(self, name: str) -> int:
        for key, amount in self.items_:
            if key == name:
                return amount
        return 0

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self.items_)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.items_)

    def __len__(self) -> int:
        return len(self.items_)

    def __str__(self) -> str:
        return " ".join(f"{name}={show(name, amount)}" for name, amount in self.items_) or "nothing"

    def __repr__(self) -> str:
        return f"Amounts({str(self)!r})"


def show(name: str, amount: int) -> str:
    """One amount as the spec grammar writes it (``gpu=1.5``, ``memory=64GB``)."""
    if name in ("gpu", "cpu"):
        whole, rest = divmod(amount, MILLI)
        return str(whole) if not rest else f"{amount / MILLI:g}"
    if name in ("memory", "disk"):
        return format_bytes(amount)
    return str(amount)


def usage_of(request: ResourceRequest, nodes: int) -> dict[str, int]:
    """What a job counts against quotas: its request's minimum on each of its ``nodes``
    (as Kueue counts requests, not what a node happens to give). O(resources)."""
    m = request.minimum()
    out = {"gpu": request.gpu_milli * nodes, "cpu": m.cpu_milli * nodes, "memory": m.memory * nodes,
           "disk": m.disk * nodes}
    for name, amount in m.extras:
        out[name] = amount * nodes
    return out


def _opt_amounts(value: object, what: str) -> Amounts | None:
    return None if value is None else Amounts.parse(value, what)


def _nominal(value: object) -> Amounts:
    return Amounts.parse(value, "quota nominal")


def _borrowing(value: object) -> Amounts | None:
    return _opt_amounts(value, "quota borrowing_limit")


def _lending(value: object) -> Amounts | None:
    return _opt_amounts(value, "quota lending_limit")


@attrs.frozen(slots=True, kw_only=True)
class Quota:
    """One owner's quota, Kueue's ClusterQueue: ``Quota(nominal="gpu=16", cohort="research")``.

    * ``nominal``: the resources the owner is guaranteed; a resource it does not name is
      not limited (and not shared).
    * ``cohort``: owners of one cohort lend each other their idle nominal quota.
    * ``borrowing_limit``: at most this much above nominal per named resource (others: no limit).
    * ``lending_limit``: at most this much of the nominal quota lent (others: all of it);
      the rest is kept for the owner alone.
    * ``within_owner``: may a job evict the owner's own lower jobs to fit its quota
      (Kueue's ``withinClusterQueue``); ``None`` follows ``Policy.preemption.policy``.
    * ``reclaim_within_cohort``: may a job evict jobs of cohort owners that borrow,
      to take back its nominal quota: ``"never"``, ``"lower-priority"``, ``"any"``.
    * ``borrow_within_cohort`` / ``max_priority_threshold``: may a job evict lower jobs of
      other owners while borrowing itself (Kueue's ``borrowWithinCohort``); only victims
      of priority below ``max_priority_threshold`` when one is given.
    """

    nominal: Amounts = attrs.field(converter=_nominal)
    cohort: str | None = None
    borrowing_limit: Amounts | None = attrs.field(default=None, converter=_borrowing)
    lending_limit: Amounts | None = attrs.field(default=None, converter=_lending)
    within_owner: WithinOwner | None = None
    reclaim_within_cohort: Reclaim = "never"
    borrow_within_cohort: Borrow = "never"
    max_priority_threshold: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.cohort is not None:
            identifier(self.cohort, "quota cohort (a non-empty string or None)", error=InvalidPolicy)
        limits_of = (("borrowing_limit", self.borrowing_limit), ("lending_limit", self.lending_limit))
        for what, limits in limits_of:
            if limits is None:
                continue
            if self.cohort is None:
                raise InvalidPolicy(f"quota {what}: only meaningful with a cohort")
            for name in limits:
                if name not in self.nominal:
                    raise InvalidPolicy(f"quota {what}: {name} has no nominal quota")
        if self.lending_limit is not None:
            for name, amount in self.lending_limit.items():
                if amount > self.nominal[name]:
                    raise InvalidPolicy(
                        f"quota lending_limit: {name}={show(name, amount)} exceeds its nominal "
                        f"{show(name, self.nominal[name])}"
                    )
        if self.within_owner is not None:
            choice(self.within_owner, ("never", "lower-priority", "lower-or-newer-equal"),
                   "quota within_owner", error=InvalidPolicy)
        choice(self.reclaim_within_cohort, ("never", "lower-priority", "any"), "quota reclaim_within_cohort",
               error=InvalidPolicy)
        choice(self.borrow_within_cohort, ("never", "lower-priority"), "quota borrow_within_cohort",
               error=InvalidPolicy)
        if self.max_priority_threshold is not None:
            priority(self.max_priority_threshold, "quota max_priority_threshold", error=InvalidPolicy)
            if self.borrow_within_cohort == "never":
                raise InvalidPolicy(
                    "quota max_priority_threshold: needs borrow_within_cohort='lower-priority'"
                )

    def guaranteed(self, name: str) -> int:
        """What the owner keeps for itself (nominal minus lending limit; 0 without one)."""
        if self.lending_limit is None or name not in self.lending_limit:
            return 0
        return self.nominal[name] - self.lending_limit[name]


def _quota(value: object, owner: str) -> Quota:
    if isinstance(value, Quota):
        return value
    if isinstance(value, str | Mapping | Amounts):
        return Quota(nominal=value)
    message = f"quota of {owner!r}: expected a spec string or a prioq.Quota, got {value!r}"
    raise wrong_type(InvalidPolicy, message)


def _owners(value: object) -> tuple[tuple[str, Quota], ...]:
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.items()
    elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise wrong_type(InvalidPolicy, f"policy quotas: expected a mapping owner -> quota, got {value!r}")
    else:
        items = list(value)
        for pair in items:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise wrong_type(InvalidPolicy, f"policy quotas: expected (owner, quota) pairs, got {pair!r}")
    out: dict[str, Quota] = {}
    for owner, quota in items:
        name = identifier(owner, "policy quotas owner", error=InvalidPolicy)
        if name in out:
            raise InvalidPolicy(f"policy quotas: owner {name!r} given twice")
        out[name] = _quota(quota, name)
    return tuple(sorted(out.items()))


def _strategies(value: object) -> tuple[Strategy, ...]:
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise wrong_type(InvalidPolicy, f"quotas fair_sharing strategies: expected a list, got {value!r}")
    out = tuple(choice(s, STRATEGIES, "quotas fair_sharing strategy", error=InvalidPolicy) for s in value)
    # Kueue's API validation: one or two strategies; a second one is LessThanInitialShare
    if not 1 <= len(out) <= 2 or (len(out) == 2 and out[1] != "LessThanInitialShare"):
        raise InvalidPolicy(
            f"quotas fair_sharing strategies: one strategy, or two with 'LessThanInitialShare' "
            f"second, got {list(out)!r}"
        )
    return out  # type: ignore[return-value]


@attrs.frozen(slots=True, kw_only=True)
class Quotas:
    """Every owner's quota, and how preemption arbitrates between cohort members.

    ``owners``: owner -> :class:`Quota` (or a spec string: a nominal quota without a cohort).
    ``fair_sharing``: Kueue's fair sharing -- reclaiming preempts from the cohort member
    with the highest dominant resource share first, as ``strategies`` allow (Kueue's
    ``preemptionStrategies``; default both). Weights are ``Policy.weights``.
    """

    owners: tuple[tuple[str, Quota], ...] = attrs.field(default=(), converter=_owners)
    fair_sharing: bool = False
    strategies: tuple[Strategy, ...] = attrs.field(default=STRATEGIES, converter=_strategies)
    _by_owner: dict[str, Quota] = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.fair_sharing, bool):
            message = f"quotas fair_sharing: expected a bool, got {self.fair_sharing!r}"
            raise wrong_type(InvalidPolicy, message)
        object.__setattr__(self, "_by_owner", dict(self.owners))

    def __bool__(self) -> bool:
        return bool(self.owners)

    def get(self, owner: str | None) -> Quota | None:
        """The quota of ``owner`` (``None``: not limited). O(1)."""
        return None if owner is None else self._by_owner.get(owner)

    def cohorts(self) -> dict[str, list[str]]:
        """Cohort -> its owners, sorted."""
        out: dict[str, list[str]] = {}
        for owner, quota in self.owners:
            if quota.cohort is not None:
                out.setdefault(quota.cohort, []).append(owner)
        return out


def quotas(value: object) -> Quotas:
    """``Policy.quotas`` from a :class:`Quotas` or a mapping owner -> quota."""
    if isinstance(value, Quotas):
        return value
    return Quotas(owners=value)
