"""Dates in questions and tool arguments: a date that does not exist is a clear one-line message (EN/FR), a reversed
range is read in time order and said so, and 'since 2016' never compares or lists an earlier image."""

from __future__ import annotations

import pytest

from assistant import answers
from assistant.errors import BadInputError, InvalidDateError, NotFoundError
from assistant.planner.dates import parse_dates
from tools.data import geodata_path

NAIP = ["m_4709963_se_14_1_20090818.tif", "m_4709963_se_14_1_20150926.tif", "m_4709963_se_14_1_20200831.tif"]


@pytest.mark.parametrize(("question", "said"), [
    ("What changed in Paris between 2016-02-30 and 2017-13-45?",
     ["'2016-02-30' is not a valid date (2016-02 has 29 days)",
      "'2017-13-45' is not a valid date (there is no month 13)"]),
    ("Images du 31 avril 2017", ["'31 avril 2017' is not a valid date (2017-04 has 30 days)"]),
    ("scenes on February 29, 2017", ["'February 29, 2017' is not a valid date (2017-02 has 28 days)"]),
    ("changes since 30/02/2016", ["'30/02/2016' is not a valid date (2016-02 has 29 days)"]),
    ("imagery from 2016-00-10", ["'2016-00-10' is not a valid date (there is no month 0)"]),
])  # fmt: skip
def test_a_date_that_does_not_exist_is_named_not_guessed(question, said):
    with pytest.raises(InvalidDateError) as caught:
        parse_dates(question)
    assert str(caught.value) == "; ".join(said)
    assert isinstance(caught.value, BadInputError)


def test_real_dates_still_parse():
    assert parse_dates("on February 29, 2016").start == "2016-02-29"
    assert (parse_dates("12/25/2016").start, parse_dates("25/12/2016").start) == ("2016-12-25", "2016-12-25")
    assert parse_dates("entre mars 2016 et août 2017").start == "2016-03-01"


def test_the_date_message_is_one_line_in_the_question_language():
    error = InvalidDateError("'2016-02-30' is not a valid date (2016-02 has 29 days); "
                             "'2017-13-45' is not a valid date (there is no month 13)")
    english = answers.question_error(error, "en")
    assert english.startswith("I cannot read the dates in your question: '2016-02-30' is not a valid date")
    assert "\n" not in english and "ValueError" not in english
    french = answers.question_error(error, "fr")
    assert "« 2016-02-30 » n'est pas une date valide (2016-02 n'a que 29 jours)" in french
    assert "il n'y a pas de mois 13" in french and french.startswith("Je ne peux pas lire les dates")


@pytest.mark.parametrize(("question", "start", "end"), [
    ("Qu'est-ce qui a changé à Paris depuis l'été 2016 ?", "2016-06-01", None),
    ("What changed since the summer of 2016?", "2016-06-01", None),
    ("Images jusqu'au printemps 2018", None, "2018-05-31"),
    ("What was built in the summer of 2017?", "2017-06-01", "2017-08-31"),  # "in the" is no "since"
])  # fmt: skip
def test_since_or_until_a_season_with_an_article_is_open_ended(question, start, end):
    dates = parse_dates(question)
    assert (dates.start, dates.end) == (start, end)


def test_a_reversed_range_is_read_in_order_and_said():
    dates = parse_dates("What changed in Bordeaux between 2018 and 2015?")
    assert (dates.start, dates.end, dates.reversed) == ("2015-01-01", "2018-12-31", True)
    assert not parse_dates("between 2015 and 2018").reversed
    note = answers.plan_notes(["dates_reversed"], {"start_date": dates.start, "end_date": dates.end}, "en")
    assert note == "You gave the later date first, so I read the period in time order: from 2015-01-01 to 2018-12-31."
    assert "du 2015-01-01 au 2018-12-31" in answers.plan_notes(["dates_reversed"], {"start_date": dates.start,
                                                                                     "end_date": dates.end}, "fr")


def test_tool_dates_are_checked_and_ordered():
    from tools.catalog import date_range, ordered_dates

    assert ordered_dates("2018", "2015-06-01") == ("2015-06-01", "2018")
    lo, hi = date_range("2018", "2015")
    assert (lo.year, hi.year, hi.month) == (2015, 2018, 12)
    for bad in ("2016-02-30", "2017-13-45", "yesterday-ish"):
        with pytest.raises(BadInputError, match=f"'{bad}' is not a valid date"):
            ordered_dates("2015", bad)


@pytest.fixture
def naip_catalog(tmp_data_dir):
    from tools.catalog import open_catalog

    cat = open_catalog()
    cat.ingest([geodata_path(f"naip-timeseries/{n}") for n in NAIP], place="Prairie Test")
    return cat


def test_since_never_uses_an_earlier_image(naip_catalog):
    from tools.change.tool import pick_pair

    items = naip_catalog.search(place="Prairie Test")
    before, after = pick_pair(items, "2010-01-01", None)
    assert (str(before.datetime.date()), str(after.datetime.date())) == ("2015-09-26", "2020-08-31")
    assert pick_pair(items, "2016-01-01", None) == (None, None)  # one scene since 2016: no pair, not a 2015 one
    assert pick_pair(items, None, "2016-12-31")[1].datetime.year == 2015
    assert pick_pair(items, "2020-12-31", "2009-01-01")[0].datetime.year == 2009  # reversed: read in order
    listed = naip_catalog.search(place="Prairie Test", start="2016")
    assert [it.datetime.year for it in listed] == [2020]


def test_a_range_without_a_pair_lists_the_dates_held(naip_catalog):
    from tools.change import detect_change

    with pytest.raises(NotFoundError) as caught:
        detect_change(place="Prairie Test", start_date="2016-01-01")
    message = str(caught.value)
    assert message == ("no two scenes of Prairie Test since 2016-01-01 to compare; "
                       "dates held: 2009-08-18, 2015-09-26, 2020-08-31")
    french = answers.error_answer("detect_change", message, "fr", not_found=True)
    assert "pas deux scènes de Prairie Test depuis le 2016-01-01 à comparer ; dates disponibles : 2009-08-18" in french
    with pytest.raises(NotFoundError, match="between 2021-01-01 and 2022-12-31 to compare; dates held: 2009"):
        detect_change(place="Prairie Test", start_date="2022", end_date="2021")
    with pytest.raises(BadInputError, match="'2016-02-30' is not a valid date"):
        detect_change(place="Prairie Test", start_date="2016-02-30")
