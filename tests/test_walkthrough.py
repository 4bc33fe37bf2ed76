"""The notebook walkthrough runs top to bottom (like SimPy's documented examples, run by the tests)."""
import runpy

from tests.conftest import ROOT


def test_the_walkthrough_runs_top_to_bottom(capsys):
    runpy.run_path(str(ROOT / "notebooks" / "walkthrough.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Cost per day" in out and "no_resilience" in out and "saved to" in out
    assert (ROOT / "results" / "walkthrough" / "summary.json").exists()
