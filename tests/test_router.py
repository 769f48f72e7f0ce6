"""Router planner: tool choice and arguments on the labelled dev questions and our own extra set, date parsing."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from assistant.commands.eval_routing import score_call
from assistant.planner.dates import parse_dates
from assistant.planner.language import detect_language
from assistant.planner.router import content_query, get_router
from assistant.planner.scene_filters import parse_cloud_cover, parse_platform

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval" / "questions_dev.jsonl"
EXTRA = ROOT / "tests" / "data" / "questions_extra.jsonl"


def _score(path: Path) -> tuple[float, float, list]:
    router = get_router()
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    ok_tool = ok_args = n_args = 0
    misses = []
    for row in rows:
        image = "/tmp/attached.jpg" if row.get("image") else None
        plan = router.plan(row["question"], image)
        call = None if plan.tool == "none" else {"name": plan.tool, "args": plan.args}
        verdict = score_call(row["expect"], call)
        ok_tool += verdict["tool"]
        if verdict["args"] is not None:
            n_args += 1
            ok_args += bool(verdict["args"])
        if not verdict["tool"] or verdict["args"] is False:
            misses.append((row["id"], plan.tool, plan.args))
    return ok_tool / len(rows), ok_args / max(n_args, 1), misses


@pytest.mark.skipif(not DEV.exists(), reason="shared dev questions not mounted")
def test_dev_questions_tool_and_argument_accuracy():
    tool_acc, args_acc, misses = _score(DEV)
    assert tool_acc >= 0.95, misses
    assert args_acc >= 0.90, misses


def test_extra_questions_tool_and_argument_accuracy():
    tool_acc, args_acc, misses = _score(EXTRA)
    assert tool_acc >= 0.95, misses
    assert args_acc >= 0.90, misses


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("What changed between November 2016 and November 2017?", "2016-11-01", "2017-11-30"),
        ("Qu'est-ce qui a changé entre mars 2016 et août 2017 ?", "2016-03-01", "2017-08-31"),
        ("from 2015 to 2018", "2015-01-01", "2018-12-31"),
        ("de 2012 à 2018", "2012-01-01", "2018-12-31"),
        ("since 2015", "2015-01-01", None),
        ("depuis 2019", "2019-01-01", None),
        ("in 2017", "2017-01-01", "2017-12-31"),
        ("before 2012", None, "2012-12-31"),
        ("between March and August 2017", "2017-03-01", "2017-08-31"),
        ("du 3 mars 2017 au 15/06/2018", "2017-03-03", "2018-06-15"),
        ("from 2016-05-01 to 2016-09-30", "2016-05-01", "2016-09-30"),
        ("summer 2018", "2018-06-01", "2018-08-31"),
        ("en février 2020", "2020-02-01", "2020-02-29"),
        ("Compare 2018 with 2015", "2015-01-01", "2018-12-31"),
        ("in the 1990s", "1990-01-01", "1999-12-31"),
    ],
)
def test_date_ranges_en_fr(text, start, end):
    dates = parse_dates(text)
    assert (dates.start, dates.end) == (start, end)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("What changed in Paris over the last 3 years?", "2023-11-25", "2026-11-25"),
        ("Quels changements à Nantes ces deux dernières années ?", "2024-11-25", "2026-11-25"),
        ("scenes from last year", "2025-01-01", "2025-12-31"),
        ("les images de l'an dernier", "2025-01-01", "2025-12-31"),
        ("changes in the past 6 months", "2026-05-25", "2026-11-25"),
        ("le mois dernier", "2026-10-01", "2026-10-31"),
        ("since 2015", "2015-01-01", None),  # an absolute date wins
        ("Find Landsat 8 scenes", None, None),
    ],
)
def test_relative_periods_count_from_today(text, start, end):
    dates = parse_dates(text, today=date(2026, 11, 25))
    assert (dates.start, dates.end) == (start, end)


def test_no_dates_in_numbers_that_are_not_years():
    assert parse_dates("Find Sentinel-2 scenes with less than 10% clouds").empty
    assert parse_dates("May I see Nantes?").empty


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("images with less than 10% clouds", 10.0),
        ("under 25 % cloud cover", 25.0),
        ("avec moins de 5 % de nuages", 5.0),
        ("cloud-free scenes of Lyon", 10.0),
        ("images of Lyon", None),
        ("10% of the area changed", None),
    ],
)
def test_cloud_cover(text, value):
    assert parse_cloud_cover(text) == value


def test_platform_language_and_content_query():
    assert parse_platform("Find Sentinel-2 scenes of Nantes") == "sentinel-2"
    assert parse_platform("Montre-moi les images Landsat") == "landsat"
    assert detect_language("Qu'est-ce qui a changé à Bercy ?") == "fr"
    assert detect_language("Montre-moi Lyon sur la carte.") == "fr"
    assert detect_language("Where is Lyon?") == "en"
    assert content_query("Find scenes that look like a forest.", None) == "forest"
    assert content_query("Find Sentinel-2 scenes of Nantes.", "Nantes") is None


def test_clarifying_question_when_required_argument_missing():
    router = get_router()
    plan = router.plan("What changed between 2016 and 2017?")
    assert plan.tool == "detect_change" and plan.clarify == "change_target"
    plan = router.plan("Describe this image.")
    assert plan.tool == "read_image" and plan.clarify == "image"
    plan = router.plan("Describe this image.", "/tmp/a.jpg")
    assert plan.clarify is None and plan.args["image"] == "/tmp/a.jpg"


@pytest.mark.parametrize(
    ("text", "tool", "place"),
    [
        ("Where is Qwzxyville?", "locate_place", "Qwzxyville"),
        ("Find scenes of Qwzxyville from 2017", "find_scenes", "Qwzxyville"),
        ("Images de Trifouillis-les-Oies en 2017", "find_scenes", "Trifouillis-les-Oies"),
        ("Quels changements à Zorglubville entre 2016 et 2017 ?", "detect_change", "Zorglubville"),
        ("Find images of airports", "find_scenes", None),
        ("Show me images from March 2017", "find_scenes", None),
        ("Find scenes in English please", "find_scenes", None),
    ],
)
def test_unknown_names_go_to_the_tool_as_places(text, tool, place):
    """A name no gazetteer knows reaches the tool (which says so), not the content query or a clarifying question."""
    plan = get_router().plan(text)
    assert plan.tool == tool and plan.clarify is None
    assert plan.args.get("place") == place


def test_a_second_upload_asked_what_changed_is_compared_with_the_first():
    router = get_router()
    context = {"image": "/up/aaaa1111_before.png"}
    questions = ("What changed compared to the previous image?",
                 "Qu'est-ce qui a changé par rapport à l'image précédente ?")
    for text in questions:
        plan = router.plan(text, "/up/bbbb2222_after.png", dict(context))
        assert plan.tool == "detect_change" and plan.clarify is None
        assert plan.args == {"before_image": "/up/aaaa1111_before.png", "after_image": "/up/bbbb2222_after.png"}
    assert router.plan("Describe this image", "/up/bbbb2222_after.png", dict(context)).tool == "read_image"
    assert router.plan("What changed?", "/up/bbbb2222_after.png", {}).clarify == "change_target"  # one image only


def test_follow_up_reuses_previous_tool_and_place():
    router = get_router()
    context = {"last_tool": "detect_change", "last_args": {"place": "Paris", "start_date": "2016-01-01",
                                                         "end_date": "2017-12-31"}, "place": "Paris"}
    plan = router.plan("and between 2018 and 2020?", None, context)
    assert plan.tool == "detect_change" and plan.follow_up
    assert plan.args == {"place": "Paris", "start_date": "2018-01-01", "end_date": "2020-12-31"}
    plan = router.plan("et à Lyon ?", None, context)
    assert plan.tool == "detect_change" and plan.args["place"] == "Lyon"


def test_greeting_before_a_question_is_not_small_talk():
    router = get_router()
    assert router.plan("Hello, where is Lille?").tool == "locate_place"
    assert router.plan("Bonjour !").tool == "none"


def test_attached_image_goes_to_search_only_for_similar_scenes():
    router = get_router()
    plan = router.plan("Find images similar to this one.", "/tmp/a.jpg")
    assert plan.tool == "find_scenes" and plan.args == {"image": "/tmp/a.jpg"}
    plan = router.plan("Find scenes of Nantes from 2017.", "/tmp/a.jpg")
    assert plan.tool == "find_scenes" and "image" not in plan.args
    assert router.plan("Any planes?", "/tmp/a.jpg").tool == "read_image"


def test_text_embeddings_are_normalised_and_semantic():
    import numpy as np

    from tools.text_embed import embed_texts

    vectors = embed_texts(["a harbour with ships", "boats in a port", "a snowy mountain"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embed_texts([]).shape == (0, 384)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        # "a été" is the verb: the period is the years named, not summer 2016
        ("Quelle surface a été artificialisée à Abu Dhabi entre 2016 et 2017 ?", "2016-01-01", "2017-12-31"),
        ("Combien de forêt a été coupée en 2016 ?", "2016-01-01", "2016-12-31"),
        ("Les lacs ont-ils été plus grands en 2020 ?", "2020-01-01", "2020-12-31"),
        # the season: with a year, or after an article / preposition
        ("l'été 2018", "2018-06-01", "2018-08-31"),
        ("Qu'est-ce qui a changé entre l'été et l'automne 2017 ?", "2017-06-01", "2017-11-30"),
    ],
)
def test_french_ete_is_the_verb_unless_it_names_the_summer(text, start, end):
    dates = parse_dates(text)
    assert (dates.start, dates.end) == (start, end)
