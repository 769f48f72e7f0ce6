"""The five sector scenarios of the UI examples: each prompt is routed to measure_theme with the right theme, site
and threshold, and every number in the answer is one of the tool's facts (formatted as the answer formats them)."""

from __future__ import annotations

import pytest

from tools.data import geodata_path


@pytest.fixture
def catalog(tmp_data_dir):
    from tools.catalog import open_catalog

    cat = open_catalog()
    cat.ingest([geodata_path(f"landsat-pucallpa-timeseries/{y}.tif") for y in range(1985, 2021, 5)],
               place="Pucallpa")
    cat.ingest([geodata_path("naip-timeseries")], place="North Dakota")
    cat.ingest([geodata_path(f"oscd-s2/images/{city}/imgs_{i}") for city in ("paris", "abudhabi") for i in (1, 2)])
    return cat


def _ask(prompt: str):
    from assistant.agent import Assistant
    from assistant.events import Done, ToolFinished

    finished, answer = None, None
    for event in Assistant().stream(prompt):
        if isinstance(event, ToolFinished):
            finished = event
        elif isinstance(event, Done):
            answer = event.answer
    assert finished is not None and finished.ok, finished
    return finished, answer


def test_the_five_sector_scenarios_answer_with_the_tools_numbers(catalog):
    from assistant.answers import fmt_percent
    from assistant.sector_answers import km2_label, signed_km2_label
    from assistant.ui.layout import SECTOR_PROMPTS

    environment, risk, industry, security, energy = SECTOR_PROMPTS

    # environment: forest of Pucallpa, all 8 dates, net loss, the interval of largest net loss named
    done, answer = _ask(environment)
    assert done.name == "measure_theme" and done.args["theme"] == "vegetation"
    facts = done.result.facts
    fig = facts["by_theme"]["vegetation"]
    assert facts["n_dates"] == 8 and fig["net_km2"] < 0
    for value in (fig["first_km2"], fig["last_km2"], fig["loss_km2"], fig["gain_km2"], facts["analysed_km2"]):
        assert km2_label(value, "en") in answer
    assert signed_km2_label(fig["net_km2"], "en") in answer
    assert f"between {fig['largest_loss']['from'][:4]} and {fig['largest_loss']['to'][:4]}" in answer
    assert done.result.files[0].endswith("chart.png")

    # risk: open water of the North Dakota potholes over the 5 NAIP dates
    done, answer = _ask(risk)
    assert done.args["theme"] == "water"
    fig = done.result.facts["by_theme"]["water"]
    assert done.result.facts["n_dates"] == 5 and fig["last_km2"] > fig["first_km2"]
    assert km2_label(fig["first_km2"], "en") in answer and km2_label(fig["last_km2"], "en") in answer
    assert fmt_percent(fig["last_percent"], "en") in answer

    # industrial safety: every measure within 2 km of a site in the Paris OSCD scene
    done, answer = _ask(industry)
    facts = done.result.facts
    assert (done.args["lon"], done.args["lat"], done.args["radius_km"]) == (2.333, 48.821, 2.0)
    assert facts["measures"] == ["vegetation", "water", "built"]
    # the 2 km circle (12.57 km²) clipped by the scene's edge, less what is under cloud or shadow at either date
    assert facts["clouds"]["masked_km2"] > 0
    assert 11.0 < facts["analysed_km2"] + facts["clouds"]["masked_km2"] < 12.6
    assert fmt_percent(facts["changed_percent"], "en") in answer and km2_label(facts["changed_km2"], "en") in answer
    assert "water_low_sun" in facts["caveats"] and "low sun" in answer  # Paris in November: shadows read as water

    # security: 1 km around a site in Abu Dhabi with a 5 % alert threshold
    done, answer = _ask(security)
    facts = done.result.facts
    assert done.args["threshold_percent"] == 5.0 and facts["alert"] == (facts["changed_percent"] > 5.0)
    assert ("Alert:" in answer) == facts["alert"] and ("No alert:" in answer) == (not facts["alert"])
    assert "water_low_sun" not in facts["caveats"]  # Abu Dhabi, 24 degrees north: the sun stays high
    assert fmt_percent(facts["changed_percent"], "en") in answer

    # energy: land taken by built-up surfaces in Abu Dhabi between the two dates
    done, answer = _ask(energy)
    assert done.args["theme"] == "built" and done.args["place"] == "Abu Dhabi"
    fig = done.result.facts["by_theme"]["built"]
    assert km2_label(fig["gain_km2"], "en") in answer and signed_km2_label(fig["net_km2"], "en") in answer


def test_a_french_forest_question_is_answered_in_french_with_the_same_figures(catalog):
    from assistant.sector_answers import km2_label

    done, answer = _ask("Quelle surface de forêt Pucallpa a-t-elle perdue de 1985 à 2020 ?")
    assert done.name == "measure_theme" and done.args["theme"] == "vegetation"
    fig = done.result.facts["by_theme"]["vegetation"]
    assert km2_label(fig["loss_km2"], "fr") in answer and "Perte de" in answer


def test_the_burned_map_is_worded_as_burned_and_a_period_without_scenes_lists_the_dates_held(catalog):
    from assistant.agent import Assistant
    from assistant.events import Done, ToolFinished

    done, answer = _ask("What area burned around Pucallpa between 2015 and 2020?")
    assert done.args["theme"] == "burned"
    assert "burned area in red" in answer and "gain in green" not in answer
    assert [layer.legend for layer in done.result.layers] == [{"burned": "#a50026"}]

    events = list(Assistant().stream("How much forest did Pucallpa lose between 2001 and 2003?"))
    failed = next(e for e in events if isinstance(e, ToolFinished))
    answer = next(e for e in events if isinstance(e, Done)).answer
    assert failed.name == "measure_theme" and not failed.ok
    assert "The catalog holds 8 scene(s) around Pucallpa" in answer and "2000-07-01" in answer
