"""Checkpoints: an interrupted sweep keeps every run it finished, and ``--resume`` runs only the rest.

Like a bookmark left in a long report: beside the output folder ``<out>`` the sweep keeps ``<out>.partial/``
with a manifest (what was asked: a hash of the resolved scenario, the parameters, the design, the seed and
the replications) and one JSON file per finished run, written the moment the run finishes. A later sweep
with the same arguments reads the finished runs back and runs the missing ones; its rows are the same as
an uninterrupted sweep's, because a run's row depends only on its scenario, overrides, seed and replication.

The folder is ours only when its manifest says so: removing it on success deletes only the files this
module writes, and leaves the folder if anything else is in it.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError

MANIFEST = "sweep-checkpoint.json"
MARKER = "llm-traffic-sim sweep checkpoint"


def checkpoint_dir(out: Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".partial")


def sweep_manifest(scenario_yaml: str, params: dict, design: str, samples: int | None, seed: int,
                   replications: int) -> dict[str, Any]:
    """What identifies a sweep: the same manifest means the same runs and the same rows."""
    return {"written_by": MARKER,
            "scenario_sha256": hashlib.sha256(scenario_yaml.encode()).hexdigest(),
            "params": {k: list(v) for k, v in params.items()}, "design": design, "samples": samples,
            "seed": seed, "replications": replications}


class SweepCheckpoint:
    """The finished runs of one sweep, one file each (``run_<job index>.json``)."""

    def __init__(self, folder: Path, manifest: dict[str, Any]):
        self.folder, self.manifest = Path(folder), manifest

    @classmethod
    def open(cls, folder: Path, manifest: dict[str, Any], resume: bool) -> "SweepCheckpoint":
        """Start a checkpoint, or continue one with ``resume``; ScenarioError when that is not safe."""
        folder = Path(folder)
        if folder.exists():
            if not resume:
                raise ScenarioError(f"{folder}: an interrupted sweep left its finished runs here; add --resume "
                                    "to continue it (or remove the folder to start again)")
            found = _read_manifest(folder)
            different = [k for k in manifest if found.get(k) != json.loads(json.dumps(manifest[k]))]
            if different:
                raise ScenarioError(f"--resume: the checkpoint in {folder} is of a different sweep "
                                    f"({', '.join(different)} differ); rerun with the same arguments")
        else:
            folder.mkdir(parents=True)
            (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
        return cls(folder, manifest)

    def finished(self) -> dict[int, dict]:
        """Job index -> row of every run already saved."""
        rows = {}
        for path in self.folder.glob("run_*.json"):
            rows[int(path.stem.removeprefix("run_"))] = json.loads(path.read_text())
        return rows

    def save(self, index: int, row: dict) -> None:
        tmp = self.folder / f".run_{index}.json.tmp"
        tmp.write_text(json.dumps(row))
        os.replace(tmp, self.folder / f"run_{index}.json")      # a run file is whole or absent

    def remove(self) -> None:
        """Delete the files we wrote, then the folder if nothing else is left in it."""
        for path in self.folder.glob("run_*.json"):
            path.unlink()
        (self.folder / MANIFEST).unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass


def _read_manifest(folder: Path) -> dict:
    try:
        found = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        found = {}
    if found.get("written_by") != MARKER:
        raise ScenarioError(f"{folder}: exists but is not a sweep checkpoint; move it away first")
    return found
