"""Memory per request: the compact columns and frame building give the same values as the plain ways, and a
run's peak traced memory grows by a bounded number of bytes per request."""
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import sim
from sim import metrics
from sim.model.run import _names_of
from sim.model.workload import scalar_column
from sim.record import GrowableColumns
from tests.conftest import small_scenario


@pytest.mark.parametrize("values", [
    np.array([0.1, -2.5e300, np.nan, np.inf, 5e-324]), np.array([0, -1, 2**62], dtype=np.int64),
    np.array([7, -(2**31), 2**31 - 1], dtype=np.int32), np.array([True, False, True]), np.array([], dtype=float),
    np.arange(10, dtype=np.int64)[::2]])
def test_a_scalar_column_reads_back_what_a_list_would(values):
    column = scalar_column(values)
    as_list = values.tolist()
    assert len(column) == len(as_list)
    for got, want in zip(column, as_list):
        assert type(got) is (int if isinstance(want, bool) else type(want))
        assert got == want or (got != got and want != want)          # NaN reads back as NaN
    assert column.itemsize == values.itemsize


def test_taking_the_call_columns_keeps_every_row_and_drops_the_spare_capacity():
    cols = GrowableColumns({"a": "int64", "b": "float64"}, capacity=64)
    for k in range(40):
        j = cols.next_row()
        cols.columns["a"][j], cols.columns["b"][j] = k, k / 4
    taken = cols.take()
    assert list(taken["a"]) == list(range(40)) and list(taken["b"]) == [k / 4 for k in range(40)]
    assert len(taken["a"]) == 40 and taken["a"].base is None          # a copy of the rows, not a view of 64
    assert cols.size == 0


def test_names_from_codes_equal_a_categorical_of_the_names():
    rng = np.random.default_rng(5)
    names = ["openai", "anthropic", "openai", "google", ""]
    for size in (0, 1, 50, 1000):
        for high in (1, 3, len(names)):
            codes = rng.integers(0, high, size).astype(np.int16)
            want = pd.Categorical(np.array(names, dtype=object)[codes.astype(np.int64)])
            got = _names_of(codes, names)
            assert got.dtype == want.dtype and list(got.categories) == list(want.categories)
            assert got.equals(want)


def _peak_by_lexsort(enter, leave):
    """The definition: +1 at each entry, -1 at each exit (exits first at equal times); the running maximum."""
    times = np.concatenate([leave, enter])
    steps = np.concatenate([-np.ones(len(leave)), np.ones(len(enter))])
    order = np.lexsort((steps, times))
    return int(np.max(np.cumsum(steps[order]))) if len(enter) else 0


def test_peak_in_state_agrees_with_the_event_sweep_ties_included():
    rng = np.random.default_rng(9)
    for trial in range(500):
        n = int(rng.integers(0, 30))
        enter = rng.integers(0, 15, n).astype(float) if trial % 2 else rng.random(n)
        leave = enter + (rng.integers(0, 4, n) if trial % 2 else rng.random(n))
        assert metrics.peak_in_state(enter, leave) == _peak_by_lexsort(enter, leave)


def test_requests_after_warmup_are_the_masked_rows_with_or_without_a_copy():
    arrival = np.sort(np.random.default_rng(1).random(200) * 100)
    frame = pd.DataFrame({"request_id": np.arange(200), "arrival_s": arrival})
    for warmup in (-1.0, 0.0, arrival[0], 37.5, arrival[-1], 101.0):
        want = frame[frame["arrival_s"] >= warmup]
        pd.testing.assert_frame_equal(metrics.after_warmup(frame, warmup), want)
    shuffled = frame.sample(frac=1.0, random_state=3)              # not sorted: the mask, as before
    pd.testing.assert_frame_equal(metrics.after_warmup(shuffled, 50.0), shuffled[shuffled["arrival_s"] >= 50.0])


def test_latency_percentiles_in_pieces_equal_one_groupby():
    rng = np.random.default_rng(2)
    bins = np.sort(rng.integers(0, 40, 5000))
    values = rng.lognormal(0, 1, 5000)
    whole = metrics._percentiles(pd.Series(values), pd.Series(bins))
    pieces = metrics._percentiles_by_bin(values, bins, rows_per_piece=97)
    pd.testing.assert_frame_equal(pieces, whole, check_exact=True)


def _peak_bytes(scenario) -> tuple[int, int]:
    tracemalloc.start()
    try:
        n = len(sim.simulate(scenario).requests)
        return tracemalloc.get_traced_memory()[1], n
    finally:
        tracemalloc.stop()


def test_a_run_holds_at_most_400_bytes_more_per_extra_request():
    # the slope between two run lengths: what each request adds to the peak, without the fixed costs
    # (imports, the interpreter); the frames alone are ~200 bytes a request with one call each (126 + 72)
    base = small_scenario(**{"workload.rate_per_s": 20.0, "gateway.workers": 32})
    sim.simulate(base.with_overrides({"duration": "1m"}))               # imports and first-call warm-up
    peak_short, n_short = _peak_bytes(base.with_overrides({"duration": "8m"}))
    peak_long, n_long = _peak_bytes(base.with_overrides({"duration": "24m"}))
    per_request = (peak_long - peak_short) / (n_long - n_short)
    assert 150 < per_request < 400, f"{per_request:.0f} bytes per request"
