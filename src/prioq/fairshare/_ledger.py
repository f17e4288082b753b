"""Usage accounting and the owners' places in line (docs/fairness.md).

Per owner path (``"org"``, ``"org/team"``...) an :class:`Account` keeps the decayed usage
``U`` of each resource at the instant ``at`` of its last event and the rate ``R`` it holds
since (exact ints: milli-GPUs, milli-CPUs, bytes). Between events the usage follows
``dU/dt = R - U ln2 / h``, so at an event at ``t`` it is, exactly in closed form::

    U(t) = U(at) * 2**(-(t - at)/h) + R * h/ln2 * (1 - 2**(-(t - at)/h))

and only then does ``R`` change. No sampling: the scheduler's own start and stop
events drive it. A :class:`Ledger` holds the accounts; the scheduler's state journals
and persists each account it changes (``usage/<owner>`` in the store's extras).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from prioq.errors import StoreError
from prioq.fairshare._config import FairShare, Weights
from prioq.fairshare._owners import levels
from prioq.fairshare._ranking import DominantShare, user_rank

if TYPE_CHECKING:
    from prioq.fairshare._order import OwnerOrder
from prioq.resources import Resources

__all__ = ["FRAME_HALF_LIVES", "RESOURCES", "USAGE_PREFIX", "Account", "Ledger", "Rank", "decode", "rate_of"]

RESOURCES = ("gpu", "cpu", "memory")
"""The resources accounted, in the order of :attr:`Account.usage`: milli-GPU shares,
milli-CPUs and bytes of memory (the resource model's own units)."""
USAGE_PREFIX = "usage/"
"""Store extras key prefix: ``usage/<owner path>`` holds that owner's account."""

Rate = tuple[int, int, int]
Rank = tuple[float, ...]
"""An owner's place among owners, as the scheduling keys hold it: what the ranking in force
answers (the built-in :class:`~prioq.fairshare.DominantShare`: per level ``0, share /
weight``, or ``1, share`` for weight 0, shares :meth:`Ledger.normalised`: compare only ranks
taken at one ``now``; a user ranking's numbers as floats,
:func:`~prioq.fairshare._ranking.user_rank`)."""
FRAME_HALF_LIVES = 64
"""Normalised shares are taken relative to a frame start ``T0``, a multiple of this many
half-lives (the factor ``2**((t - T0)/h)`` stays below ``2**64``: no overflow, full precision)."""
_LN2 = math.log(2)
_NEGLIGIBLE = 2.0**-960
_ZERO: Rate = (0, 0, 0)


def rate_of(allocation: Iterable[Resources]) -> Rate:
    """What an allocation holds of each accounted resource, over a gang's members. O(gang)."""
    gpu = cpu = mem = 0
    for a in allocation:
        gpu += a.gpu_milli
        cpu += a.cpu_milli
        mem += a.memory
    return gpu, cpu, mem


@attrs.frozen(slots=True)
class Account:
    """One owner path's usage: ``usage`` at instant ``at``, accrued since at ``rate``."""

    at: float
    usage: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rate: Rate = _ZERO

    def at_time(self, now: float, half_life: float) -> tuple[float, float, float]:
        """The decayed usage at ``now`` (>= ``at``), in closed form. O(1)."""
        dt = now - self.at
        if dt <= 0:
            return self.usage
        x = dt / half_life
        keep = math.exp2(-x)
        grow = -math.expm1(-x * _LN2) * (half_life / _LN2)  # (1 - keep) * h/ln2, precisely
        u, r = self.usage, self.rate
        return (u[0] * keep + r[0] * grow, u[1] * keep + r[1] * grow, u[2] * keep + r[2] * grow)

    def text(self) -> str:
        """The stored form: ``at`` and the usage as exact hex floats (the rate is the running
        jobs' allocations, rebuilt at load)."""
        return " ".join(float.hex(x) for x in (self.at, *self.usage))


def _up(x: float) -> float:
    """The next float above a positive ``x``; 0 stays 0 (a resource never used)."""
    return math.nextafter(x, math.inf) if x > 0 else x


def decode(text: str, rate: Rate) -> Account:
    """The account stored as ``text`` (see :meth:`Account.text`); :class:`StoreError` if malformed."""
    try:
        at, *usage = (float.fromhex(part) for part in text.split())
    except ValueError:
        raise StoreError(f"malformed usage account {text!r}") from None
    if len(usage) != 3 or not all(math.isfinite(x) and x >= 0 for x in usage) or not math.isfinite(at):
        raise StoreError(f"malformed usage account {text!r}")
    return Account(at, (usage[0], usage[1], usage[2]), rate)


class Ledger:
    """The accounts of every owner path, and the shares and ranks the scheduling order reads;
    the :class:`~prioq.fairshare.UsageView` an :class:`~prioq.fairshare.OwnerRanking` reads.

    ``totals()`` gives the cluster's capacity per accounted resource; it is cached until
    :meth:`forget`. Ranks are cached per owner for one ``now`` until an account under its
    top level changes. Changing an account is the caller's business (the scheduler journals
    it): :meth:`charges` only computes the new accounts.
    """

    def __init__(self, fair: FairShare, weights: Weights, totals: Callable[[], Rate]) -> None:
        self.fair = fair
        self.weights = weights
        self.accounts: dict[str, Account] = {}
        self._totals = totals
        self._capacity: Rate | None = None
        self._ranks: dict[str | None, Rank] = {}
        self._terms: dict[str | None, float] = {}
        # top-level path -> the owners under it whose rank (and term) is cached: an account
        # change drops only theirs (a cycle's starts must not re-rank every owner)
        self._cached_under: dict[str, list[str | None]] = {}
        self._rank_now: float | None = None
        self._mean_life = fair.mean_life
        self._span = FRAME_HALF_LIVES * fair.half_life
        self._watcher: OwnerOrder | None = None
        ranking = fair.order
        self._builtin = ranking if type(ranking) is DominantShare else None
        self._ranking = ranking
        # Whether a rank computed once stays a lower bound of the same owner's rank later (in
        # a frame, between account changes): true of the built-in's normalised shares, not
        # known of a user ranking (the owners' index then re-keys every owner at each new now)
        self.bounded = self._builtin is not None

    def watch(self, order: OwnerOrder) -> None:
        """``order`` (the pending set's index of owners) hears of every change that may lower
        an order key: :meth:`forget`, and with ``basis="allocation"`` :meth:`changed`. The
        latest pending set's index replaces any earlier one. O(1)."""
        self._watcher = order

    def forget(self) -> None:
        """Drop the cached capacity and ranks (nodes changed, a rollback). O(owners held by
        the watching index)."""
        self._capacity = None
        self._ranks = {}
        self._terms = {}
        self._cached_under = {}
        if self._watcher is not None:
            self._watcher.invalidate()

    def changed(self, owner: str | None = None) -> None:
        """Drop the cached ranks of the owners under ``owner``'s top level (their accounts
        are the only ones that changed). O(k) for those k owners; with ``basis="allocation"``
        or a user ranking O(k log n) to re-key them in the watching index too."""
        for peer in self._cached_under.pop(levels(owner)[0], ()):
            self._ranks.pop(peer, None)
            self._terms.pop(peer, None)
        if self._watcher is not None:
            if self.fair.basis == "allocation" or not self.bounded:
                self._watcher.moved(owner)
            else:
                self._watcher.stale()

    def charges(self, owner: str | None, delta: Rate, sign: int, now: float) -> list[tuple[str, Account]]:
        """The new account of each level of ``owner`` after its rate changes by ``sign * delta``
        at ``now``. O(depth)."""
        out = []
        h = self.fair.half_life
        usage = self.fair.basis == "usage"
        for path in levels(owner):
            acc = self.accounts.get(path) or Account(now)
            r = acc.rate
            rate = (r[0] + sign * delta[0], r[1] + sign * delta[1], r[2] + sign * delta[2])
            new = Account(now, acc.at_time(now, h), rate)
            if usage:
                # The event moves no usage, so it must not lower the normalised share a cycle
                # orders by (its keys only grow within a cycle): rebasing the account at now
                # can round it an ulp below; nudge the usage up by ulps until it is not.
                before = self._normalised(acc, now)
                for _ in range(16):
                    after = self._normalised(new, now)
                    if after >= before:
                        break
                    grow = before / after if after > 0 else 1.0  # a few ulps above 1
                    u = new.usage
                    new = Account(now, (_up(u[0] * grow), _up(u[1] * grow), _up(u[2] * grow)), rate)
            out.append((path, new))
        return out

    def load(self, extras: Mapping[str, str], runs: Iterable[tuple[str | None, Sequence[Resources]]],
             now: float | None) -> None:
        """Fill the accounts from the store: stored usage, rates rebuilt from running jobs. O(n)."""
        rates: dict[str, Rate] = {}
        for owner, allocation in runs:
            d = rate_of(allocation)
            for path in levels(owner):
                r = rates.get(path, _ZERO)
                rates[path] = (r[0] + d[0], r[1] + d[1], r[2] + d[2])
        for key, text in extras.items():
            if key.startswith(USAGE_PREFIX):
                path = key[len(USAGE_PREFIX):]
                self.accounts[path] = decode(text, rates.pop(path, _ZERO))
        for path, rate in rates.items():  # running without a stored account: accrues from now
            self.accounts[path] = Account(0.0 if now is None else now, rate=rate)
        self.forget()

    # ------------------------------------------------------------------ reads

    def capacity(self) -> Rate:
        """The cluster's total of each accounted resource. O(1), cached until :meth:`forget`."""
        cap = self._capacity
        if cap is None:
            cap = self._capacity = self._totals()
        return cap

    def usage(self, path: str, now: float) -> tuple[float, float, float]:
        """The path's decayed resource-seconds at ``now`` (milli-GPU, milli-CPU and byte
        seconds; ``(0, 0, 0)`` for a path never charged). O(1)."""
        acc = self.accounts.get(path)
        return (0.0, 0.0, 0.0) if acc is None else acc.at_time(now, self.fair.half_life)

    def running(self, path: str) -> Rate:
        """What the path's running jobs hold now (milli-GPUs, milli-CPUs, bytes). O(1)."""
        acc = self.accounts.get(path)
        return _ZERO if acc is None else acc.rate

    def weight(self, path: str) -> float:
        """``Policy.weights`` of the path (1 when not listed). O(1)."""
        return self.weights.of(path)

    def share(self, path: str, now: float) -> float:
        """The path's dominant share, unweighted: its largest fraction over the resources of
        what the cluster could have given it (decayed usage) or gives now (allocation). O(1)."""
        acc = self.accounts.get(path)
        if acc is None:
            return 0.0
        cap = self.capacity()
        if self.fair.basis == "allocation":
            amounts: Sequence[float] = acc.rate
            scale = 1.0
        else:
            amounts = acc.at_time(now, self.fair.half_life)
            scale = self._mean_life
        return max((a / (c * scale) for a, c in zip(amounts, cap, strict=True) if c > 0), default=0.0)

    def frame(self, now: float) -> float:
        """The start ``T0`` of the frame of normalised shares at ``now``: the multiple of
        :data:`FRAME_HALF_LIVES` half-lives at or below it (0 with ``basis="allocation"``).
        O(1)."""
        if self.fair.basis == "allocation":
            return 0.0
        span = self._span
        return math.floor(now / span) * span

    def normalised(self, path: str, now: float) -> float:
        """:meth:`share` at ``now`` times ``2**((now - T0)/h)`` (``T0``: :meth:`frame`): the
        same order among owners at one ``now``, and for an owner without running jobs a
        constant (its decayed usage at its last event ``at``, times ``2**((at - T0)/h)``).
        With running jobs it grows (at the rate, times ``2**((t - T0)/h)``); it never
        decreases. With ``basis="allocation"``: the share itself. O(1).
        """
        if self.fair.basis == "allocation":
            return self.share(path, now)
        acc = self.accounts.get(path)
        return 0.0 if acc is None else self._normalised(acc, now)

    def _normalised(self, acc: Account, now: float) -> float:
        cap = self.capacity()
        r = acc.rate
        if r[0] or r[1] or r[2]:
            ref, amounts = now, acc.at_time(now, self.fair.half_life)
        else:
            ref, amounts = acc.at, acc.usage  # idle: the same value at every now (of the frame)
        scale = self._mean_life
        share = max((a / (c * scale) for a, c in zip(amounts, cap, strict=True) if c > 0), default=0.0)
        if not share:
            return 0.0
        value = share * math.exp2((ref - self.frame(now)) / self.fair.half_life)
        # Below 2**-960 a share counts as none: usage that old underflows to 0 when an event
        # rebases the account, and the share must not fall at an event (see charges)
        return value if value >= _NEGLIGIBLE else 0.0

    def order_key(self, owner: str | None, now: float) -> Rank:
        """What orders owners in the walks of the scheduling cycle: the :meth:`rank`
        (``mode="order"``), or the rank's part of the owner's own path, as a one-level rank
        (``mode="term"``: the lower, the higher the term). O(depth)."""
        if self.fair.mode == "order":
            return self.rank(owner, now)
        path = levels(owner)[-1]
        w = self.weights.of(path)
        s = self.normalised(path, now)
        return (0.0, s / w) if w > 0 else (1.0, s)

    def weighted(self, path: str, now: float) -> float:
        """share / weight (``inf`` for weight 0 with any usage, 0 without). O(1)."""
        s = self.share(path, now)
        w = self.weights.of(path)
        return s / w if w > 0 else (math.inf if s > 0 else 0.0)

    def rank(self, owner: str | None, now: float) -> Rank:
        """The owner's :data:`Rank` at ``now`` (``FairShare.order``'s; compare only ranks taken
        at one ``now``). O(depth) with the built-in, cached until an account changes;
        :class:`~prioq.errors.InvalidPolicy` if a user ranking answers something else than
        numbers."""
        if now != self._rank_now:
            self._ranks = {}
            self._terms = {}
            self._cached_under = {}
            self._rank_now = now
        rank = self._ranks.get(owner)
        if rank is None:
            builtin = self._builtin
            if builtin is not None:
                rank = builtin.rank(owner, now, self)  # trusted: no check on the hot path
            else:
                rank = user_rank(self._ranking, owner, now, self)
            # cached only once computed: a user ranking that raises leaves no entry behind
            self._cached_under.setdefault(levels(owner)[0], []).append(owner)
            self._ranks[owner] = rank
        return rank

    def term(self, owner: str | None, now: float) -> float:
        """``mode="term"``'s addition to the effective priority: ``term_weight * 2**(-s)`` where
        ``s`` is the owner's own weighted share (its last level); 0 for weight 0. In
        ``[0, term_weight]``. O(depth)."""
        self.rank(owner, now)  # the caches are for this now and these accounts
        term = self._terms.get(owner)
        if term is None:
            path = levels(owner)[-1]
            w = self.weights.of(path)
            term = 0.0 if w == 0 else self.fair.term_weight * math.exp2(-self.share(path, now) / w)
            self._terms[owner] = term
        return term
