"""Progress: the simulated-time hook changes nothing in the results, and the bar is silent off a terminal."""
import pandas as pd

from sim.model.run import simulate
from sim.progress import fraction_callback, progress
from sim.results import FRAMES
from tests.conftest import small_scenario


def test_a_run_with_a_progress_hook_is_identical_to_one_without():
    scenario = small_scenario(**{"duration": "10m"})
    fractions = []
    plain = simulate(scenario, seed=5)
    hooked = simulate(scenario, seed=5, on_progress=fractions.append)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(plain, name), getattr(hooked, name))
    assert plain.summary["simulated_time_s"] == hooked.summary["simulated_time_s"]
    assert len(fractions) == 101 and fractions == sorted(fractions) and fractions[-1] == 1.0


def test_the_bar_is_a_silent_callback_when_stderr_is_not_a_terminal(capsys):
    with progress(3, desc="runs") as on_run:
        for i in range(1, 4):
            on_run(i, 3)
    assert capsys.readouterr().err == ""


def test_the_bar_draws_on_a_terminal_and_counts_runs(monkeypatch, capsys):
    import sys
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with progress(4, desc="runs") as on_run:
        on_run(1, 4)
        fraction_callback(on_run, steps=4)(0.5)
    err = capsys.readouterr().err
    assert "runs" in err and "/4" in err
    with progress(4, quiet=True) as on_run:
        on_run(4, 4)
    assert capsys.readouterr().err == ""
