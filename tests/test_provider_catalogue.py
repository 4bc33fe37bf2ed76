"""The packaged catalogue: every entry sourced and dated, look-ups by name, and a useful message for typos."""

import pytest

from sim.provider_catalogue import Catalogue, load_catalogue, without_provenance
from sim.errors import ScenarioError
from sim.estimate import estimate


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def test_packaged_catalogue_loads_and_is_cached(cat):
    assert load_catalogue() is cat
    assert "claude-sonnet-4" in cat.model_names()
    assert "anthropic-tier1-sonnet4" in cat.limit_preset_names()


def test_every_model_has_prices_latency_and_provenance(cat):
    for name in cat.model_names():
        m = cat.model(name)
        assert m["provider"] in ("anthropic", "openai", "google"), name
        assert m["input_usd_per_mtok"] > 0, name
        assert m["output_usd_per_mtok"] > 0, name
        assert isinstance(m["source"], str) and m["source"].strip(), name
        assert isinstance(m["as_of"], str) and m["as_of"].strip(), name
        lat = m["latency"]
        assert lat["type"] == "ttft_throughput", name
        assert lat["ttft_s"] > 0 and lat["tokens_per_s"] > 0 and lat["sigma"] >= 0, name
        assert lat["source"].strip() and lat["as_of"].strip(), name


def test_every_preset_has_limits_and_provenance(cat):
    for name in cat.limit_preset_names():
        p = cat.limit_preset(name)
        for key in ("requests_per_min", "input_tokens_per_min", "output_tokens_per_min"):
            assert key in p, (name, key)
            assert p[key] is None or p[key] > 0, (name, key)
        assert isinstance(p["source"], str) and p["source"].strip(), name
        assert isinstance(p["as_of"], str) and p["as_of"].strip(), name


def test_sonnet4_prices(cat):
    m = cat.model("claude-sonnet-4")
    assert m["provider"] == "anthropic"
    assert m["input_usd_per_mtok"] == 3.0
    assert m["output_usd_per_mtok"] == 15.0


def test_other_reference_prices(cat):
    assert (cat.model("claude-haiku-3.5")["input_usd_per_mtok"], cat.model("claude-haiku-3.5")["output_usd_per_mtok"]) == (0.80, 4.0)
    assert (cat.model("gpt-4o")["input_usd_per_mtok"], cat.model("gpt-4o")["output_usd_per_mtok"]) == (2.50, 10.0)
    assert (cat.model("gpt-4o-mini")["input_usd_per_mtok"], cat.model("gpt-4o-mini")["output_usd_per_mtok"]) == (0.15, 0.60)


def test_tier1_sonnet4_limits(cat):
    p = cat.limit_preset("anthropic-tier1-sonnet4")
    assert (p["requests_per_min"], p["input_tokens_per_min"], p["output_tokens_per_min"]) == (50, 30_000, 8_000)


def test_tier4_sonnet4_and_lesson_presets(cat):
    p = cat.limit_preset("anthropic-tier4-sonnet4")
    assert (p["requests_per_min"], p["input_tokens_per_min"], p["output_tokens_per_min"]) == (4_000, 2_000_000, 400_000)
    lesson = cat.limit_preset("lesson-anthropic-key")
    assert (lesson["requests_per_min"], lesson["input_tokens_per_min"], lesson["output_tokens_per_min"]) == (None, 40_000, None)
    openai = cat.limit_preset("lesson-openai-key")
    assert openai["tokens_per_min"] == 30_000


def test_unknown_names_list_the_known_ones(cat):
    with pytest.raises(KeyError) as err:
        cat.model("gpt-5x")
    message = str(err.value)
    assert message.startswith("unknown model 'gpt-5x' in catalogue; known: ")
    assert "claude-haiku-3.5, claude-opus-4, claude-sonnet-4" in message
    assert "gpt-4o-mini" in message
    with pytest.raises(KeyError, match=r"unknown limit preset 'tier9' in catalogue; known: .*anthropic-tier1-sonnet4"):
        cat.limit_preset("tier9")


def test_lookups_return_independent_copies(cat):
    m = cat.model("claude-sonnet-4")
    m["input_usd_per_mtok"] = 0
    m["latency"]["ttft_s"] = 99
    fresh = cat.model("claude-sonnet-4")
    assert fresh["input_usd_per_mtok"] == 3.0 and fresh["latency"]["ttft_s"] != 99


def test_without_provenance_strips_metadata_at_every_level(cat):
    clean = without_provenance(cat.model("claude-sonnet-4"))
    assert "source" not in clean and "as_of" not in clean
    assert "source" not in clean["latency"] and "note" not in clean["latency"]
    assert clean["latency"]["tokens_per_s"] > 0
    assert set(without_provenance(cat.limit_preset("anthropic-tier1-sonnet4"))) == {
        "requests_per_min", "input_tokens_per_min", "output_tokens_per_min", "provider", "tier", "model",
    }
    assert "context_source" not in without_provenance(cat.model("gpt-4o"))


def test_presets_feed_estimate(cat):
    m = cat.model("claude-sonnet-4")
    est = estimate(
        10_000, 15, 2_000, 0, m["input_usd_per_mtok"], m["output_usd_per_mtok"], latency_s=4.0,
        limits=cat.limit_preset("lesson-anthropic-key"),
    )
    assert est.cost_per_day_usd == pytest.approx(900.0, rel=1e-9)
    assert est.binding_limit == "input_tokens_per_min"


