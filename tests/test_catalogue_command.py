"""``python -m sim catalogue``: every entry listed, within 100 columns, with its source; JSON for tools."""
import json

import pytest

from sim.cli import main
from sim.provider_catalogue import load_catalogue
from sim.report.catalogue_tables import compact_count


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


def run(capsys, *argv) -> str:
    assert main(["catalogue", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("value, text", [(None, "-"), (950, "950"), (30_000, "30k"), (1_047_576, "1.05M"),
                                         (150_000_000, "150M"), (8_192, "8.19k"), (2e9, "2G")])
def test_compact_counts(value, text):
    assert compact_count(value) == text


def test_the_tables_fit_100_columns_and_name_every_entry_with_its_source(capsys, cat):
    out = run(capsys)
    assert max(len(line) for line in out.splitlines()) <= 100
    table_rows = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]
    for name in cat.model_names() + cat.limit_preset_names():
        assert name in table_rows, name                         # a row of its table
        assert f"{name} (" in out, name                         # and its source paragraph, with the date
    assert out.count("Sources (as_of") == 2


def test_not_published_limits_show_as_question_marks(capsys, cat):
    out = run(capsys, "limits")
    rows = {line.split()[0]: line for line in out.split("\nSources")[0].splitlines()[3:]}
    for name in cat.limit_preset_names():
        expected = len(cat.limit_preset(name).get("must_supply", []))
        assert rows[name].split().count("?") == expected, name


def test_provider_filter_and_sections(capsys, cat):
    out = run(capsys, "models", "--provider", "google")
    assert "gemini-2.5-flash" in out and "claude-sonnet-4" not in out and "Limit presets" not in out
    out = run(capsys, "limits")
    assert "Models" not in out and "anthropic-custom" in out


def test_json_is_the_catalogue_itself(capsys, cat):
    data = json.loads(run(capsys, "--json"))
    assert data["models"] == {n: dict(cat.models[n]) for n in cat.model_names()}
    assert data["limit_presets"] == {n: dict(cat.limit_presets[n]) for n in cat.limit_preset_names()}
    only = json.loads(run(capsys, "limits", "--provider", "openai", "--json"))
    assert "models" not in only and {e["provider"] for e in only["limit_presets"].values()} == {"openai"}


def test_an_unknown_provider_is_a_clear_error(capsys):
    assert main(["catalogue", "--provider", "acme"]) == 2
    assert "--provider: unknown 'acme'; known: anthropic, openai, google" in capsys.readouterr().err
