"""FaultTimeline with handmade faults: matching, ramps, forcing, products and sums, boundaries, the cache."""
import math

import numpy as np
import pytest

from sim.config import FaultConfig
from sim.faults import CallEffect, FaultTimeline, FaultWindow, ramp_scale
from sim.model.streams import Streams
from sim.record import CALL_STATUS

ERROR, TIMEOUT, RATE_LIMITED = CALL_STATUS["error"], CALL_STATUS["timeout"], CALL_STATUS["rate_limited"]
GPT, CLAUDE = ("openai", "openai/gpt-4o"), ("anthropic", "anthropic/claude")


def fault(kind="outage", start=100.0, duration=50.0, **fields):
    """A fault; share 1 unless given (the config's defaults are tested on their own below)."""
    fields.setdefault("share", 1.0)
    return FaultConfig(kind=kind, start=start, duration=duration, **fields)


def test_share_defaults_depend_on_the_kind():
    assert FaultConfig(kind="outage", start=0, duration=1).effective_share == 1.0
    assert FaultConfig(kind="rate_limit", start=0, duration=1, limit_factor=0.5).effective_share == 0.0
    for kind in ("error_rate", "cost_spike"):
        with pytest.raises(ValueError, match=f"a {kind} fault needs a share"):
            FaultConfig(kind=kind, start=0, duration=1)


class CountingStreams:
    """A uniform factory whose streams count their draws (and can be told what to return)."""

    def __init__(self, seed=7):
        self.streams = Streams(seed)
        self.draws: dict[str, int] = {}
        self.names: list[str] = []

    def __call__(self, name):
        self.names.append(name)
        self.draws[name] = 0
        inner = self.streams.uniform(name)

        def draw():
            self.draws[name] += 1
            return inner()
        return draw


def timeline(*faults, seed=7):
    return FaultTimeline(list(faults), CountingStreams(seed))


def streams_of(faults, seed=7):
    counter = CountingStreams(seed)
    return FaultTimeline(list(faults), counter), counter


# ------------------------------------------------------------------------------------------ matching

@pytest.mark.parametrize("targets, gpt, claude", [
    ([], True, True),
    (["openai"], True, False),
    (["openai/gpt-4o"], True, False),
    (["openai/gpt-4o-mini"], False, False),
    (["anthropic/claude", "openai"], True, True),
])
def test_a_fault_matches_everything_its_provider_or_its_model(targets, gpt, claude):
    tl = timeline(fault("latency", targets=targets, latency_multiplier=2.0))
    assert (tl.call_effect(*GPT, 120.0) is not None) == gpt
    assert (tl.call_effect(*CLAUDE, 120.0) is not None) == claude


def test_a_provider_target_does_not_match_a_model_of_the_same_name_elsewhere():
    tl = timeline(fault("latency", targets=["openai"], latency_multiplier=2.0))
    assert tl.call_effect("azure", "azure/openai", 120.0) is None


def test_no_fault_active_gives_none_and_cost_spikes_never_shape_a_call():
    tl = timeline(fault("cost_spike", token_multiplier=3.0), fault("outage", start=1000.0))
    assert tl.call_effect(*GPT, 0.0) is None
    assert tl.call_effect(*GPT, 120.0) is None            # only the cost spike is active
    assert tl.call_effect(*GPT, 1020.0).forced_status == ERROR
    assert timeline().call_effect(*GPT, 5.0) is None       # no faults at all


# ------------------------------------------------------------------------------------------ ramps

RAMP = [(10.0, 0.0), (20.0, 1.0), (40.0, 0.5)]


@pytest.mark.parametrize("offset_s, expected", [
    (-5.0, 0.0), (0.0, 0.0), (10.0, 0.0), (12.5, 0.25), (15.0, 0.5), (20.0, 1.0), (30.0, 0.75), (36.0, 0.6),
    (40.0, 0.5), (49.0, 0.5),
])
def test_ramp_is_piecewise_linear_and_flat_outside_its_points(offset_s, expected):
    f = fault("latency", start=100.0, duration=50.0, ramp=RAMP, latency_multiplier=2.0)
    tl = timeline(f)
    assert tl.scale(f, 100.0 + offset_s) == pytest.approx(expected, abs=1e-12)
    assert ramp_scale(RAMP, offset_s) == pytest.approx(expected, abs=1e-12)


