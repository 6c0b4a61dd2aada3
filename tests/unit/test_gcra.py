"""GCRA as pure functions: hand-computed cases, then properties against an ideal token bucket.

The platform's rule (FACTS.md, "Rate limits"): a token bucket of `burst` requests that refills one
request every `interval = period / limit`. GCRA must be exactly that bucket, and the numbers it reports
(remaining, retry_after, reset_after) must be true statements about what the next requests get.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wbseller.ratelimit.gcra import Rate, ceil_seconds, decide, remaining, surcharge

MARKETPLACE = Rate(period=60, limit=300, burst=20)  # 200 ms, burst 20: the seed's example
NEWS = Rate(period=60, limit=1, burst=10)
PING = Rate(period=30, limit=3, burst=3)
T0 = 1_760_000_000.0  # a realistic time.time(): the limiter works at this float resolution


# --- Rate -----------------------------------------------------------------------------------------


def test_interval_is_period_over_limit() -> None:
    assert MARKETPLACE.interval == pytest.approx(0.2, abs=1e-5)
    assert NEWS.interval == 60
    assert PING.interval == 10
    assert Rate(86400, 1, 1).interval == 86400


@pytest.mark.parametrize(("period", "limit", "burst"), [(0, 1, 1), (60, 0, 1), (60, 1, 0), (-1, 1, 1)])
def test_rate_must_be_positive(period: float, limit: int, burst: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        Rate(period, limit, burst)


# --- hand-computed cases ------------------------------------------------------------------------


def test_marketplace_burst_of_20_then_one_every_200_ms() -> None:
    tat = 0.0  # a bucket never used
    for expected_remaining in range(19, -1, -1):
        tat, d = decide(tat, T0, MARKETPLACE)
        assert d.allowed
        assert d.remaining == expected_remaining
        assert d.retry_after == 0
        assert d.limit == 20
    assert tat == pytest.approx(T0 + 4.0, abs=1e-5)
    assert d.reset_after == pytest.approx(4.0, abs=1e-5)  # 20 requests * 200 ms

    # The 21st at the same instant: refused, passes in 200 ms; the whole burst is back in 4 s.
    same, d = decide(tat, T0, MARKETPLACE)
    assert same == tat  # a refusal costs nothing
    assert not d.allowed
    assert d.remaining == 0
    assert d.retry_after == pytest.approx(0.2, abs=1e-5)
    assert d.reset_after == pytest.approx(4.0, abs=1e-5)
    assert d.limit == 20
    assert (ceil_seconds(d.retry_after), ceil_seconds(d.reset_after)) == (1, 4)

    # 100 ms later: still refused, 100 ms to go.
    _, d = decide(tat, T0 + 0.1, MARKETPLACE)
    assert not d.allowed
    assert d.retry_after == pytest.approx(0.1, abs=1e-5)
    assert d.reset_after == pytest.approx(3.9, abs=1e-5)

    # 200 ms later: one passes, and none is left.
    tat2, d = decide(tat, T0 + 0.2, MARKETPLACE)
    assert d.allowed
    assert d.remaining == 0
    assert tat2 == pytest.approx(T0 + 4.2, abs=1e-5)

    # 1 s later: five intervals have refilled five requests.
    assert remaining(tat2, T0 + 1.2, MARKETPLACE) == 5
    # After 4 s of quiet the bucket is full again.
    assert remaining(tat2, T0 + 4.2, MARKETPLACE) == 20
    assert remaining(tat2, T0 + 1000, MARKETPLACE) == 20


def test_marketplace_409_costs_5() -> None:
    # One ordinary request, then a 409: charged 1 on admission and 4 more after the response.
    tat, d = decide(0.0, T0, MARKETPLACE)
    assert d.remaining == 19
    tat, d = decide(tat, T0, MARKETPLACE)
    assert d.remaining == 18
    tat = surcharge(tat, T0, MARKETPLACE, 4)
    assert remaining(tat, T0, MARKETPLACE) == 14
    assert tat == pytest.approx(T0 + 6 * 0.2, abs=1e-5)
    tat, d = decide(tat, T0, MARKETPLACE)
    assert d.remaining == 13


def test_cost_charged_up_front() -> None:
    tat, d = decide(0.0, T0, MARKETPLACE, cost=5)
    assert d.allowed
    assert d.remaining == 15
    assert d.reset_after == pytest.approx(1.0, abs=1e-5)
    # 15 left: a cost-16 request does not fit, a cost-15 one does.
    _, d = decide(tat, T0, MARKETPLACE, cost=16)
    assert not d.allowed
    assert d.retry_after == pytest.approx(0.2, abs=1e-5)
    tat, d = decide(tat, T0, MARKETPLACE, cost=15)
    assert d.allowed
    assert d.remaining == 0


@pytest.mark.parametrize(
    "rate",
    [MARKETPLACE, NEWS, PING, Rate(10, 6, 14), Rate(1, 24, 14), Rate(1, 10, 1), Rate(86400, 1, 1)],
    ids=str,
)
@pytest.mark.parametrize("start", [T0, 1_000.0])
def test_a_whole_burst_at_one_instant(rate: Rate, start: float) -> None:
    """`burst` requests at the same instant all pass, counting down remaining to 0; the next is refused.

    At a realistic time.time() (~1.76e9, float step ~2.4e-7 s) as well as at a small one.
    """
    tat = 0.0
    got = []
    for _ in range(rate.burst):
        tat, d = decide(tat, start, rate)
        got.append((d.allowed, d.remaining))
    assert got == [(True, n) for n in range(rate.burst - 1, -1, -1)]
    _, d = decide(tat, start, rate)
    assert not d.allowed
    assert ceil_seconds(d.retry_after) == ceil_seconds(rate.interval)


def test_news_personal_ten_at_once_then_one_a_minute() -> None:
    tat = 0.0
    for i in range(10):
        tat, d = decide(tat, T0, NEWS)
        assert d.allowed
        assert d.remaining == 9 - i
    _, d = decide(tat, T0, NEWS)
    assert not d.allowed
    assert (ceil_seconds(d.retry_after), d.limit, ceil_seconds(d.reset_after)) == (60, 10, 600)
    # 59 s later: 1 s to go, and 541 s to a full bucket.
    _, d = decide(tat, T0 + 59, NEWS)
    assert (ceil_seconds(d.retry_after), ceil_seconds(d.reset_after)) == (1, 541)
    tat, d = decide(tat, T0 + 60, NEWS)
    assert d.allowed
    assert d.remaining == 0
    assert d.reset_after == pytest.approx(600, abs=1e-5)


def test_ping_three_per_thirty_seconds() -> None:
    tat = 0.0
    got = []
    for _ in range(3):
        tat, d = decide(tat, T0, PING)
        got.append(d.remaining)
    assert got == [2, 1, 0]
    _, d = decide(tat, T0 + 5, PING)
    assert not d.allowed
    assert d.retry_after == pytest.approx(5, abs=1e-5)
    assert d.reset_after == pytest.approx(25, abs=1e-5)
    tat, d = decide(tat, T0 + 10, PING)
    assert d.allowed
    assert d.remaining == 0


def test_a_bucket_ahead_of_now_and_one_left_behind() -> None:
    # A TAT in the past is a full bucket: the charge starts from now, not from the old TAT.
    tat, d = decide(T0 - 1000, T0, PING)
    assert tat == T0 + 10
    assert d.remaining == 2
    assert remaining(T0 - 5, T0, PING) == 3
    assert remaining(T0 + 30, T0, PING) == 0
    assert remaining(T0 + 25, T0, PING) == 0
    assert remaining(T0 + 20, T0, PING) == 1


def test_surcharge_is_never_refused_and_may_go_past_the_burst() -> None:
    tat = surcharge(0.0, T0, PING, 2)  # a fresh bucket: charged from now
    assert tat == T0 + 20
    assert remaining(tat, T0, PING) == 1
    tat = surcharge(tat, T0, PING, 4)  # past the burst: the debt is paid by waiting
    assert tat == T0 + 60
    assert remaining(tat, T0, PING) == 0
    _, d = decide(tat, T0, PING)
    assert not d.allowed
    assert d.retry_after == pytest.approx(40, abs=1e-5)
    assert d.reset_after == pytest.approx(60, abs=1e-5)
    assert remaining(tat, T0 + 40, PING) == 1


@pytest.mark.parametrize(
    ("seconds", "whole"),
    [
        (0.0, 0),
        (-3.0, 0),
        (1e-9, 0),  # float noise is not a second
        (0.2, 1),
        (1.0, 1),
        (1.0 + 1e-9, 1),
        (1.001, 2),
        (59.5, 60),
        (60.0, 60),
        (600.0, 600),
        (3599.9, 3600),
        (86400.0, 86400),
    ],
)
def test_ceil_seconds(seconds: float, whole: int) -> None:
    assert ceil_seconds(seconds) == whole


# --- properties ---------------------------------------------------------------------------------

# A time slack well above float noise at T0 (ulp ~2.4e-7 s) and above gcra.EPS: 1 ms.
SLACK = 1e-3


@dataclass(frozen=True)
class Run:
    rate: Rate
    start: float
    steps: list[tuple[float, int]]  # (gap since the previous request, cost)

    def times(self) -> list[tuple[float, int]]:
        out, now = [], self.start
        for gap, cost in self.steps:
            now += gap
            out.append((now, cost))
        return out


@st.composite
def rates(draw: st.DrawFn) -> Rate:
    period = draw(st.sampled_from([1.0, 10.0, 30.0, 60.0, 3600.0, 86400.0]) | st.floats(1.0, 3600.0))
    limit = draw(st.integers(1, 300))
    burst = draw(st.integers(1, 40))
    return Rate(period, limit, burst)


@st.composite
def runs(draw: st.DrawFn, max_cost_over_burst: int = 0) -> Run:
    rate = draw(rates())
    t = rate.interval
    # Same instant, a fraction of an interval, a few intervals, or a long pause.
    gap = st.one_of(
        st.just(0.0),
        st.floats(0.0, t),
        st.floats(0.0, 3 * t),
        st.sampled_from([t, 2 * t, 0.5 * t]),
        st.floats(0.0, rate.burst * t * 2),
    )
    cost = st.integers(1, rate.burst + max_cost_over_burst) | st.just(1)
    steps = draw(st.lists(st.tuples(gap, cost), min_size=1, max_size=60))
    start = draw(st.sampled_from([T0, 1_000.0]) | st.floats(1e9, 2e9))
    return Run(rate, start, steps)


PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(runs(max_cost_over_burst=3))
def test_admitted_cost_never_exceeds_burst_plus_elapsed(run: Run) -> None:
    """(a) Over any window [s, t] of the run, admitted cost <= burst + (t - s) / interval."""
    rate, tat = run.rate, 0.0
    admitted: list[tuple[float, int]] = []
    for now, cost in run.times():
        tat, d = decide(tat, now, rate, cost)
        if d.allowed:
            admitted.append((now, cost))
    for i, (first, _) in enumerate(admitted):
        total = 0
        for now, cost in admitted[i:]:
            total += cost
            bound = rate.burst + (now - first + SLACK) / rate.interval
            assert total <= bound, (total, bound, first, now)


class IdealBucket:
    """The token bucket as WB describes it: `burst` tokens, one more every interval, never more."""

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.burst)
        self.last = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.rate.burst, self.tokens + (now - self.last) / self.rate.interval)
        self.last = now


@PROPS
@given(runs(max_cost_over_burst=3))
def test_gcra_is_the_ideal_token_bucket(run: Run) -> None:
    """(b) GCRA admits exactly when the ideal bucket holds the request's cost (up to float slack)."""
    rate, tat = run.rate, 0.0
    ideal = IdealBucket(rate, run.start)
    slack = SLACK / rate.interval  # in tokens
    for now, cost in run.times():
        ideal.refill(now)
        tat, d = decide(tat, now, rate, cost)
        if ideal.tokens >= cost + slack:
            assert d.allowed, (ideal.tokens, cost)
        elif ideal.tokens < cost - slack:
            assert not d.allowed, (ideal.tokens, cost)
        # else: on the boundary either answer is right; the ideal bucket follows GCRA's choice.
        if d.allowed:
            ideal.tokens -= cost
        # Both agree on what is left: whole tokens, up to the slack at an integer boundary.
        left = remaining(tat, now, rate)
        assert max(0, math.floor(ideal.tokens - slack)) <= left <= max(0, math.floor(ideal.tokens + slack))


