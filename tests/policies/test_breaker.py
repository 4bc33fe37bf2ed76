"""CircuitBreaker with a fake clock: every transition, both window types, the AI signals, cooldown mode."""
import math

import numpy as np
import pytest

from sim.policies.breaker import BreakerConfig, CircuitBreaker, Transition, WindowStats


class FakeClock:
    def __init__(self, t_s: float = 0.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s


def make(clock=None, **overrides):
    clock = clock or FakeClock()
    settings = dict(window_size=10, minimum_calls=10, wait_in_open_s=30.0, permitted_calls_in_half_open=3)
    settings.update(overrides)
    return CircuitBreaker(BreakerConfig(**settings), clock), clock


def record_many(breaker, n, ok=True, duration_s=1.0, **flags):
    for _ in range(n):
        breaker.record(ok, duration_s, **flags)


def trip(breaker):
    """Open a breaker made by ``make()`` (window 10, min 10) with ten failures."""
    record_many(breaker, 10, ok=False)
    assert breaker.state == "open"


# ------------------------------------------------------------------------------------------ config

def test_defaults_are_resilience4j_defaults():
    cfg = BreakerConfig()
    assert (cfg.mode, cfg.window_type, cfg.window_size, cfg.minimum_calls) == ("breaker", "count", 100, 100)
    assert (cfg.failure_rate_threshold, cfg.slow_call_rate_threshold) == (0.5, 1.0)
    assert (cfg.slow_call_duration_s, cfg.wait_in_open_s, cfg.permitted_calls_in_half_open) == (60.0, 60.0, 10)
    assert cfg.hallucination_rate_threshold is None
    assert cfg.parse_failure_rate_threshold is None
    assert cfg.cost_per_request_threshold_usd is None
    assert (cfg.cooldown_failures, cfg.cooldown_window_s, cfg.cooldown_s) == (3, 60.0, 60.0)


@pytest.mark.parametrize("field, value", [
    ("mode", "fuse"), ("window_type", "sliding"), ("window_size", 0), ("window_size", 2.5),
    ("minimum_calls", 0), ("failure_rate_threshold", 0.0), ("failure_rate_threshold", 50),
    ("slow_call_rate_threshold", 1.5), ("slow_call_duration_s", -1.0), ("wait_in_open_s", -1.0),
    ("permitted_calls_in_half_open", 0), ("hallucination_rate_threshold", 2.0),
    ("parse_failure_rate_threshold", -0.1), ("cost_per_request_threshold_usd", 0.0),
    ("cooldown_failures", 0), ("cooldown_window_s", 0.0), ("cooldown_s", -5.0), ("window_size", True),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        BreakerConfig(**{field: value})


def test_config_is_frozen():
    with pytest.raises(Exception):
        BreakerConfig().window_size = 5


# ------------------------------------------------------------------------------------------ closed -> open

def test_starts_closed_and_admits():
    breaker, _ = make()
    assert breaker.state == "closed"
    assert breaker.allow() is True
    assert breaker.transitions == []


def test_trips_on_failure_rate_at_threshold():
    breaker, clock = make()
    clock.t_s = 7.0
    record_many(breaker, 5, ok=True)
    record_many(breaker, 4, ok=False)
    assert breaker.state == "closed"            # 9 calls: below minimum_calls, not judged
    breaker.record(False, 1.0)                  # 5/10 = 0.50 >= 0.50
    assert breaker.state == "open"
    assert breaker.transitions == [Transition(7.0, "closed", "open", "failure_rate", 0.5, 0.5)]
    assert breaker.allow() is False


def test_failure_rate_below_threshold_stays_closed():
    breaker, _ = make()
    record_many(breaker, 6, ok=True)
    record_many(breaker, 4, ok=False)
    assert breaker.state == "closed"
    assert breaker.window_stats() == WindowStats(10, 0.4, 0.0, 0.0, 0.0, 0.0)


def test_count_window_slides_oldest_call_out():
    breaker, _ = make()
    record_many(breaker, 6, ok=True)
    record_many(breaker, 4, ok=False)           # [ok x6, fail x4] = 0.4
    breaker.record(False, 1.0)                  # oldest ok drops out: [ok x5, fail x5] = 0.5
    assert breaker.state == "open"
    assert breaker.transitions[-1].reason == "failure_rate 0.50 >= 0.50"


def test_minimum_calls_respected():
    breaker, _ = make(minimum_calls=5)
    record_many(breaker, 4, ok=False)
    assert breaker.state == "closed"            # 100 % failures but only 4 calls
    breaker.record(False, 1.0)
    assert breaker.state == "open"
    assert breaker.transitions[-1].reason == "failure_rate 1.00 >= 0.50"


def test_count_window_minimum_is_capped_by_window_size():
    breaker, _ = make(window_size=5, minimum_calls=100)
    record_many(breaker, 4, ok=False)
    assert breaker.state == "closed"
    breaker.record(False, 1.0)                  # the window is full at 5 calls: judged
    assert breaker.state == "open"
    assert BreakerConfig(window_size=5, minimum_calls=100).effective_minimum_calls == 5
    assert BreakerConfig(window_type="time", window_size=5, minimum_calls=100).effective_minimum_calls == 100


def test_trips_on_slow_call_rate_and_slow_is_strictly_greater():
    breaker, _ = make(slow_call_rate_threshold=0.5, slow_call_duration_s=2.0)
    record_many(breaker, 5, ok=True, duration_s=2.0)      # exactly the threshold: not slow
    record_many(breaker, 4, ok=True, duration_s=2.5)
    assert breaker.state == "closed"
    breaker.record(True, 2.5)
    assert breaker.state == "open"
    assert breaker.transitions == [Transition(0.0, "closed", "open", "slow_call_rate", 0.5, 0.5)]


def test_default_slow_threshold_needs_every_call_slow():
    breaker, _ = make()                                    # 1.0 and 60 s
    breaker.record(True, 60.0)
    record_many(breaker, 9, ok=True, duration_s=61.0)
    assert breaker.state == "closed"                      # 0.9 < 1.0
    breaker.record(True, 61.0)                            # the fast call drops out: 10 slow calls
    assert breaker.transitions[-1].reason == "slow_call_rate 1.00 >= 1.00"


def test_slow_failed_calls_count_as_slow_too():
    breaker, _ = make(failure_rate_threshold=1.0, slow_call_rate_threshold=0.5, slow_call_duration_s=2.0)
    record_many(breaker, 5, ok=True, duration_s=1.0)
    record_many(breaker, 5, ok=False, duration_s=3.0)
    assert breaker.transitions[-1].reason == "slow_call_rate 0.50 >= 0.50"


def test_trips_on_hallucination_rate():
    breaker, _ = make(hallucination_rate_threshold=0.3)
    record_many(breaker, 2, hallucinated=True)
    record_many(breaker, 7)
    assert breaker.state == "closed"
    breaker.record(True, 1.0, hallucinated=True)
    assert breaker.state == "open"
    assert breaker.transitions[-1].reason == "hallucination_rate 0.30 >= 0.30"


def test_hallucinations_ignored_without_threshold():
    breaker, _ = make()
    record_many(breaker, 10, hallucinated=True, parse_failed=True, cost_usd=100.0)
    assert breaker.state == "closed"


def test_trips_on_parse_failure_rate():
    breaker, _ = make(parse_failure_rate_threshold=0.2)
    breaker.record(True, 1.0, parse_failed=True)
    record_many(breaker, 8)
    assert breaker.state == "closed"
    breaker.record(True, 1.0, parse_failed=True)
    assert breaker.transitions[-1].reason == "parse_failure_rate 0.20 >= 0.20"


def test_trips_on_mean_cost_per_request():
    breaker, _ = make(cost_per_request_threshold_usd=0.05)
    record_many(breaker, 9, cost_usd=0.01)
    breaker.record(True, 1.0, cost_usd=0.30)               # mean 0.039
    assert breaker.state == "closed"
    assert breaker.window_stats().mean_cost_usd == pytest.approx(0.039)
    breaker.record(True, 1.0, cost_usd=0.50)               # drops one 0.01: (0.08 + 0.30 + 0.50) / 10
    assert breaker.state == "open"
    assert breaker.transitions[-1].reason == "cost_per_request 0.088000 >= 0.050000"


def test_first_tripped_condition_names_the_reason():
    breaker, _ = make(hallucination_rate_threshold=0.1)
    record_many(breaker, 10, ok=False, hallucinated=True)
    assert breaker.transitions[-1].reason == "failure_rate 1.00 >= 0.50"


# ------------------------------------------------------------------------------------------ time window

def test_time_window_drops_calls_older_than_window():
    clock = FakeClock()
    breaker, _ = make(clock, window_type="time", window_size=10, minimum_calls=10)
    record_many(breaker, 5, ok=True)                       # second 0
    clock.t_s = 11.0
    record_many(breaker, 5, ok=False)                      # the successes have gone: 5 calls, below minimum
    assert breaker.state == "closed"
    assert breaker.window_stats() == WindowStats(5, 1.0, 0.0, 0.0, 0.0, 0.0)


def test_time_window_trips_within_window():
    clock = FakeClock()
    breaker, _ = make(clock, window_type="time", window_size=10, minimum_calls=10)
    record_many(breaker, 5, ok=True)
    clock.t_s = 9.5
    record_many(breaker, 5, ok=False)
    assert breaker.state == "open"
    assert breaker.transitions == [Transition(9.5, "closed", "open", "failure_rate", 0.5, 0.5)]


def test_time_window_buckets_are_whole_seconds():
    clock = FakeClock(3.0)
    breaker, _ = make(clock, window_type="time", window_size=10, minimum_calls=100)
    breaker.record(True, 1.0)                              # second 3, kept through second 12
    clock.t_s = 3.9
    breaker.record(True, 1.0)
    clock.t_s = 12.99
    assert breaker.window_stats().calls == 2
    clock.t_s = 13.0
    assert breaker.window_stats().calls == 0


def test_time_window_matches_brute_force_recount():
    rng = np.random.default_rng(7)
    clock = FakeClock()
    breaker, _ = make(clock, window_type="time", window_size=20, minimum_calls=10 ** 9,
                      slow_call_duration_s=5.0, cost_per_request_threshold_usd=1e9)
    history = []
    for _ in range(3000):
        clock.t_s += float(rng.exponential(0.3))
        outcome = (bool(rng.random() < 0.7), float(rng.uniform(0, 10)), bool(rng.random() < 0.1),
                   bool(rng.random() < 0.2), float(rng.uniform(0, 0.02)))
        history.append((clock.t_s, outcome))
        breaker.record(outcome[0], outcome[1], hallucinated=outcome[2], parse_failed=outcome[3],
                       cost_usd=outcome[4])
        window = [o for t, o in history if math.floor(t) > math.floor(clock.t_s) - 20]
        n = len(window)
        stats = breaker.window_stats()
        assert stats.calls == n
        assert stats.failure_rate == sum(not o[0] for o in window) / n
        assert stats.slow_call_rate == sum(o[1] > 5.0 for o in window) / n
        assert stats.hallucination_rate == sum(o[2] for o in window) / n
        assert stats.parse_failure_rate == sum(o[3] for o in window) / n
        assert stats.mean_cost_usd == pytest.approx(sum(o[4] for o in window) / n, rel=1e-9)
    assert breaker.state == "closed"


# ------------------------------------------------------------------------------------------ open -> half_open

def test_open_waits_then_half_open_on_next_allow():
    breaker, clock = make()
    trip(breaker)
    clock.t_s = 29.999
    assert breaker.allow() is False
    assert breaker.state == "open"
    clock.t_s = 45.0
    assert breaker.state == "open"               # no traffic, no transition (resilience4j default)
    assert breaker.allow() is True
    assert breaker.state == "half_open"
    assert breaker.transitions[-1] == Transition(45.0, "open", "half_open", "wait_in_open_elapsed")


def test_half_open_exactly_at_wait():
    breaker, clock = make()
    trip(breaker)
    clock.t_s = 30.0
    assert breaker.allow() is True
    assert breaker.state == "half_open"


def test_half_open_admits_only_permitted_calls():
    breaker, clock = make()
    trip(breaker)
    clock.t_s = 30.0
    assert [breaker.allow() for _ in range(5)] == [True, True, True, False, False]
    breaker.release()                            # one permit not used after all
    assert breaker.allow() is True
    assert breaker.allow() is False


def test_half_open_to_closed_when_trial_passes():
    breaker, clock = make()
    trip(breaker)
    clock.t_s = 30.0
    for _ in range(3):
        assert breaker.allow()
    breaker.record(True, 1.0)
    breaker.record(False, 1.0)
    assert breaker.state == "half_open"          # judged only once all 3 results are in
    clock.t_s = 31.0
    breaker.record(True, 1.0)                    # 1/3 failed < 0.5
    assert breaker.state == "closed"
    assert breaker.transitions[-1] == Transition(31.0, "half_open", "closed", "trial_passed")
    assert breaker.window_stats().calls == 0     # fresh window
    assert breaker.allow() is True


def test_half_open_to_open_when_trial_fails():
    breaker, clock = make()
    trip(breaker)
    clock.t_s = 30.0
    for _ in range(3):
        breaker.allow()
    breaker.record(False, 1.0)
    breaker.record(True, 1.0)
    clock.t_s = 32.0
    breaker.record(False, 1.0)
    assert breaker.state == "open"
    assert breaker.transitions[-1] == Transition(32.0, "half_open", "open", "failure_rate", 2 / 3, 0.5)
    assert breaker.transitions[-1].reason == "half_open trial failed: failure_rate 0.67 >= 0.50"
    clock.t_s = 61.9                             # a new full wait from the re-open
    assert breaker.allow() is False
    clock.t_s = 62.0
    assert breaker.allow() is True
    assert [t.to_state for t in breaker.transitions] == ["open", "half_open", "open", "half_open"]


def test_half_open_trial_judges_ai_signals_too():
    breaker, clock = make(hallucination_rate_threshold=0.5)
    trip(breaker)
    clock.t_s = 30.0
    for _ in range(3):
        breaker.allow()
    breaker.record(True, 1.0, hallucinated=True)
    breaker.record(True, 1.0, hallucinated=True)
    breaker.record(True, 1.0)
    assert breaker.transitions[-1].reason == "half_open trial failed: hallucination_rate 0.67 >= 0.50"


# ------------------------------------------------------------------------------------------ stragglers

def test_results_arriving_while_open_are_ignored():
    breaker, clock = make()
    trip(breaker)
    evidence = breaker.window_stats()
    record_many(breaker, 20, ok=True)            # in-flight calls admitted while closed
    assert breaker.state == "open"
    assert breaker.ignored_results == 20
    assert breaker.window_stats() == evidence == WindowStats(10, 1.0, 0.0, 0.0, 0.0, 0.0)
    clock.t_s = 30.0
    assert breaker.allow() is True
    assert breaker.window_stats().calls == 0     # the trial starts empty


def test_half_open_ignores_results_beyond_issued_permits():
    breaker, clock = make()
    trip(breaker)
    clock.t_s = 30.0
    assert breaker.allow()                       # one permit issued
    breaker.record(True, 1.0)                    # the trial call
    breaker.record(False, 1.0)                   # a straggler: no permit outstanding
    assert breaker.ignored_results == 1
    assert breaker.window_stats() == WindowStats(1, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert breaker.state == "half_open"


# ------------------------------------------------------------------------------------------ observability

def test_on_transition_callback_sees_every_transition():
    seen = []
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerConfig(window_size=4, minimum_calls=4, wait_in_open_s=10.0,
                                           permitted_calls_in_half_open=1), clock,
                             on_transition=seen.append)
    record_many(breaker, 4, ok=False)
    clock.t_s = 10.0
    breaker.allow()
    breaker.record(True, 1.0)
    assert seen == [Transition(0.0, "closed", "open", "failure_rate", 1.0, 0.5),
                    Transition(10.0, "open", "half_open", "wait_in_open_elapsed"),
                    Transition(10.0, "half_open", "closed", "trial_passed")]
    assert [t.reason for t in seen] == ["failure_rate 1.00 >= 0.50", "wait_in_open elapsed",
                                        "half_open trial passed"]
    assert breaker.transitions == seen


def test_record_rejects_negative_duration_and_cost():
    breaker, _ = make()
    with pytest.raises(ValueError, match="duration_s"):
        breaker.record(True, -1.0)
    with pytest.raises(ValueError, match="cost_usd"):
        breaker.record(True, 1.0, cost_usd=-0.01)


# ------------------------------------------------------------------------------------------ cooldown mode

def make_cooldown(clock=None):
    clock = clock or FakeClock()
    cfg = BreakerConfig(mode="cooldown", cooldown_failures=3, cooldown_window_s=60.0, cooldown_s=30.0)
    return CircuitBreaker(cfg, clock), clock


def test_cooldown_needs_n_failures_within_window():
    breaker, clock = make_cooldown()
    for t_s in (0.0, 30.0, 61.0):
        clock.t_s = t_s
        breaker.record(False, 1.0)
    assert breaker.state == "closed"             # at 61 s the failure at 0 s is out of the window
    record_many(breaker, 50, ok=True)            # successes never count
    clock.t_s = 62.0
    breaker.record(False, 1.0)                   # 30, 61, 62
    assert breaker.state == "open"
    assert breaker.transitions == [Transition(62.0, "closed", "open", "cooldown_failures", 3.0, 3.0, 60.0)]
    assert breaker.transitions[0].reason == "cooldown_failures 3 >= 3 within 60s"


def test_cooldown_failure_exactly_window_old_has_left():
    breaker, clock = make_cooldown()
    for t_s in (0.0, 1.0, 60.0):
        clock.t_s = t_s
        breaker.record(False, 1.0)
    assert breaker.state == "closed"


def test_cooldown_returns_straight_to_closed_without_probing():
    breaker, clock = make_cooldown()
    record_many(breaker, 3, ok=False)            # open at 0 s
    clock.t_s = 29.9
    assert breaker.allow() is False
    clock.t_s = 45.0                             # noticed late, stamped at the expiry
    assert breaker.state == "closed"
    assert breaker.transitions[-1] == Transition(30.0, "open", "closed", "cooldown_elapsed")
    assert all(breaker.allow() for _ in range(20))
    assert "half_open" not in [t.to_state for t in breaker.transitions]
    record_many(breaker, 2, ok=False)            # the failure count started again from zero
    assert breaker.state == "closed"
    breaker.record(False, 1.0)
    assert breaker.state == "open"


def test_cooldown_ignores_results_while_open():
    breaker, clock = make_cooldown()
    record_many(breaker, 3, ok=False)
    record_many(breaker, 5, ok=False)
    assert breaker.ignored_results == 5
    clock.t_s = 30.0
    assert breaker.allow() is True
    breaker.record(False, 1.0)
    assert breaker.state == "closed"


def test_count_window_replace_is_subtract_then_add_exactly():
    # The full count window's one-call swap against the two steps it stands for, on random outcomes with
    # float costs (drift included) and a one-call window (where the subtraction empties the tally).
    from sim.policies.breaker import _CountWindow, _Outcome, _Tally
    rng = np.random.default_rng(3)
    for size in (1, 7):
        window, reference, ring = _CountWindow(size), _Tally(), []
        for k in range(500):
            outcome = _Outcome(*(int(v) for v in rng.integers(0, 2, 4)), float(rng.exponential(0.01)))
            window.add(outcome, float(k))
            if len(ring) == size:
                reference.subtract_outcome(ring.pop(0))
            reference.add(outcome)
            ring.append(outcome)
            got, want = window.current(float(k)), reference
            assert [getattr(got, f) for f in _Tally.__slots__] == [getattr(want, f) for f in _Tally.__slots__]