def test_empty_ramp_is_one_and_a_repeated_offset_is_a_step():
    f = fault("latency", latency_multiplier=2.0)
    assert timeline(f).scale(f, 130.0) == 1.0
    step = [(0.0, 0.2), (10.0, 0.2), (10.0, 0.8)]
    assert ramp_scale(step, 9.999) == pytest.approx(0.2)
    assert ramp_scale(step, 10.0) == pytest.approx(0.8)
    assert ramp_scale(step, 11.0) == pytest.approx(0.8)


def test_ramp_scales_the_latency_excess_the_share_and_the_degradation():
    tl = timeline(
        fault("latency", latency_multiplier=3.0, ramp=[(0.0, 0.0), (50.0, 1.0)]),
        fault("degradation", hallucination_prob=0.2, parse_failure_prob=0.1, ramp=[(0.0, 0.0), (50.0, 1.0)]),
        fault("outage", share=1.0, ramp=[(0.0, 0.0), (10.0, 1.0)]))
    e = tl.call_effect(*GPT, 125.0)                   # latency/degradation scale 0.5; outage share 1 from 110
    assert e.latency_multiplier == pytest.approx(2.0)
    assert e.hallucination_add == pytest.approx(0.1)
    assert e.parse_failure_add == pytest.approx(0.05)
    assert e.forced_status == ERROR
    assert tl.call_effect(*GPT, 100.0).latency_multiplier == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ forcing

def test_full_outage_forces_every_call_and_draws_nothing():
    tl, counter = streams_of([fault("outage", share=1.0, fail_after_s=0.3)])
    effects = [tl.call_effect(*GPT, 100.0 + 0.01 * k) for k in range(1000)]
    assert all(e.forced_status == ERROR and e.forced_after_s == 0.3 for e in effects)
    assert counter.draws == {"faults/0": 0}


def test_hang_outage_times_out_after_the_clients_timeout():
    e = timeline(fault("outage", mode="hang")).call_effect(*GPT, 120.0)
    assert e.forced_status == TIMEOUT and e.forced_after_s == math.inf


@pytest.mark.parametrize("kind, status", [("error_rate", ERROR), ("rate_limit", RATE_LIMITED)])
def test_partial_share_forces_the_expected_fraction(kind, status):
    n, p = 20_000, 0.3
    tl, counter = streams_of([fault(kind, share=p, duration=1e6)])
    forced = [tl.call_effect(*GPT, 100.0 + k) for k in range(n)]
    hits = sum(e.forced_status == status for e in forced)
    assert all(e.forced_status in (None, status) for e in forced)
    assert abs(hits - n * p) < 4 * math.sqrt(n * p * (1 - p))
    assert counter.draws["faults/0"] == n


def test_share_times_ramp_sets_the_probability_and_zero_draws_nothing():
    n = 20_000
    tl, counter = streams_of([fault("error_rate", share=0.8, duration=1e6, ramp=[(0.0, 0.5)]),
                              fault("error_rate", share=0.0, start=100.0, duration=1e6)])
    hits = sum(tl.call_effect(*GPT, 100.0 + k).forced_status == ERROR for k in range(n))
    assert abs(hits - 0.4 * n) < 4 * math.sqrt(n * 0.4 * 0.6)
    assert counter.draws["faults/1"] == 0
    assert counter.names == ["faults/0", "faults/1"]


def test_the_earliest_forcing_fault_wins_and_later_ones_are_not_drawn():
    tl, counter = streams_of([
        fault("error_rate", start=110.0, share=0.5, fail_after_s=1.0),
        fault("outage", start=100.0, mode="hang"),
        fault("rate_limit", start=105.0, share=1.0, limit_factor=0.5)])
    e = tl.call_effect(*GPT, 120.0)
    assert (e.forced_status, e.forced_after_s) == (TIMEOUT, math.inf)
    assert e.fault_names == ("outage-1", "rate_limit-2", "error_rate-0")
    assert e.limit_factor == 0.5                      # the limiter still shrinks though the 429 lost
    assert counter.draws["faults/0"] == 0