@PROPS
@given(runs(), st.integers(0, 3))
def test_remaining_is_exactly_how_many_more_pass_now(run: Run, extra_cost: int) -> None:
    """(c) After an admitted request, `remaining` more cost-1 requests pass at that instant; no more.

    `extra_cost` adds a surcharge to the last admitted request, as a 409 does: the count after
    the surcharge must be just as true.
    """
    rate, tat = run.rate, 0.0
    now, d = run.start, decide(0.0, run.start, rate)[1]
    for now, cost in run.times():
        tat, d = decide(tat, now, rate, cost)
    # The last request of the run, or failing that a fresh one, is the admitted request we check.
    if not d.allowed:
        now += rate.burst * rate.interval * 2
        tat, d = decide(tat, now, rate)
    assert d.allowed
    left = d.remaining
    if extra_cost:
        tat = surcharge(tat, now, rate, extra_cost)
        left = remaining(tat, now, rate)
        assert left == max(0, d.remaining - extra_cost)
    for i in range(left):
        tat, more = decide(tat, now, rate)
        assert more.allowed, (i, left)
        assert more.remaining == left - i - 1
    _, refused = decide(tat, now, rate)
    assert not refused.allowed, left


@PROPS
@given(runs(), st.integers(1, 40))
def test_retry_after_is_exact(run: Run, cost: int) -> None:
    """(d) A refused request passes at now + retry_after and not a little before; reset_after is
    when the bucket is full."""
    rate, tat = run.rate, 0.0
    cost = min(cost, rate.burst)  # a request costing more than the burst can never pass
    now = run.start
    for now, c in run.times():
        tat, _ = decide(tat, now, rate, c)
    _, d = decide(tat, now, rate, cost)
    if d.allowed:
        return
    assert d.retry_after > 0
    assert d.remaining == 0
    assert d.limit == rate.burst
    at = now + d.retry_after
    assert decide(tat, at, rate, cost)[1].allowed
    before = max(SLACK, rate.interval * 1e-3)  # a millisecond, or more for long intervals
    if d.retry_after > before:
        assert not decide(tat, at - before, rate, cost)[1].allowed
    # The burst is whole again at now + reset_after, and not before.
    assert d.reset_after >= d.retry_after - SLACK
    assert remaining(tat, now + d.reset_after, rate) == rate.burst
    if d.reset_after > before:
        assert remaining(tat, now + d.reset_after - before, rate) < rate.burst


def test_a_request_costing_more_than_the_burst_never_passes() -> None:
    # The ideal bucket never holds more than `burst`, so neither does GCRA admit more.
    for wait in (0, 10, 1000, 1e6):
        assert not decide(0.0, T0 + wait, PING, cost=4)[1].allowed
