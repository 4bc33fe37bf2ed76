"""Results on disk: a save/load round trip is exact, writes are atomic, and only results folders are replaced."""
import json
import math

import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.errors import ScenarioError
from sim.results import FRAMES, MANIFEST, RESULTS_MARKER, Result, atomic_dir, check_out_dir, read_manifest
from tests.conftest import small_scenario


@pytest.fixture(scope="module")
def result():
    return sim.simulate(small_scenario(**{"duration": "10m"}), seed=11)


def test_save_then_load_gives_identical_frames_summary_and_scenario(result, tmp_path):
    out = result.save(tmp_path / "run")
    loaded = Result.load(out)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(result, name))
    assert loaded.scenario == result.scenario
    assert set(loaded.summary) == set(result.summary)
    for key, value in result.summary.items():
        if isinstance(value, float) and math.isnan(value):
            assert loaded.summary[key] is None, key          # JSON has no NaN: stored as null
        else:
            assert loaded.summary[key] == value, key
    assert loaded.summary["seed"] == 11 and loaded.summary["requests_total"] == len(result.requests) > 0


def test_a_saved_folder_holds_the_frames_summary_scenario_and_the_marker(result, tmp_path):
    out = result.save(tmp_path / "run", charts=False)
    names = {p.name for p in out.iterdir()}
    assert names == {f"{name}.parquet" for name in FRAMES} | {"summary.json", "scenario.yaml", RESULTS_MARKER,
                                                                   MANIFEST}
    assert json.loads((out / "summary.json").read_text())["requests_total"] == len(result.requests)


def _fail_after_first_frame(monkeypatch):
    def write_into(self, folder, charts=True):
        self.requests.to_parquet(folder / "requests.parquet")
        raise OSError("disk full")
    monkeypatch.setattr(Result, "write_into", write_into)


def test_a_failure_mid_write_leaves_no_folder_and_no_temporary(result, tmp_path, monkeypatch):
    _fail_after_first_frame(monkeypatch)
    with pytest.raises(OSError, match="disk full"):
        result.save(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_mid_write_keeps_the_previous_results_untouched(result, tmp_path, monkeypatch):
    out = result.save(tmp_path / "run", charts=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _fail_after_first_frame(monkeypatch)
    with pytest.raises(OSError):
        result.save(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_saving_again_replaces_an_earlier_results_folder(result, tmp_path):
    out = result.save(tmp_path / "run", charts=False)
    (out / "stale.csv").write_text("from an earlier run\n")
    other = sim.simulate(result.scenario, seed=12)
    other.save(out, charts=False)
    assert not (out / "stale.csv").exists()
    assert Result.load(out).summary["seed"] == 12
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_an_empty_folder_may_be_written_into(result, tmp_path):
    (tmp_path / "run").mkdir()
    assert Result.load(result.save(tmp_path / "run", charts=False)).summary["seed"] == 11


def test_a_folder_that_is_not_a_results_folder_is_refused_and_kept(result, tmp_path):
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    with pytest.raises(ScenarioError, match="not a results folder"):
        result.save(mine)
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
    assert (mine / "thesis.tex").read_text() == "years of work\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documents"]


def test_a_file_is_refused_as_an_output_folder(result, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n")
    with pytest.raises(ScenarioError, match="not a folder"):
        result.save(target)
    assert target.read_text() == "keep me\n"


def test_the_refusal_comes_before_anything_is_written(tmp_path):
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "a.txt").write_text("x")
    with pytest.raises(ScenarioError):
        with atomic_dir(mine):
            raise AssertionError("the block must not run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documents"]


def test_the_command_line_refuses_a_foreign_folder_with_exit_2_and_one_line(tmp_path, capsys):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(small_scenario(**{"duration": "5m"}).to_yaml())
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "a.txt").write_text("x")
    assert main(["run", str(scenario), "--out", str(mine)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a results folder" in err and str(mine) in err and len(err.splitlines()) == 1
    assert [p.name for p in mine.iterdir()] == ["a.txt"]


def test_the_manifest_names_the_scenario_its_sha256_and_the_seed(result, tmp_path):
    import hashlib
    out = result.save(tmp_path / "run", charts=False)
    manifest = read_manifest(out)
    assert manifest["scenario"] == result.scenario.name and manifest["seed"] == 11
    assert manifest["scenario_sha256"] == hashlib.sha256((out / "scenario.yaml").read_bytes()).hexdigest()
    assert manifest["created_utc"].endswith("+00:00") and manifest["version"]
    assert read_manifest(tmp_path) is None


def test_another_scenarios_results_are_refused_without_force_and_a_marker_only_folder_is_replaceable(result,
                                                                                                     tmp_path):
    out = result.save(tmp_path / "run", charts=False)
    with pytest.raises(ScenarioError, match="--force"):
        check_out_dir(out, scenario_name="other")
    check_out_dir(out, scenario_name="other", force=True)
    check_out_dir(out, scenario_name=result.scenario.name)
    (out / MANIFEST).unlink()
    check_out_dir(out, scenario_name="other")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(ScenarioError, match="not a results folder"):
        check_out_dir(tmp_path / "mine", scenario_name="other", force=True)


_HOLD = """
import sys, time
from sim.results import check_out_dir
check_out_dir(sys.argv[1])
print("locked", flush=True)
time.sleep(30)
"""


def test_a_second_run_on_the_same_out_is_refused_while_the_first_holds_the_lock(tmp_path):
    import subprocess
    import sys
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ScenarioError, match=f"another run \\(pid {holder.pid}\\) is writing"):
            check_out_dir(tmp_path / "run")
    finally:
        holder.kill()
        holder.wait()
    check_out_dir(tmp_path / "run")          # the lock died with its process


def test_stale_temporaries_of_dead_runs_are_removed_only_if_they_carry_the_marker(tmp_path, capsys):
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ours, theirs = tmp_path / f"run.tmp-{dead.pid}", tmp_path / f"run.tmp-old-{dead.pid + 0}"
    ours.mkdir()
    (ours / RESULTS_MARKER).write_text("")
    theirs.mkdir()
    (theirs / "keep.txt").write_text("x")
    check_out_dir(tmp_path / "run")
    assert not ours.exists() and (theirs / "keep.txt").exists()
    err = capsys.readouterr().err
    assert f"removed {ours}" in err and f"{theirs}" in err and "left in place" in err
