"""BudgetKillSwitch with a fake clock: soft/hard per window, sliding expiry, per-user limits, overshoot bound."""
import heapq

import numpy as np
import pytest

from sim.policies.kill_switch import (DAY_S, HOUR_S, MONTH_S, BudgetKillSwitch, BudgetTrip, KillSwitchConfig,
                                      max_overshoot_usd)


class FakeClock:
    def __init__(self, t_s: float = 0.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s


def make(**limits):
    clock = FakeClock()
    return BudgetKillSwitch(KillSwitchConfig(**limits), clock), clock


# ------------------------------------------------------------------------------------------ config

def test_defaults():
    cfg = KillSwitchConfig()
    assert (cfg.per_hour_usd, cfg.per_day_usd, cfg.per_month_usd, cfg.per_user_per_day_usd) == (None,) * 4
    assert cfg.soft_fraction == 0.8
    assert MONTH_S == 30 * DAY_S


@pytest.mark.parametrize("field, value", [
    ("per_hour_usd", 0.0), ("per_day_usd", -5.0), ("per_month_usd", float("inf")),
    ("per_user_per_day_usd", "10"), ("soft_fraction", 0.0), ("soft_fraction", 1.2),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        KillSwitchConfig(**{field: value})


def test_no_limits_never_trips():
    switch, _ = make()
    switch.record_spend(1e6)
    assert switch.state() == "normal"
    assert switch.trips == []
    assert switch.spend_usd("hour") == 1e6


# ------------------------------------------------------------------------------------------ levels

def test_hour_window_normal_soft_hard():
    switch, clock = make(per_hour_usd=10.0)
    clock.t_s = 5.0
    switch.record_spend(7.75)
    assert switch.state() == "normal"
    clock.t_s = 6.0
    switch.record_spend(0.25)                    # 8.00 = 0.8 * 10
    assert switch.state() == "soft"
    assert switch.allows_call()
    clock.t_s = 7.0
    switch.record_spend(1.5)
    assert switch.state() == "soft"
    clock.t_s = 8.0
    switch.record_spend(0.5)                     # 10.00
    assert switch.state() == "hard"
    assert not switch.allows_call()
    assert switch.trips == [BudgetTrip(6.0, "soft", "hour", 8.0, 10.0),
                            BudgetTrip(8.0, "hard", "hour", 10.0, 10.0)]


def test_straight_to_hard_is_one_trip():
    switch, _ = make(per_hour_usd=10.0)
    switch.record_spend(12.5)
    assert switch.trips == [BudgetTrip(0.0, "hard", "hour", 12.5, 10.0)]


def test_day_and_month_windows_trip_independently():
    switch, clock = make(per_hour_usd=100.0, per_day_usd=40.0, per_month_usd=50.0)
    switch.record_spend(32.0)                    # day soft (32 >= 0.8 * 40); month 32 < 40; hour 32 < 80
    assert switch.state() == "soft"
    clock.t_s = 120.0
    switch.record_spend(8.0)                     # day 40 -> hard, month 40 -> soft
    assert switch.state() == "hard"
    assert switch.trips == [BudgetTrip(0.0, "soft", "day", 32.0, 40.0),
                            BudgetTrip(120.0, "hard", "day", 40.0, 40.0),
                            BudgetTrip(120.0, "soft", "month", 40.0, 50.0)]


def test_month_window_is_thirty_days():
    switch, clock = make(per_month_usd=100.0)
    clock.t_s = 10.0
    switch.record_spend(100.0)                   # bucket 0: counts until (0 + 1) * 60 + 30 days
    clock.t_s = 60.0 + MONTH_S - 0.001
    assert switch.state() == "hard"
    clock.t_s = 60.0 + MONTH_S
    assert switch.state() == "normal"
    assert switch.trips[-1] == BudgetTrip(60.0 + MONTH_S, "normal", "month", 0.0, 100.0)


# ------------------------------------------------------------------------------------------ sliding expiry

def test_hour_window_expiry_at_bucket_boundary():
    switch, clock = make(per_hour_usd=10.0)
    clock.t_s = 30.0
    switch.record_spend(10.0)                    # minute bucket 0
    clock.t_s = 3659.9
    assert switch.state() == "hard"              # kept for at least the full hour...
    assert switch.spend_usd("hour") == 10.0
    clock.t_s = 3660.0
    assert switch.state() == "normal"            # ...and at most a minute more
    assert switch.spend_usd("hour") == 0.0
    assert switch.trips == [BudgetTrip(30.0, "hard", "hour", 10.0, 10.0),
                            BudgetTrip(3660.0, "normal", "hour", 0.0, 10.0)]


def test_recovery_steps_are_stamped_at_their_boundaries_even_when_noticed_late():
    switch, clock = make(per_hour_usd=10.0)
    switch.record_spend(2.0)                     # bucket 0, leaves at 3660
    clock.t_s = 150.0
    switch.record_spend(8.0)                     # bucket 2, leaves at 3780 -> 10.0 hard
    clock.t_s = 5000.0
    assert switch.state() == "normal"
    assert switch.trips == [
        BudgetTrip(150.0, "hard", "hour", 10.0, 10.0),
        BudgetTrip(3660.0, "soft", "hour", 8.0, 10.0),
        BudgetTrip(3780.0, "normal", "hour", 0.0, 10.0),
    ]


def test_spend_in_one_minute_shares_a_bucket():
    switch, clock = make(per_hour_usd=10.0)
    clock.t_s = 0.0
    switch.record_spend(3.0)
    clock.t_s = 59.0
    switch.record_spend(3.0)
    clock.t_s = 60.0
    switch.record_spend(3.0)
    clock.t_s = 3660.0
    assert switch.spend_usd("hour") == 3.0       # the first two left together
    clock.t_s = 3720.0
    assert switch.spend_usd("hour") == 0.0


def test_clock_must_not_go_backwards():
    switch, clock = make(per_hour_usd=10.0)
    clock.t_s = 10.0
    switch.record_spend(1.0)
    clock.t_s = 5.0
    with pytest.raises(ValueError, match="backwards"):
        switch.state()


def test_record_spend_rejects_negative():
    switch, _ = make()
    with pytest.raises(ValueError, match="cost_usd"):
        switch.record_spend(-0.01)


# ------------------------------------------------------------------------------------------ per user

def test_per_user_daily_limit():
    switch, clock = make(per_user_per_day_usd=5.0, per_day_usd=100.0)
    switch.record_spend(4.0, user_id="alice")
    assert switch.state("alice") == "soft"
    clock.t_s = 600.0
    switch.record_spend(1.0, user_id="alice")
    switch.record_spend(3.0, user_id="bob")
    switch.record_spend(10.0)                    # no user: global only
    assert switch.state("alice") == "hard"
    assert switch.state("bob") == "normal"
    assert switch.state("carol") == "normal"
    assert switch.state() == "normal"            # the global day is at 18 of 100
    assert switch.spend_usd("day") == 18.0
    assert switch.spend_usd(user_id="alice") == 5.0
    assert switch.trips == [BudgetTrip(0.0, "soft", "user_day:alice", 4.0, 5.0),
                            BudgetTrip(600.0, "hard", "user_day:alice", 5.0, 5.0)]
    clock.t_s = DAY_S + 60.0                     # alice's first 4.0 has slid out
    assert switch.state("alice") == "normal"
    assert switch.trips[-1] == BudgetTrip(DAY_S + 60.0, "normal", "user_day:alice", 1.0, 5.0)
    clock.t_s = DAY_S + 660.0
    assert switch.spend_usd(user_id="alice") == 0.0
    assert switch._users == {}                   # idle users are forgotten


def test_global_hard_applies_to_every_user():
    switch, _ = make(per_hour_usd=10.0, per_user_per_day_usd=100.0)
    switch.record_spend(10.0, user_id="alice")
    assert switch.state("bob") == "hard"


def test_per_user_spend_needs_the_limit():
    switch, _ = make(per_hour_usd=10.0)
    switch.record_spend(1.0, user_id="alice")
    assert switch.state("alice") == "normal"
    with pytest.raises(ValueError, match="per_user_per_day_usd"):
        switch.spend_usd(user_id="alice")


# ------------------------------------------------------------------------------------------ overshoot bound

def test_max_overshoot_is_in_flight_times_max_cost():
    assert max_overshoot_usd(5, 0.2) == 1.0
    assert max_overshoot_usd(0, 3.0) == 0.0
    with pytest.raises(ValueError, match="max_in_flight_calls"):
        max_overshoot_usd(-1, 1.0)
    with pytest.raises(ValueError, match="max_cost_per_call_usd"):
        max_overshoot_usd(1, -1.0)


def test_in_flight_calls_finishing_after_the_trip_stay_within_the_bound():
    limit_usd, in_flight, cost_usd = 100.0, 5, 10.0
    switch, clock = make(per_hour_usd=limit_usd)
    switch.record_spend(99.5)                    # just under the limit, five maximal calls in flight
    for i in range(in_flight):
        clock.t_s = 10.0 + i
        switch.record_spend(cost_usd)
        assert not switch.allows_call()          # hard after the first: nothing new may start
    assert switch.spend_usd("hour") == 149.5
    assert switch.spend_usd("hour") < limit_usd + max_overshoot_usd(in_flight, cost_usd)


def test_gateway_simulation_never_exceeds_limit_plus_bound():
    """A small event loop: calls arrive, are admitted only when not hard and under the concurrency cap,
    and are billed when they finish. Spend in the hour must stay below limit + bound at every moment."""
    rng = np.random.default_rng(2024)
    limit_usd, max_in_flight, max_cost_usd = 20.0, 8, 0.5
    bound_usd = max_overshoot_usd(max_in_flight, max_cost_usd)
    clock = FakeClock()
    switch = BudgetKillSwitch(KillSwitchConfig(per_hour_usd=limit_usd), clock)
    completions = []                             # (finish_s, cost_usd)
    next_arrival_s, peak_usd, rejected, admitted = 0.0, 0.0, 0, 0
    while next_arrival_s < 4 * HOUR_S:
        if completions and completions[0][0] <= next_arrival_s:
            clock.t_s, bill_usd = heapq.heappop(completions)
            switch.record_spend(bill_usd)
            peak_usd = max(peak_usd, switch.spend_usd("hour"))
            assert switch.spend_usd("hour") < limit_usd + bound_usd
            continue
        clock.t_s = next_arrival_s
        if switch.allows_call() and len(completions) < max_in_flight:
            admitted += 1
            heapq.heappush(completions, (clock.t_s + float(rng.uniform(5.0, 120.0)),
                                         float(rng.uniform(0.3, max_cost_usd))))
        else:
            rejected += 1
        next_arrival_s += float(rng.exponential(2.0))
    assert peak_usd > limit_usd                  # the overshoot really happened...
    assert peak_usd < limit_usd + bound_usd      # ...and stayed inside the bound
    hard_trips = [t for t in switch.trips if t.level == "hard"]
    recoveries = [t for t in switch.trips if t.level in ("soft", "normal") and t.time_s > hard_trips[0].time_s]
    assert len(hard_trips) >= 2 and recoveries   # tripped, slid back, tripped again
    assert rejected > 0 and admitted > 0
