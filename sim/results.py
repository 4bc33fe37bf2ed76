"""A run's results: four frames, a summary, and the scenario that produced them.

``requests`` has one row per user request, ``calls`` one per provider attempt, ``timeseries`` one per
interval and ``events`` one per state change; ``summary`` holds the headline numbers plus the seed, the
replication, the simulated and the wall time. :meth:`Result.save` writes them as Parquet and JSON with the
fully resolved scenario as YAML beside them; it writes into a temporary folder and renames it into place
only when everything is written, so an interrupted save leaves no half-written results.

Replacing a folder deletes it, so only a folder this package wrote may be replaced: every results folder
carries a marker file (:data:`RESULTS_MARKER`), and an existing folder without it (unless empty) is refused
before anything runs: ``--out .``, ``--out ~`` or ``--out ~/Documents`` is an error, not a deleted folder.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from sim.config import Scenario, validate_scenario
from sim.errors import ScenarioError

FRAMES = ("requests", "calls", "timeseries", "events")
RESULTS_MARKER = ".llm-traffic-sim-results"
"""The file that marks a folder as written by this package, so a later run may replace it."""


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _json_safe(value.item())
    return value


@dataclass
class Result:
    scenario: Scenario
    requests: pd.DataFrame
    calls: pd.DataFrame
    timeseries: pd.DataFrame
    events: pd.DataFrame
    summary: dict = field(default_factory=dict)

    def save(self, out_dir: str | Path, charts: bool | None = None) -> Path:
        """Write frames, summary.json, scenario.yaml (and charts) to ``out_dir``, atomically."""
        with atomic_dir(out_dir) as tmp:
            self.write_into(tmp, charts=self.scenario.output.charts if charts is None else charts)
        return Path(out_dir)

    def write_into(self, folder: Path, charts: bool = True) -> None:
        for name in FRAMES:
            getattr(self, name).to_parquet(folder / f"{name}.parquet", index=False)
        summary = {k: _json_safe(v) for k, v in self.summary.items()}
        (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        (folder / "scenario.yaml").write_text(self.scenario.to_yaml())
        if charts:
            from sim.report.plots import write_run_charts
            write_run_charts(self, folder)

    @classmethod
    def load(cls, folder: str | Path) -> "Result":
        import yaml
        folder = Path(folder)
        scenario = validate_scenario(yaml.safe_load((folder / "scenario.yaml").read_text()))
        frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in FRAMES}
        summary = json.loads((folder / "summary.json").read_text())
        return cls(scenario=scenario, summary=summary, **frames)


def check_out_dir(out: str | Path) -> Path:
    """``out`` made absolute, after checking it can be written and replaced; ScenarioError saying why not.

    Call it before a long run so that a bad ``--out`` fails at once; :func:`atomic_dir` calls it again.
    """
    out = Path(out).expanduser().absolute()
    out = Path(os.path.normpath(out))
    if not out.name:
        raise ScenarioError(f"--out {out}: the filesystem root cannot be an output folder")
    check_replaceable(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.with_name(f"{out.name}.tmp-probe-{os.getpid()}")
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        raise ScenarioError(f"--out {out}: cannot write there: {err.strerror or err}") from None
    return out


@contextmanager
def atomic_dir(out: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` to write into; it becomes ``out`` only if the block completes."""
    out = check_out_dir(out)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        (tmp / RESULTS_MARKER).write_text("written by llm-traffic-sim; a later run may replace this folder\n")
    except OSError as err:
        raise ScenarioError(f"--out {out}: cannot write there: {err.strerror or err}") from None
    try:
        yield tmp
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_results_folder(folder: Path) -> bool:
    """Whether ``folder`` is a folder this package wrote (it has the marker), or an empty folder."""
    return folder.is_dir() and ((folder / RESULTS_MARKER).is_file() or not any(folder.iterdir()))


def check_replaceable(target: Path) -> None:
    """Refuse an output folder whose replacement would delete something this package did not write."""
    if target.exists() and not is_results_folder(target):
        what = "a folder that is not a results folder written by this program" if target.is_dir() \
            else "not a folder"
        raise ScenarioError(f"--out {target}: exists and is {what} (no {RESULTS_MARKER}; nothing there is "
                            "deleted): choose a new or empty folder")


def replace_dir(new: Path, target: Path) -> None:
    """Move a completed folder into place, replacing an older one only after the new one is complete."""
    check_replaceable(target)
    old = None
    if target.exists():
        old = target.with_name(f"{target.name}.tmp-old-{os.getpid()}")
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