def test_custom_catalogue_file_is_validated(tmp_path):
    good = tmp_path / "cat.yaml"
    good.write_text(
        """
models:
  m1:
    provider: openai
    input_usd_per_mtok: 1
    output_usd_per_mtok: 2
    source: test
    as_of: "2026-11-27"
    latency: {type: ttft_throughput, ttft_s: 0.5, tokens_per_s: 50, sigma: 0.2}
limit_presets:
  p1: {requests_per_min: 10, input_tokens_per_min: null, output_tokens_per_min: null, source: test, as_of: "2026-11-27"}
""",
        encoding="utf-8",
    )
    cat = load_catalogue(good)
    assert cat.model_names() == ["m1"] and cat.limit_preset("p1")["requests_per_min"] == 10

    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text(encoding="utf-8").replace("input_usd_per_mtok: 1", "input_usd_per_mtok: -1"), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"models\.m1\.input_usd_per_mtok: must be a finite number"):
        load_catalogue(bad)

    undated = tmp_path / "undated.yaml"
    undated.write_text(good.read_text(encoding="utf-8").replace('as_of: "2026-11-27"\n    latency', "latency"), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"models\.m1\.as_of: must be a non-empty string"):
        load_catalogue(undated)

    with pytest.raises(ScenarioError, match="cannot read catalogue"):
        load_catalogue(tmp_path / "missing.yaml")


# ---------------------------------------------------------------------------------------------- tiers

def _tiers(cat, provider, model):
    return {cat.limit_preset(n)["tier"] for n in cat.limit_preset_names()
            if cat.limit_preset(n).get("provider") == provider and cat.limit_preset(n).get("model") == model}


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini"])
def test_every_openai_model_has_tiers_1_to_5(cat, model):
    assert _tiers(cat, "openai", model) >= {f"tier {t}" for t in range(1, 6)}


@pytest.mark.parametrize("model", ["claude-sonnet-4", "claude-opus-4", "claude-haiku-3.5"])
def test_every_anthropic_model_has_tiers_1_to_4_and_a_custom_tier_exists(cat, model):
    assert _tiers(cat, "anthropic", model) >= {f"tier {t}" for t in range(1, 5)}
    custom = cat.limit_preset("anthropic-custom")
    assert custom["tier"] == "custom" and set(custom["must_supply"]) == {
        "requests_per_min", "input_tokens_per_min", "output_tokens_per_min"}


def test_a_gemini_model_with_free_and_paid_tiers(cat):
    google = [n for n in cat.model_names() if cat.model(n)["provider"] == "google"]
    assert google
    assert _tiers(cat, "google", google[0]) >= {"free", "tier 1", "tier 2", "tier 3"}


def test_openai_tiers_never_shrink_and_limits_left_to_the_user_are_null(cat):
    for model in ("gpt-4o", "gpt-4o-mini"):
        tpm = [cat.limit_preset(f"openai-tier{t}-{model.replace('gpt-', 'gpt')}")["tokens_per_min"]
               for t in range(1, 6)]
        assert tpm == sorted(tpm) and len(set(tpm)) == 5, model
    for name in cat.limit_preset_names():
        preset = cat.limit_preset(name)
        for key in preset.get("must_supply", []):
            assert preset[key] is None, (name, key)
        if preset.get("must_supply"):
            assert "note" in preset, name            # says why the number is missing


def test_every_model_states_its_window_and_where_it_came_from(cat):
    for name in cat.model_names():
        m = cat.model(name)
        assert m["context_window_tokens"] >= 100_000, name
        assert m["max_output_tokens"] is None or 0 < m["max_output_tokens"] <= m["context_window_tokens"], name
        assert m["context_source"].strip() and m["context_as_of"].strip(), name
        if m["max_output_tokens"] is None:
            assert m.get("context_note"), name       # a missing number is explained, not invented


@pytest.mark.parametrize("change, message", [
    ({"must_supply": ["requests_per_min"], "requests_per_min": 50}, "listed in must_supply"),
    ({"must_supply": ["rpm"]}, "must_supply: must be a list of"),
    ({"provider": "acme"}, "provider: must be one of"),
])
def test_bad_preset_fields_are_named(tmp_path, change, message):
    import yaml
    import sim
    data = yaml.safe_load(open(sim.__file__.replace("__init__.py", "provider_catalogue.yaml")))
    data["limit_presets"]["anthropic-tier1-sonnet4"].update(change)
    path = tmp_path / "cat.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=message):
        load_catalogue(path)


def test_a_window_smaller_than_the_maximum_output_is_refused(tmp_path):
    import yaml
    import sim
    data = yaml.safe_load(open(sim.__file__.replace("__init__.py", "provider_catalogue.yaml")))
    data["models"]["gpt-4o"]["max_output_tokens"] = 200_000
    path = tmp_path / "cat.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=r"models\.gpt-4o\.max_output_tokens \(200000\) exceeds"):
        load_catalogue(path)


def test_a_window_without_its_source_is_refused(tmp_path):
    import yaml
    import sim
    data = yaml.safe_load(open(sim.__file__.replace("__init__.py", "provider_catalogue.yaml")))
    del data["models"]["gpt-4o"]["context_as_of"]
    path = tmp_path / "cat.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=r"models\.gpt-4o\.context_as_of: must be a non-empty string"):
        load_catalogue(path)
