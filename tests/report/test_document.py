"""The design-review report: what it says about a results folder, and that a real browser shows it whole."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sim.cli import main
from sim.config import load_scenario
from sim.experiments.replications import run_replications
from sim.experiments.variants import run_variants
from sim.report.document import build_report, describe_scenario, month_basis, render_markdown, write_report
from tests.conftest import EXPERIMENTS, small_scenario

OUTAGE = ["duration=33m", "warmup=1m", "workload.dau=1500"]


@pytest.fixture(scope="module")
def outage_folder(tmp_path_factory) -> Path:
    """Two designs of the outage replay, the outage at 14:00 in a 33-minute window (a few seconds to run)."""
    scenario = load_scenario(EXPERIMENTS / "outage_replay.yaml", OUTAGE)
    out = tmp_path_factory.mktemp("report") / "outage"
    run_variants(scenario, ["no_resilience", "breaker_fallback"], out)
    return out


def test_variants_report_says_what_a_reviewer_needs(outage_folder):
    report = build_report(outage_folder)
    text = render_markdown(report)
    assert report.kind == "variants"
    # the scenario in words, with the fault at its clock time
    assert any("outage of anthropic from 14:00 to 14:15" in line for line in report.scenario_lines)
    assert any(line.startswith("Traffic: 1,500 daily active users") for line in report.scenario_lines)
    # what differs between the designs is computed, not typed
    assert any(d.startswith("resilience.breaker") for d in report.differences["breaker_fallback"])
    # the key table: one column per design, the breaker's timing only where there is one
    assert report.key_header == ["metric", "no_resilience", "breaker_fallback"]      # the scenario's order
    opens_after = next(row for row in report.key_rows if row[0] == "breaker opens after (s)")
    assert opens_after[1] == "n/a" and float(opens_after[2]) > 0
    # the events: the breaker opened at a clock time just after 14:00, with its reason and numbers
    opened = [line for line in report.events["breaker_fallback"] if "opens" in line]
    assert opened and re.match(r"14:0\d:\d\d breaker anthropic/claude-sonnet-4 opens \(failure rate \d+% >= 50%\)",
                               opened[0])
    assert "no_resilience" in report.events and not any("breaker" in x for x in report.events["no_resilience"])
    # caveats the run knows about
    assert any(c.startswith("One seed") for c in report.caveats)
    assert any("warm-up" in c for c in report.caveats)
    assert "## Charts" in text and "(comparison.png)" in text and "(breaker_fallback/timeline.png)" in text


def test_month_is_extrapolated_from_daily_traffic_not_the_window():
    scenario = load_scenario(EXPERIMENTS / "outage_replay.yaml", OUTAGE)
    per_month, basis = month_basis(scenario)
    assert per_month == 1500 * 15 * 30
    assert "DAU" in basis
    flat = small_scenario()
    assert month_basis(flat)[0] == pytest.approx(1.0 * 86400 * 30)


def test_replications_report_shows_intervals_and_paired_differences(tmp_path):
    scenario = small_scenario(variants={"one_attempt": {"resilience.retry.max_attempts": 1},
                                        "three_attempts": {"resilience.retry.max_attempts": 3}})
    out = tmp_path / "reps"
    run_replications(scenario, ["one_attempt", "three_attempts"], out, 3)
    report = build_report(out)
    assert report.kind == "replications"
    assert all("±" in cell for row in report.key_rows for cell in row[1:])
    assert report.paired_header == ["metric", "three_attempts - one_attempt"]
    availability = next(row for row in report.paired_rows if row[0] == "availability")
    assert availability[1].startswith("+")          # retries recover errors: a positive paired difference
    assert not any(c.startswith("One seed") for c in report.caveats)
    assert any("3 independent replications" in n for n in report.key_notes)


def test_report_command_writes_both_files_and_refuses_a_folder_without_results(tmp_path, capsys, outage_folder):
    folder = tmp_path / "copy"
    shutil.copytree(outage_folder, folder)
    before = sorted(p.name for p in folder.rglob("*"))
    assert main(["report", str(folder)]) == 0
    after = sorted(p.name for p in folder.rglob("*"))
    assert sorted(set(after) - set(before)) == ["report.html", "report.md"]
    assert "report.html" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "holds no results" in capsys.readouterr().err


def test_describe_scenario_names_each_layer():
    lines = describe_scenario(small_scenario(**{"cache.enabled": True, "resilience.retry.max_attempts": 3}))
    text = "\n".join(lines)
    assert "semantic cache (similarity >= 0.95" in text
    assert "up to 3 attempts per call" in text
    assert "Provider alpha: m1 ($3 / $15" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Injected into a copy of the report: records every error (scripts and resources that fail to load), then,
# once the page has loaded, writes whether every image decoded into the DOM that --dump-dom prints.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || (e.target && e.target.src))), true);
const log = console.error; console.error = (...a) => { window.__errors.push(a.join(' ')); log(...a); };
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const p = document.createElement('pre'); p.id = 'probe';
  p.textContent = `images ${ok}/${imgs.length} errors ${window.__errors.length} ${window.__errors.join('|')}`;
  document.body.appendChild(p);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (.ci/run installs Debian's "
                                             "chromium package)")
def test_report_opens_in_a_real_browser_with_every_image(outage_folder, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(outage_folder, folder)
    html_path, _ = write_report(folder)
    probe = folder / "probe.html"
    probe.write_text(html_path.read_text().replace("<head>", "<head>" + PROBE, 1))
    common = CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    dom = subprocess.run([CHROMIUM, *common, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    found = re.search(r"images (\d+)/(\d+) errors (\d+)", dom)
    assert found, "the page did not finish loading in the browser"
    ok, total, errors = map(int, found.groups())
    assert total >= 3 and ok == total, f"{total - ok} of {total} images did not load"
    assert errors == 0, dom[found.start():found.start() + 400]
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *common, "--window-size=1280,1600", f"--screenshot={shot}", html_path.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000          # a rendered page, not a blank one
