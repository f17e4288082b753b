"""Aging policies: validation, the documented formulas over exact values, monotonicity, wait_for."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prioq.errors import InvalidPolicy, InvalidTime, PrioqError
from prioq.queue.aging import AgingPolicy, LinearAging, NoAging, StepAging
from reference_aging import reference_boost

reference = reference_boost


params = st.one_of(
    st.sampled_from([0, 0.1, 0.25, 0.3, 1, 2.5, 1 / 60, 50]),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
)
positive = st.one_of(
    st.sampled_from([0.1, 0.3, 1, 60, 3600]),
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False),
)
waits = st.one_of(
    st.sampled_from([0.0, 0.1, 0.3, 0.6, 0.9, 1.0, 3.0, 60.0, 1e9]),
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.integers(0, 10**6),
)
policies: st.SearchStrategy[AgingPolicy] = st.one_of(
    st.just(NoAging()),
    st.builds(LinearAging, rate=params, max_boost=st.one_of(params, st.just(math.inf))),
    st.builds(StepAging, interval=positive, step=params, max_boost=params),
)


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "make",
    [
        lambda: LinearAging(rate=-1, max_boost=10),
        lambda: LinearAging(rate=math.nan, max_boost=10),
        lambda: LinearAging(rate=math.inf, max_boost=10),
        lambda: LinearAging(rate=1, max_boost=-0.5),
        lambda: LinearAging(rate=1, max_boost=math.nan),
        lambda: LinearAging(rate=1, max_boost=-math.inf),
        lambda: LinearAging(rate=True, max_boost=10),
        lambda: LinearAging(rate="1", max_boost=10),
        lambda: LinearAging(rate=None, max_boost=10),
        lambda: StepAging(interval=0, step=1, max_boost=10),
        lambda: StepAging(interval=-60, step=1, max_boost=10),
        lambda: StepAging(interval=math.nan, step=1, max_boost=10),
        lambda: StepAging(interval=math.inf, step=1, max_boost=10),
        lambda: StepAging(interval=60, step=-1, max_boost=10),
        lambda: StepAging(interval=60, step=math.nan, max_boost=10),
        lambda: StepAging(interval=60, step=1, max_boost=math.inf),
        lambda: StepAging(interval=60, step=1, max_boost=False),
    ],
)
def test_bad_parameters_raise_invalid_policy(make: object) -> None:
    with pytest.raises(InvalidPolicy) as info:
        make()  # type: ignore[operator]
    assert isinstance(info.value, ValueError) and isinstance(info.value, PrioqError)
    assert "got" in str(info.value)  # the message names the value


def test_message_names_the_value() -> None:
    with pytest.raises(InvalidPolicy, match=r"interval: must be > 0, got 0"):
        StepAging(interval=0, step=1, max_boost=10)
    with pytest.raises(InvalidPolicy, match=r"rate: must be >= 0, got -2"):
        LinearAging(rate=-2, max_boost=1)


def test_value_types() -> None:
    assert LinearAging(1, 50) == LinearAging(rate=1.0, max_boost=50.0)
    assert hash(LinearAging(1, 50)) == hash(LinearAging(1.0, 50.0))
    assert NoAging() == NoAging()
    assert StepAging(60, 5, 50) != StepAging(60, 5, 40)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        LinearAging(1, 50).rate = 2  # type: ignore[misc]
    with pytest.raises(InvalidPolicy):
        attrs.evolve(StepAging(60, 5, 50), interval=0)
    # degenerate but valid: behave like NoAging
    assert LinearAging(rate=0, max_boost=10).boost(1e9) == 0.0
    assert StepAging(interval=1, step=0, max_boost=10).boost(1e9) == 0.0
    assert StepAging(interval=1, step=0, max_boost=10).levels == 0


@pytest.mark.parametrize("wait", [-1, -0.0001, math.nan, True, "1", None])
@pytest.mark.parametrize("policy", [NoAging(), LinearAging(1, 5), StepAging(1, 1, 5)])
def test_bad_wait_raises_invalid_time(policy: AgingPolicy, wait: object) -> None:
    with pytest.raises(InvalidTime):
        policy.boost(wait)  # type: ignore[arg-type]
    with pytest.raises(InvalidTime):
        policy.exact_boost(wait)  # type: ignore[arg-type]


def test_infinite_wait_is_the_cap() -> None:
    assert LinearAging(0.5, 7).boost(math.inf) == 7
    assert LinearAging(0.5, math.inf).boost(math.inf) == math.inf
    assert StepAging(10, 3, 7).boost(math.inf) == 7
    assert StepAging(10, 3, 7).level(math.inf) == 3
    assert NoAging().boost(math.inf) == 0
    with pytest.raises(InvalidTime):
        LinearAging(0.5, 7).exact_boost(math.inf)


# ---------------------------------------------------------------------- formulas


def test_examples() -> None:
    linear = LinearAging(rate=1 / 60, max_boost=50)  # one point per minute, capped after 50 minutes
    assert linear.boost(0) == 0
    assert linear.boost(600) == pytest.approx(10)
    assert linear.boost(3000) == 50 and linear.boost(10**6) == 50
    step = StepAging(interval=600, step=5, max_boost=20)  # +5 every 10 minutes, at most +20
    assert [step.boost(w) for w in (0, 599.9, 600, 1199, 1200, 2400, 10**6)] == [0, 0, 5, 5, 10, 20, 20]
    assert step.levels == 4
    assert NoAging().boost(10**9) == 0 and NoAging().max_boost == 0


def test_exact_not_float_arithmetic() -> None:
    # 10 steps of the double 0.1 are slightly more than 1; a float product rounds to exactly 1.0.
    step = StepAging(interval=1, step=0.1, max_boost=5)
    assert 10 * 0.1 == 1.0
    assert step.exact_boost(10) == 10 * Fraction(0.1) > 1
    # floor(wait / interval) on exact values: 0.3 / 0.1 is 2.9999999999999996 in floats, and
    # exactly 0.29999999999999998889... / 0.10000000000000000555... < 3 too; both give level 2.
    assert StepAging(interval=0.1, step=1, max_boost=9).level(0.3) == 2
    # A boundary a float quotient gets wrong: 1.0 / 0.1 rounds to 10.0, but the double 0.1 is
    # slightly above 1/10, so the exact quotient is just below 10: nine whole intervals.
    assert math.floor(1.0 / 0.1) == 10
    assert math.floor(Fraction(1.0) / Fraction(0.1)) == 9
    assert StepAging(interval=0.1, step=1, max_boost=99).level(1.0) == 9


@given(policies, waits)
def test_boost_is_the_exact_formula_rounded(policy: AgingPolicy, wait: float) -> None:
    exact = reference(policy, Fraction(wait))
    assert policy.exact_boost(wait) == exact
    assert policy.boost(wait) == float(exact)


@given(policies, waits, waits)
def test_boost_is_monotone_and_bounded(policy: AgingPolicy, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert 0 <= policy.exact_boost(lo) <= policy.exact_boost(hi)
    assert policy.boost(hi) <= policy.max_boost


@given(policies, st.floats(min_value=-5, max_value=1e6, allow_nan=False))
def test_wait_for_is_the_smallest_float_wait(policy: AgingPolicy, target: float) -> None:
    wait = policy.wait_for(target)
    if target <= 0:
        assert wait == 0
        return
    if wait == math.inf:
        # unreachable: above the cap, or not within any finite float wait
        assert target > policy.max_boost or policy.exact_boost(sys.float_info.max) < Fraction(target)
        return
    assert policy.exact_boost(wait) >= Fraction(target)
    if wait > 0:
        assert policy.exact_boost(math.nextafter(wait, -math.inf)) < Fraction(target)


@given(st.builds(LinearAging, rate=positive, max_boost=params))
def test_saturation_wait(policy: LinearAging) -> None:
    w = policy.saturation_wait
    assert policy.exact_boost(w) == Fraction(policy.max_boost)
    if w > 0:
        assert policy.exact_boost(math.nextafter(w, -math.inf)) < Fraction(policy.max_boost)


def test_saturation_wait_edge_cases() -> None:
    assert LinearAging(rate=1, max_boost=math.inf).saturation_wait == math.inf
    assert LinearAging(rate=0, max_boost=5).saturation_wait == math.inf
    assert LinearAging(rate=0, max_boost=0).saturation_wait == 0


@given(st.builds(StepAging, interval=positive, step=params, max_boost=params), waits)
def test_step_level(policy: StepAging, wait: float) -> None:
    level = policy.level(wait)
    assert 0 <= level <= policy.levels
    assert policy.exact_boost(wait) == min(level * Fraction(policy.step), Fraction(policy.max_boost))
    if policy.levels:
        assert policy.levels * Fraction(policy.step) >= Fraction(policy.max_boost)
        assert (policy.levels - 1) * Fraction(policy.step) < Fraction(policy.max_boost)
