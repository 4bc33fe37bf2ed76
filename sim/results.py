"""A run's results: four frames, a summary, and the scenario that produced them.

``requests`` has one row per user request, ``calls`` one per provider attempt, ``timeseries`` one per
interval and ``events`` one per state change; ``summary`` holds the headline numbers plus the seed, the
replication, the simulated and the wall time. :meth:`Result.save` writes them as Parquet and JSON with the
fully resolved scenario as YAML beside them; it writes into a temporary folder and renames it into place
only when everything is written, so an interrupted save leaves no half-written results.

An output folder is only ever replaced if it is empty or holds results this program wrote (it carries the
:data:`RESULTS_MARKER` file): ``--out .`` or ``--out ~`` must never delete what the run did not write.
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
"""An empty file in every folder :func:`atomic_dir` writes: the proof that replacing it loses nothing else."""


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
    if out.exists() and not _replaceable(out):
        raise ScenarioError(f"--out {out}: exists and is not a results folder written by this program "
                            "(nothing there is deleted); choose a new or empty folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.with_name(f"{out.name}.tmp-probe-{os.getpid()}")
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        raise ScenarioError(f"--out {out}: cannot write there: {err.strerror or err}") from None
    return out


def _replaceable(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    return (folder / RESULTS_MARKER).is_file() or not any(folder.iterdir()) or _older_results(folder)


_RESULT_SUFFIXES = (".parquet", ".png", ".csv")
_RESULT_NAMES = ("summary.json", "scenario.yaml")


def _older_results(folder: Path, depth: int = 0) -> bool:
    """A results folder written before the marker existed: nothing in it but frames, charts and summaries."""
    entries = list(folder.iterdir())
    for entry in entries:
        if entry.is_symlink():
            return False
        if entry.is_dir():
            if depth >= 1 or not _older_results(entry, depth + 1):
                return False
        elif not (entry.suffix in _RESULT_SUFFIXES or entry.name in _RESULT_NAMES):
            return False
    return bool(entries)


@contextmanager
def atomic_dir(out: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` to write into; it becomes ``out`` only if the block completes."""
    out = check_out_dir(out)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        (tmp / RESULTS_MARKER).touch()
    except OSError as err:
        raise ScenarioError(f"--out {out}: cannot write there: {err.strerror or err}") from None
    try:
        yield tmp
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(new: Path, target: Path) -> None:
    """Move a completed folder into place, replacing an older one only after the new one is complete."""
    old = None
    if target.exists():
        old = target.with_name(f"{target.name}.tmp-old-{os.getpid()}")
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
