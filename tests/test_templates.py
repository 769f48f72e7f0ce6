"""The one answer-template format (tools/core/templates.py): the reader's offline templates read like the agent's,
and the English and French files say the same things (a French section missing would be a KeyError mid-answer)."""

from __future__ import annotations

import string

import pytest

from tools.core.templates import fill, load_templates, template_table, template_text
from tools.reader.answer import TEMPLATES, Intent, label_text, offline_answer

TABLES = ("labels", "unreadable_reasons", "cloud_reasons", "topics")


def _fields(text: str) -> set[str]:
    return {f for _lit, f, _spec, _conv in string.Formatter().parse(text) if f}


def test_reader_templates_match_across_languages():
    en, fr = load_templates(TEMPLATES, "en"), load_templates(TEMPLATES, "fr")
    assert set(en) == set(fr) and {"scene", "models", "no_bands", *TABLES} <= set(en)
    for section in set(en) - set(TABLES):
        assert _fields(template_text(TEMPLATES, section, "en")) == _fields(template_text(TEMPLATES, section, "fr"))
    for table in TABLES:
        en_rows, fr_rows = template_table(TEMPLATES, table, "en"), template_table(TEMPLATES, table, "fr")
        assert en_rows and set(en_rows) == set(fr_rows), table
        for key in en_rows:
            assert _fields(en_rows[key]) == _fields(fr_rows[key]), (table, key)


def test_tables_and_sections_are_read_as_written():
    assert template_table(TEMPLATES, "labels", "en")["StorageTanks"] == "storage tanks"
    assert template_table(TEMPLATES, "topics", "fr")["water"] == "l'eau"
    assert template_text(TEMPLATES, "image_facts_gsd", "en") == ", {gsd:.1f} m per pixel"  # leading ", " kept
    assert label_text("DenseResidential", "fr") == "une zone résidentielle dense"
    assert label_text("SomethingNew", "en") == "something new"  # no label: the class name spaced out
    with pytest.raises(KeyError, match="no section 'nope'"):
        template_text(TEMPLATES, "nope", "en")


def test_offline_answer_words_missing_bands_from_the_templates():
    facts = {"scene_classes": [["Forest", 0.9]], "measurable": []}
    intent = Intent(topics=["water", "vegetation"])
    assert "cannot measure water or vegetation;" in offline_answer(intent, facts, "en", ["m"])
    assert "je ne peux pas mesurer l'eau ni la végétation ;" in offline_answer(intent, facts, "fr", ["m"])
    assert offline_answer(intent, facts, "de", ["m"]) == offline_answer(intent, facts, "en", ["m"])  # English


def test_fill_keeps_only_lines_whose_fields_are_known():
    lines = ["{name} is in {country}. || {name} is somewhere.", "It has {population} inhabitants."]
    assert fill(lines, {"name": "Rennes", "country": "France"}) == "Rennes is in France."
    assert fill(lines, {"name": "Rennes", "population": 220000}) == "Rennes is somewhere. It has 220000 inhabitants."
