"""RetryPolicy: backoff arithmetic per jitter type, cap, attempts, Retry-After and the retry budget."""
import pytest

from sim.policies.retry import RetryConfig, RetryPolicy, backoff_cap_s, expected_backoff_s


def policy(**overrides):
    return RetryPolicy(RetryConfig(**overrides))


def test_defaults():
    cfg = RetryConfig()
    assert (cfg.max_attempts, cfg.base_delay_s, cfg.multiplier, cfg.max_delay_s) == (3, 0.5, 2.0, 20.0)
    assert (cfg.jitter, cfg.honor_retry_after, cfg.max_retry_after_s) == ("full", True, 60.0)
    assert (cfg.retry_budget_ratio, cfg.retry_budget_min_retries) == (None, 10)
    assert cfg.retry_on == ("error", "timeout", "rate_limited")


@pytest.mark.parametrize("field, value", [
    ("max_attempts", 0), ("max_attempts", 1.5), ("base_delay_s", -0.1), ("multiplier", 0.5),
    ("max_delay_s", -1.0), ("jitter", "decorrelated"), ("max_retry_after_s", -1.0),
    ("retry_budget_ratio", 1.5), ("retry_budget_ratio", -0.1), ("retry_budget_min_retries", -1),
    ("retry_on", "error"), ("honor_retry_after", "yes"),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        RetryConfig(**{field: value})


def test_retry_on_list_is_stored_as_tuple():
    assert RetryConfig(retry_on=["timeout"]).retry_on == ("timeout",)


# ------------------------------------------------------------------------------------------ backoff

@pytest.mark.parametrize("attempt, cap_s", [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (6, 16.0), (7, 20.0),
                                            (50, 20.0), (10_000, 20.0)])
def test_exponential_cap(attempt, cap_s):
    p = policy(jitter="none")
    assert backoff_cap_s(p.config, attempt) == cap_s
    assert p.backoff_s(attempt, 0.3) == cap_s


def test_full_jitter_is_u_times_cap():
    p = policy(jitter="full")
    assert p.backoff_s(3, 0.25) == 0.5
    assert p.backoff_s(3, 0.0) == 0.0
    assert p.backoff_s(1, 0.5) == 0.25
    assert p.backoff_s(8, 0.75) == 15.0          # capped at 20 before jitter


def test_equal_jitter_is_half_cap_plus_u_half_cap():
    p = policy(jitter="equal")
    assert p.backoff_s(3, 0.25) == 1.25          # 1 + 0.25 * 1
    assert p.backoff_s(3, 0.0) == 1.0
    assert p.backoff_s(8, 0.5) == 15.0           # 10 + 0.5 * 10


def test_other_base_and_multiplier():
    p = policy(jitter="none", base_delay_s=1.0, multiplier=3.0, max_delay_s=100.0)
    assert [p.backoff_s(a, 0.9) for a in (1, 2, 3, 4, 5)] == [1.0, 3.0, 9.0, 27.0, 81.0]
    assert p.backoff_s(6, 0.9) == 100.0


def test_expected_backoff_per_jitter_and_empirical_mean():
    for jitter, mean_s in (("full", 1.0), ("equal", 1.5), ("none", 2.0)):
        cfg = RetryConfig(jitter=jitter)
        assert expected_backoff_s(cfg, 3) == mean_s
        p = RetryPolicy(cfg)
        grid = [(i + 0.5) / 1000 for i in range(1000)]
        assert sum(p.backoff_s(3, u) for u in grid) / len(grid) == pytest.approx(mean_s, rel=1e-12)


def test_backoff_rejects_bad_arguments():
    p = policy()
    with pytest.raises(ValueError, match="attempt"):
        p.backoff_s(0, 0.5)
    with pytest.raises(ValueError, match="u"):
        p.backoff_s(1, 1.5)
    with pytest.raises(ValueError, match="u"):
        p.backoff_s(1, -0.1)


# ------------------------------------------------------------------------------------------ delay_s

def test_max_attempts_includes_the_first():
    p = policy(jitter="none")
    assert p.delay_s(1, "error", 0.5) == 0.5
    assert p.delay_s(2, "error", 0.5) == 1.0
    assert p.delay_s(3, "error", 0.5) is None
    assert policy(max_attempts=1).delay_s(1, "error", 0.5) is None


def test_only_listed_statuses_are_retried():
    p = policy(jitter="none")
    assert p.delay_s(1, "timeout", 0.0) == 0.5
    assert p.delay_s(1, "rate_limited", 0.0) == 0.5
    assert p.delay_s(1, "ok", 0.0) is None
    assert p.delay_s(1, "bad_request", 0.0) is None
    assert policy(retry_on=("timeout",)).delay_s(1, "error", 0.0) is None


def test_retry_after_is_a_floor_on_the_backoff():
    p = policy(jitter="none")
    assert p.delay_s(1, "rate_limited", 0.7, retry_after_s=5.0) == 5.0
    assert p.delay_s(1, "rate_limited", 0.7, retry_after_s=0.1) == 0.5
    assert p.delay_s(2, "rate_limited", 0.7, retry_after_s=0.0) == 1.0


def test_retry_after_beyond_cap_gives_up():
    p = policy(jitter="none", max_retry_after_s=60.0)
    assert p.delay_s(1, "rate_limited", 0.5, retry_after_s=60.0) == 60.0
    assert p.delay_s(1, "rate_limited", 0.5, retry_after_s=60.5) is None


def test_retry_after_ignored_when_not_honoured():
    p = policy(jitter="full", honor_retry_after=False)
    assert p.delay_s(1, "rate_limited", 0.5, retry_after_s=120.0) == 0.25


def test_delay_rejects_negative_retry_after():
    with pytest.raises(ValueError, match="retry_after_s"):
        policy().delay_s(1, "rate_limited", 0.5, retry_after_s=-1.0)


# ------------------------------------------------------------------------------------------ budget

def test_no_budget_means_unlimited():
    p = policy(jitter="none")
    for _ in range(100):
        p.record_call(is_retry=True)
    assert p.budget_allows_retry()
    assert p.delay_s(1, "error", 0.0) == 0.5


def test_budget_cold_start_minimum():
    p = policy(jitter="none", retry_budget_ratio=0.1, retry_budget_min_retries=3)
    assert p.delay_s(1, "error", 0.0) == 0.5     # nothing recorded yet: the minimum allows it
    for _ in range(3):
        p.record_call(is_retry=False)
        p.record_call(is_retry=True)
    assert (p.calls_total, p.retries_total) == (6, 3)
    assert p.delay_s(1, "error", 0.0) is None     # 3/6 >= 0.1 and the minimum is used up


def test_budget_ratio_of_all_calls():
    p = policy(jitter="none", retry_budget_ratio=0.2, retry_budget_min_retries=2)
    for _ in range(10):
        p.record_call(is_retry=False)
    p.record_call(is_retry=True)
    p.record_call(is_retry=True)
    assert p.budget_allows_retry()                # 2/12 = 0.167 < 0.2
    p.record_call(is_retry=True)
    assert not p.budget_allows_retry()            # 3/13 = 0.23
    assert p.delay_s(1, "error", 0.0) is None
    for _ in range(2):
        p.record_call(is_retry=False)
    assert not p.budget_allows_retry()            # 3/15 = 0.2, not < 0.2
    p.record_call(is_retry=False)
    assert p.budget_allows_retry()                # 3/16 = 0.1875
    assert p.delay_s(1, "error", 0.0) == 0.5


def test_budget_zero_ratio_allows_only_the_minimum():
    p = policy(retry_budget_ratio=0.0, retry_budget_min_retries=1)
    assert p.budget_allows_retry()
    p.record_call(is_retry=True)
    assert not p.budget_allows_retry()


def test_delay_s_does_not_spend_budget():
    p = policy(retry_budget_ratio=0.5, retry_budget_min_retries=0)
    p.record_call(is_retry=False)
    for _ in range(5):
        assert p.delay_s(1, "error", 0.5) is not None
    assert (p.calls_total, p.retries_total) == (1, 0)