def test_at_the_same_start_the_fault_listed_first_is_asked_first():
    e = timeline(fault("rate_limit", share=1.0, name="first"), fault("error_rate", share=1.0, name="second")
                 ).call_effect(*GPT, 120.0)
    assert e.forced_status == RATE_LIMITED and e.fault_names == ("first", "second")


def test_a_partial_fault_that_misses_lets_the_next_one_force():
    tl = timeline(fault("error_rate", start=90.0, duration=1e3, share=0.5), fault("rate_limit", duration=1e3))
    statuses = {tl.call_effect(*GPT, 120.0 + k).forced_status for k in range(200)}
    assert statuses == {ERROR, RATE_LIMITED}


def test_adding_a_fault_leaves_the_other_faults_draws_alone():
    base = [fault("error_rate", share=0.5, duration=1e6)]
    more = base + [fault("error_rate", share=0.5, start=5e6, duration=10.0, targets=["anthropic"])]
    a, b = timeline(*base), timeline(*more)
    times = 100.0 + np.arange(500.0)
    assert [a.call_effect(*GPT, t).forced_status for t in times] == \
           [b.call_effect(*GPT, t).forced_status for t in times]


# ------------------------------------------------------------------------------------------ products, sums

def test_latency_multipliers_multiply_and_limit_factors_multiply_without_the_ramp():
    tl = timeline(fault("latency", latency_multiplier=3.0),
                  fault("latency", latency_multiplier=2.0, ramp=[(0.0, 0.5)]),
                  fault("rate_limit", share=0.0, limit_factor=0.5, ramp=[(0.0, 0.1)]),
                  fault("rate_limit", share=0.0, limit_factor=0.4))
    e = tl.call_effect(*GPT, 120.0)
    assert e.latency_multiplier == pytest.approx(3.0 * 1.5)
    assert e.limit_factor == pytest.approx(0.2)
    assert e.forced_status is None
    stray = timeline(fault("error_rate", share=0.0, limit_factor=0.5)).call_effect(*GPT, 120.0)
    assert stray.limit_factor == 1.0                  # only rate_limit faults shrink the limits


def test_degradations_add_up_and_are_capped_at_one():
    tl = timeline(fault("degradation", hallucination_prob=0.1, parse_failure_prob=0.6, ramp=[(0.0, 0.5)]),
                  fault("degradation", hallucination_prob=0.2, parse_failure_prob=0.7))
    e = tl.call_effect(*GPT, 120.0)
    assert e.hallucination_add == pytest.approx(0.25)
    assert e.parse_failure_add == 1.0
    worse = timeline(fault("degradation", hallucination_prob=0.7), fault("degradation", hallucination_prob=0.6))
    assert worse.call_effect(*GPT, 120.0).hallucination_add == 1.0


def test_a_neutral_effect_when_matching_faults_do_not_fire():
    e = timeline(fault("error_rate", share=0.0)).call_effect(*GPT, 120.0)
    assert isinstance(e, CallEffect)
    assert (e.forced_status, e.latency_multiplier, e.limit_factor, e.hallucination_add) == (None, 1.0, 1.0, 0.0)
    assert e.fault_names == ("error_rate-0",)
    with pytest.raises(AttributeError):
        e.something_else = 1                          # __slots__: no per-call dict


# ------------------------------------------------------------------------------------------ time

def test_start_is_inclusive_and_end_exclusive():
    tl = timeline(fault("outage", start=100.0, duration=50.0))
    assert tl.call_effect(*GPT, math.nextafter(100.0, 0.0)) is None
    assert tl.call_effect(*GPT, 100.0).forced_status == ERROR
    assert tl.call_effect(*GPT, math.nextafter(150.0, 0.0)).forced_status == ERROR
    assert tl.call_effect(*GPT, 150.0) is None
    assert tl.call_effect(*GPT, 100.0).forced_status == ERROR          # and back again


