"""The notebook walkthrough runs top to bottom (like SimPy's documented examples, run by the tests)."""
import runpy

import pytest

from tests.conftest import ROOT


def _tree(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.slow
def test_the_walkthrough_runs_top_to_bottom_and_writes_where_it_is_told(capsys, monkeypatch, tmp_path):
    results_before = _tree(ROOT / "results")
    monkeypatch.setenv("WALKTHROUGH_OUT", str(tmp_path / "walkthrough"))
    runpy.run_path(str(ROOT / "notebooks" / "walkthrough.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Cost per day" in out and "no_resilience" in out and f"saved to {tmp_path / 'walkthrough'}" in out
    assert (tmp_path / "walkthrough" / "summary.json").exists()
    assert _tree(ROOT / "results") == results_before      # nothing written into the repository
