import math

import pytest

from sim.policies.token_bucket import Admission, KeyedTokenBuckets, TokenBucket


def test_starts_full_and_refills_continuously():
    b = TokenBucket.per_minute(60)          # 1 token/s, capacity 60
    assert b.level(0.0) == 60
    assert b.try_take(0.0, 60).admitted
    assert b.level(0.0) == 0
    assert b.level(10.0) == pytest.approx(10.0)
    assert b.level(1000.0) == 60            # capped at capacity


def test_try_take_refuses_without_taking_and_returns_retry_after():
    b = TokenBucket(rate_per_s=2.0, capacity=10)
    assert b.try_take(0.0, 10) == Admission(admitted=True, retry_after_s=0.0)
    refused = b.try_take(1.0, 5)
    assert not refused.admitted and not refused.too_large
    assert refused.retry_after_s == pytest.approx(1.5)  # has 2, needs 3 more at 2/s
    assert b.level(1.0) == pytest.approx(2.0)          # nothing was taken
    never = b.try_take(1.0, 11)                         # larger than the bucket: never
    assert not never.admitted and never.too_large and never.retry_after_s == math.inf


def test_reserve_refuses_an_amount_larger_than_the_bucket_without_taking():
    b = TokenBucket(rate_per_s=1.0, capacity=5)
    assert not b.holds(5.5) and b.holds(5)
    assert b.reserve(0.0, 5.5) == math.inf             # never covered: no debt that others would wait behind
    assert b.level(0.0) == 5
    assert b.reserve(0.0, 1) == 0.0


def test_reservations_are_served_in_order_at_the_refill_rate():
    b = TokenBucket(rate_per_s=1.0, capacity=5)
    waits = [b.reserve(0.0, 1) for _ in range(10)]
    assert waits == pytest.approx([0, 0, 0, 0, 0, 1, 2, 3, 4, 5])


def test_refund_restores_an_abandoned_reservation():
    b = TokenBucket(rate_per_s=1.0, capacity=5)
    b.reserve(0.0, 8)
    b.refund(0.0, 8)
    assert b.level(0.0) == 5


def test_long_run_throughput_equals_the_rate_under_overload():
    b = TokenBucket.per_minute(120)         # 2/s
    taken, t = 0, 0.0
    while t < 3600:
        if b.try_take(t, 1).admitted:
            taken += 1
        t += 0.1                            # offered 10/s
    assert taken == pytest.approx(120 + 2 * 3600, abs=2)   # the first burst, then exactly the rate


def test_keyed_buckets_are_independent_per_key():
    users = KeyedTokenBuckets(rate_per_s=1 / 60, capacity=2)
    assert users.allow("a", 0.0) and users.allow("a", 0.0)
    assert not users.allow("a", 1.0)
    assert users.allow("b", 1.0)
    assert users.allow("a", 61.0)


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(0, 1)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(0.1, 100), capacity=st.floats(1, 1000),
       asks=st.lists(st.tuples(st.floats(0, 10), st.floats(0.01, 50)), min_size=1, max_size=60))
def test_what_a_bucket_admits_never_exceeds_its_capacity_plus_refill(rate, capacity, asks):
    bucket = TokenBucket(rate, capacity)
    now, taken = 0.0, 0.0
    for gap, amount in asks:
        now += gap
        if bucket.try_take(now, amount).admitted:
            taken += amount
        assert taken <= capacity + rate * now + 1e-6
        assert bucket.level(now) >= -1e-9


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(0.1, 100), capacity=st.floats(1, 1000),
       amounts=st.lists(st.floats(0.01, 50), min_size=1, max_size=60))
def test_reservations_made_at_once_leave_at_exactly_the_refill_rate(rate, capacity, amounts):
    bucket = TokenBucket(rate, capacity)
    amounts = [min(a, capacity) for a in amounts]      # a larger one is never reserved (test above)
    waits = [bucket.reserve(0.0, a) for a in amounts]
    total = sum(amounts)
    assert max(waits) == pytest.approx(max(0.0, total - capacity) / rate, abs=1e-6)
    assert waits == sorted(waits)