def _reference_effect(configs, uniforms, provider, label, now):
    """Brute force: recompute from the configs, no cache (the same rules, written plainly)."""
    order = sorted(range(len(configs)), key=lambda i: (configs[i].start, i))
    hits = [i for i in order if configs[i].start <= now < configs[i].end and configs[i].kind != "cost_spike"
            and (not configs[i].targets or provider in configs[i].targets or label in configs[i].targets)]
    if not hits:
        return None
    forced, after = None, 0.0
    latency, limit, halluc, parse = 1.0, 1.0, 0.0, 0.0
    for i in hits:
        c = configs[i]
        s = ramp_scale(c.ramp, now - c.start)
        if c.kind == "latency":
            latency *= 1 + (c.latency_multiplier - 1) * s
        elif c.kind == "degradation":
            halluc += c.hallucination_prob * s
            parse += c.parse_failure_prob * s
        else:
            if c.kind == "rate_limit":
                limit *= c.limit_factor
            p = min(1.0, c.share * s)
            if forced is None and p > 0 and (p >= 1 or uniforms[i]() < p):
                forced = {"outage": TIMEOUT if c.mode == "hang" else ERROR, "error_rate": ERROR,
                          "rate_limit": RATE_LIMITED}[c.kind]
                after = math.inf if c.kind == "outage" and c.mode == "hang" else c.fail_after_s
    return (forced, after, latency, limit, min(1.0, halluc), min(1.0, parse))


def _random_faults(rng, n=8):
    kinds = ["outage", "error_rate", "latency", "rate_limit", "degradation", "cost_spike"]
    targets = [[], ["openai"], ["openai/gpt-4o"], ["anthropic"], ["anthropic/claude", "openai"]]
    out = []
    for _ in range(n):
        start, duration = float(rng.integers(0, 90)), float(rng.integers(1, 40))
        ramp = [] if rng.random() < 0.5 else [(0.0, float(rng.random())), (duration, float(rng.random()))]
        out.append(FaultConfig(
            kind=kinds[rng.integers(len(kinds))], targets=targets[rng.integers(len(targets))], start=start,
            duration=duration, share=float(rng.choice([0.0, 0.3, 1.0])), mode=rng.choice(["fail_fast", "hang"]),
            latency_multiplier=1.0 + float(rng.random()) * 3, limit_factor=0.1 + 0.9 * float(rng.random()),
            hallucination_prob=float(rng.random()) * 0.5, parse_failure_prob=float(rng.random()) * 0.5,
            ramp=ramp))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_cached_answers_equal_brute_force_forward_backward_and_on_boundaries(seed):
    rng = np.random.default_rng(seed)
    configs = _random_faults(rng)
    tl = FaultTimeline(configs, Streams(seed).uniform)
    reference_streams = Streams(seed)
    uniforms = [reference_streams.uniform(f"faults/{i}") for i in range(len(configs))]
    boundaries = [t for c in configs for t in (c.start, c.end)]
    forward = np.sort(rng.uniform(-5, 140, 300))
    jumpy = rng.uniform(-5, 140, 300)
    times = list(forward) + list(forward[::-1]) + list(jumpy) + boundaries + boundaries[::-1]
    for now in times:
        for provider, label in (GPT, CLAUDE, ("other", "other/x")):
            got = tl.call_effect(provider, label, float(now))
            want = _reference_effect(configs, uniforms, provider, label, float(now))
            if want is None:
                assert got is None, now
            else:
                assert got is not None, now
                assert (got.forced_status, got.forced_after_s) == want[:2], now
                assert got.latency_multiplier == pytest.approx(want[2])
                assert got.limit_factor == pytest.approx(want[3])
                assert got.hallucination_add == pytest.approx(want[4])
                assert got.parse_failure_add == pytest.approx(want[5])
        active = [c for c in configs if c.start <= now < c.end]
        assert sorted(map(id, tl.active(float(now)))) == sorted(map(id, active))


# ------------------------------------------------------------------------------------------ cost spikes

def test_cost_spikes_combine_over_the_spikes_that_hit_and_ignore_targets():
    tl = timeline(fault("cost_spike", token_multiplier=3.0, extra_llm_calls=2, targets=["openai"]),
                  fault("cost_spike", token_multiplier=2.0, extra_llm_calls=5, start=120.0),
                  fault("outage", start=0.0, duration=1000.0))
    assert tl.request_effect(50.0) is None
    assert tl.request_effect(110.0) == (3.0, 2)
    assert tl.request_effect(130.0) == (6.0, 7)
    assert tl.request_effect(160.0) == (2.0, 5)
    assert tl.request_effect(170.0) is None


