"""A run's results: four frames, a summary, and the scenario that produced them.

``requests`` has one row per user request, ``calls`` one per provider attempt, ``timeseries`` one per
interval and ``events`` one per state change; ``summary`` holds the headline numbers plus the seed, the
replication, the simulated and the wall time. :meth:`Result.save` writes them as Parquet and JSON with the
fully resolved scenario as YAML beside them; it writes into a temporary folder and renames it into place
only when everything is written, so an interrupted save leaves no half-written results.

Replacing a folder deletes it, so only a folder this package wrote may be replaced: every results folder
carries a marker file (:data:`RESULTS_MARKER`), and an existing folder without it (unless empty) is refused
before anything runs: ``--out .``, ``--out ~`` or ``--out ~/Documents`` is an error, not a deleted folder.

Every results folder also holds ``manifest.json`` (:data:`MANIFEST`, read with :func:`read_manifest`): the
package version, the scenario's name, the sha256 of each resolved scenario YAML, the seed, replications,
variants, the command line and the UTC time it was written. A run replaces a results folder silently only if
it was written for the same scenario (or is an older folder with the marker alone); another scenario's results
are kept unless ``--force`` is given. ``--force`` never lets a run replace a folder without the marker.

Two runs writing to one folder at once would replace each other's results: :func:`check_out_dir` takes an
advisory lock (``fcntl.flock``) on ``.<name>.lock`` beside the folder and holds it until :func:`atomic_dir`
has moved the results into place; the second run is refused with the first one's pid. A run killed with
SIGKILL leaves ``NAME.tmp-PID`` or ``NAME.tmp-old-PID`` behind: the next run targeting NAME deletes those
whose process is gone and that carry the marker, and only reports the others.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import sys
from datetime import datetime, timezone
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
MANIFEST = "manifest.json"
"""What produced a results folder: version, scenario name and sha256, seed, variants, command line, time."""
_LOCKS: dict[Path, int] = {}


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


def check_out_dir(out: str | Path, scenario_name: str | None = None, force: bool = False) -> Path:
    """``out`` made absolute, after checking it can be written and replaced; ScenarioError saying why not.

    Call it before a long run so that a bad ``--out`` fails at once; :func:`atomic_dir` calls it again.
    It locks ``out`` for this process (until :func:`atomic_dir` completes) and clears stale temporaries.
    With ``scenario_name``, results of another scenario there are refused unless ``force``.
    """
    out = Path(out).expanduser().absolute()
    out = Path(os.path.normpath(out))
    if not out.name:
        raise ScenarioError(f"--out {out}: the filesystem root cannot be an output folder")
    check_replaceable(out)
    if scenario_name is not None and not force:
        check_same_scenario(out, scenario_name)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock_out_dir(out)
        clear_stale_temporaries(out)
        probe = out.with_name(f"{out.name}.tmp-probe-{os.getpid()}")
        probe.mkdir()
        probe.rmdir()
    except OSError as err:
        raise ScenarioError(f"--out {out}: cannot write there: {err.strerror or err}") from None
    return out


@contextmanager
def atomic_dir(out: str | Path, **manifest) -> Iterator[Path]:
    """A temporary folder beside ``out`` to write into; it becomes ``out`` only if the block completes.

    ``manifest`` adds fields (``replications``, ``seed``...) to what :func:`build_manifest` finds written.
    """
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
        (tmp / MANIFEST).write_text(json.dumps(build_manifest(tmp, **manifest), indent=2) + "\n")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        unlock_out_dir(out)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("llm-traffic-sim")
    except PackageNotFoundError:
        return "unknown"


def build_manifest(folder: Path, **extra) -> dict:
    """The manifest of a written results folder: found from its scenario.yaml and summary.json files."""
    import yaml
    top = folder / "scenario.yaml"
    base = yaml.safe_load(top.read_text()) if top.is_file() else None
    order = list((base or {}).get("variants") or {})          # the designs in the scenario's order
    nested = sorted(folder.glob("*/scenario.yaml"),
                    key=lambda p: (order.index(p.parent.name) if p.parent.name in order else len(order), p.parent.name))
    scenarios = ([top] if top.is_file() else []) + nested
    digests = {("" if p.parent == folder else p.parent.name): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in scenarios}
    name = yaml.safe_load(scenarios[0].read_text()).get("name") if scenarios else None
    summaries = sorted(folder.glob("summary.json")) or sorted(folder.glob("*/summary.json"))
    seed = json.loads(summaries[0].read_text()).get("seed") if summaries else None
    variant_digests = {v: d for v, d in digests.items() if v}
    manifest = {"version": _package_version(), "scenario": name,
                "scenario_sha256": digests.get("", variant_digests),
                "variants_sha256": variant_digests or None, "seed": seed, "replications": 1,
                "variants": list(variant_digests), "argv": list(sys.argv),
                "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    manifest = {k: v for k, v in manifest.items() if v is not None}
    manifest.update({k: v for k, v in extra.items() if v is not None})
    return manifest


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest of a results folder, or None for a folder without one (older results, or not ours)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def check_same_scenario(target: Path, scenario_name: str) -> None:
    """Refuse to replace results written for another scenario (``--force`` skips this check)."""
    manifest = read_manifest(target) if target.is_dir() else None
    if manifest and manifest.get("scenario") not in (None, scenario_name):
        raise ScenarioError(f"--out {target}: holds results of scenario {manifest['scenario']!r}, not "
                            f"{scenario_name!r}: give --force to replace them, or another --out")


def _lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.lock")


def lock_out_dir(out: Path) -> None:
    """Take the advisory lock on ``out`` for this process; ScenarioError naming the holder's pid if taken."""
    import fcntl
    if out in _LOCKS:
        return
    path = _lock_path(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ScenarioError(f"--out {out}: another run (pid {holder}) is writing to {out}") from None
        # the owner removes the file when it is done: a lock on a file already unlinked locks nothing, so
        # keep it only if it is still the file at the path, else open the new one and try again
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _LOCKS[out] = fd


def unlock_out_dir(out: Path) -> None:
    """Release the lock this process holds on ``out`` and remove its lock file (it is the owner)."""
    import fcntl
    fd = _LOCKS.pop(out, None)
    if fd is None:
        return
    try:
        _lock_path(out).unlink()
    except OSError:
        pass
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def release_locks() -> None:
    """Release every lock this process still holds (a command that failed before writing its results)."""
    for out in list(_LOCKS):
        unlock_out_dir(out)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale_temporaries(out: Path) -> None:
    """Delete ``NAME.tmp-PID``/``NAME.tmp-old-PID`` of dead runs that carry the marker; report the rest."""
    pattern = re.compile(re.escape(out.name) + r"\.tmp-(?:old-)?(\d+)$")
    for tmp in sorted(out.parent.glob(f"{out.name}.tmp-*")):
        match = pattern.match(tmp.name)
        if not match or not tmp.is_dir() or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        if (tmp / RESULTS_MARKER).is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"removed {tmp}, left by an interrupted run (pid {match.group(1)})", file=sys.stderr)
        else:
            print(f"warning: {tmp} looks like an interrupted run's folder but has no {RESULTS_MARKER}; "
                  "left in place", file=sys.stderr)


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
