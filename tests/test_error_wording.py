"""Tool errors reach a French user in French (prompts/answers/errors.fr.md); unknown messages stay as written."""

from __future__ import annotations

import re
import string

import pytest

from assistant import answers
from assistant.errors import NotFoundError
from tools import places

pytestmark = pytest.mark.usefixtures("empty_catalog")


def test_every_french_wording_fills_from_its_pattern():
    sections = answers.load_templates("errors", "fr")
    assert len(sections) >= 10
    for name, lines in sections.items():
        assert lines[0].startswith("match:"), name
        groups = set(re.compile(lines[0][len("match:") :].strip()).groupindex)
        fields = {f for _, f, _, _ in string.Formatter().parse(lines[1]) if f}
        assert fields <= groups, name


def test_a_real_unknown_place_error_in_french():
    with pytest.raises(NotFoundError) as info:
        places.resolve_place("Qwzxyville")
    answer = answers.error_answer("locate_place", str(info.value), "fr", not_found=True)
    assert "« Qwzxyville »" in answer and "je ne connais pas" in answer
    assert "I don't know" not in answer
    english = answers.error_answer("locate_place", str(info.value), "en", not_found=True)
    assert "I don't know a place called 'Qwzxyville'" in english


def test_messages_without_a_wording_are_kept():
    assert answers.localize_error("GDAL said no", "fr") == "GDAL said no"


@pytest.mark.parametrize(
    ("asked", "language", "expected", "absent"),
    [
        ("Londres", "fr", "Londres (London, ville, Royaume-Uni)", "United Kingdom"),
        ("Allemagne", "fr", "Allemagne (pays)", "Germany"),
        ("Brittany", "fr", "Bretagne (région française)", "France)"),
        ("Londres", "en", "London", "Londres"),
    ],
)
def test_place_answers_name_places_in_the_users_language(asked, language, expected, absent):
    result = places.locate_place(asked)
    answer = answers.compose(result, {"place": asked}, language)
    assert expected in answer and absent not in answer