def test_a_cost_spike_hits_its_share_of_requests_and_full_spikes_draw_nothing():
    n = 20_000
    tl, counter = streams_of([fault("cost_spike", share=0.25, token_multiplier=4.0, duration=1e6),
                              fault("cost_spike", share=1.0, extra_llm_calls=1, duration=1e6)])
    effects = [tl.request_effect(100.0 + k) for k in range(n)]
    heavy = sum(e == (4.0, 1) for e in effects)
    assert all(e in ((4.0, 1), (1.0, 1)) for e in effects)
    assert abs(heavy - 0.25 * n) < 4 * math.sqrt(n * 0.25 * 0.75)
    assert counter.draws == {"faults/0": n, "faults/1": 0}


# ------------------------------------------------------------------------------------------ records

def test_windows_and_events_per_fault_and_target():
    tl = timeline(fault("error_rate", start=200.0, duration=10.0, share=0.25, name="tail",
                        targets=["openai", "anthropic/claude"], ramp=[(0.0, 1.0), (10.0, 0.0)]),
                  fault("outage", start=100.0, duration=100.0, name="down", targets=["openai"]),
                  fault("latency", start=150.0, duration=5.0, latency_multiplier=2.5))
    assert tl.windows() == [FaultWindow(100.0, 200.0, "outage", "down", ("openai",)),
                            FaultWindow(150.0, 155.0, "latency", "latency-2", ()),
                            FaultWindow(200.0, 210.0, "error_rate", "tail", ("openai", "anthropic/claude"))]
    rows = [(e.time_s, e.kind, e.subject, e.fault_kind, e.fault_name) for e in tl.events()]
    assert rows == [
        (100.0, "fault_start", "openai", "outage", "down"),
        (150.0, "fault_start", "all", "latency", "latency-2"),
        (155.0, "fault_end", "all", "latency", "latency-2"),
        (200.0, "fault_end", "openai", "outage", "down"),
        (200.0, "fault_start", "openai", "error_rate", "tail"),
        (200.0, "fault_start", "anthropic/claude", "error_rate", "tail"),
        (210.0, "fault_end", "openai", "error_rate", "tail"),
        (210.0, "fault_end", "anthropic/claude", "error_rate", "tail"),
    ]
    tail = "error_rate tail share=0.25 ramped"          # the detail, for people
    assert [e.detail for e in tl.events()] == [
        "outage down share=1.00 mode=fail_fast", "latency latency-2 latency_multiplier=2.5",
        "latency latency-2 latency_multiplier=2.5", "outage down share=1.00 mode=fail_fast", tail, tail, tail, tail]
    assert {e.from_state for e in tl.events()} == {None}


def test_in_any_window_is_vectorised_and_filters_by_kind():
    tl = timeline(fault("outage", start=100.0, duration=50.0),
                  fault("latency", start=140.0, duration=30.0, latency_multiplier=2.0),
                  fault("error_rate", start=300.0, duration=10.0))
    t = np.array([0.0, 100.0, 149.9, 150.0, 169.9, 170.0, 299.0, 300.0, 310.0])
    assert tl.in_any_window(t).tolist() == [False, True, True, True, True, False, False, True, False]
    assert tl.in_any_window(t, kinds=["outage", "error_rate"]).tolist() == \
           [False, True, True, False, False, False, False, True, False]
    assert tl.in_any_window(t, kinds="latency").tolist() == \
           [False, False, True, True, True, False, False, False, False]
    assert not tl.in_any_window(t, kinds=["cost_spike"]).any()
    assert timeline().in_any_window(t).tolist() == [False] * len(t)


def test_in_any_window_matches_brute_force():
    rng = np.random.default_rng(3)
    configs = _random_faults(rng, n=12)
    tl = FaultTimeline(configs, Streams(0).uniform)
    t = np.concatenate([rng.uniform(-5, 140, 2000), [c.start for c in configs], [c.end for c in configs]])
    for kinds in (None, ["outage", "error_rate"], ["degradation"]):
        want = np.zeros(len(t), dtype=bool)
        for c in configs:
            if kinds is None or c.kind in kinds:
                want |= (t >= c.start) & (t < c.end)
        np.testing.assert_array_equal(tl.in_any_window(t, kinds=kinds), want)
