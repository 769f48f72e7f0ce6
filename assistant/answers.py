"""Answers composed from templates in `prompts/answers/`, filled only with tool facts.

Template files are Markdown with `## section` headings; each line of a section is one sentence. A line is kept
only when every `{field}` in it is known (so a missing fact drops a sentence instead of inventing one);
`a || b` means "a if it can be filled, else b". Derived fields (`*_label`) are formatting of facts only:
numbers, dates and names all come from the ToolResult.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from assistant.config import PROMPTS_DIR
from assistant.errors import InvalidDateError
from assistant.events import ToolResult
from assistant.templates import (  # noqa: F401 - re-exported: answers' vocabulary
    fill,
    fmt_coord,
    fmt_number,
    fmt_percent,
    load_templates,
    render,
)

TOOL_LABELS = {
    "en": {"locate_place": "the place lookup", "find_scenes": "the scene search", "read_image": "the image reader",
           "detect_change": "the change detection", "measure_theme": "the thematic measure",
           "llm": "the language model",
           "router": "the question planner"},
    "fr": {"locate_place": "la recherche de lieu", "find_scenes": "la recherche de scènes",
           "read_image": "la lecture d'image", "detect_change": "la détection de changements",
           "measure_theme": "la mesure thématique",
           "llm": "le modèle de langage", "router": "l'analyse de la question"},
}
KIND_LABELS = {
    "en": {"city": "town", "country": "country", "state": "US state", "region": "French region",
           "continent": "continent", "catalog": "place of the image catalog", "nominatim": "place (OpenStreetMap)"},
    "fr": {"city": "ville", "country": "pays", "state": "État des États-Unis", "region": "région française",
           "continent": "continent", "catalog": "lieu du catalogue d'images", "nominatim": "lieu OpenStreetMap"},
}
SOURCE_LABELS = {
    "en": {"geonames": "GeoNames", "catalog": "image catalog", "catalog+geonames": "image catalog and GeoNames",
           "nominatim": "OpenStreetMap Nominatim"},
    "fr": {"geonames": "GeoNames", "catalog": "catalogue d'images",
           "catalog+geonames": "catalogue d'images et GeoNames", "nominatim": "OpenStreetMap Nominatim"},
}


def flatten(facts: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'before': {'date': x}} -> {'before_date': x}; lists and scalars kept as is."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}_"))
        out[name] = value
    return out


# --- per tool --------------------------------------------------------------------------------------------------


def _locate_values(facts: dict[str, Any], args: dict[str, Any], language: str) -> dict[str, Any]:
    values = dict(facts)
    values["kind_label"] = KIND_LABELS[language].get(facts.get("kind", ""), None)
    if facts.get("kind") == "city" and language == "en" and (facts.get("population") or 0) >= 100000:
        values["kind_label"] = "city"
    if language != "en":
        values.update(_localized_names(facts, args, language))
    if facts.get("kind") in ("country", "continent") or (facts.get("kind") in ("state", "region") and language != "en"):
        values.pop("country", None)  # 'État des États-Unis, États-Unis' says it twice
    elif language == "en" and values.get("country"):
        values["country"] = _with_article(str(values["country"]))
    if "lat" in facts and "lon" in facts:
        values["lat_label"] = fmt_coord(facts["lat"], "N", "S", language)
        values["lon_label"] = fmt_coord(facts["lon"], "E", "W" if language == "en" else "O", language)
    if facts.get("population") and facts.get("kind") == "city":
        values["population_label"] = fmt_number(facts["population"], language)
    source = facts.get("source", "")
    if source == "catalog" and facts.get("in_catalog"):
        source = "catalog+geonames"  # footprint from the catalog, town facts from the gazetteer
    values["source_label"] = SOURCE_LABELS[language].get(source, source)
    return values


def _localized_names(facts: dict[str, Any], args: dict[str, Any], language: str) -> dict[str, str]:
    """Country names in the user's language (CLDR, via babel); a town asked by an exonym keeps the user's word.

    'Où est Londres ?' -> 'Londres (London, ville, Royaume-Uni)', not 'London (ville, United Kingdom)'.
    """
    from babel import Locale, UnknownLocaleError

    from tools.core.text import fold_text

    out: dict[str, str] = {}
    try:
        territories = Locale.parse(language).territories
    except (UnknownLocaleError, ValueError):
        return out
    code = facts.get("iso") if facts.get("kind") == "country" else facts.get("country_code")
    if code and code in territories:
        if facts.get("kind") == "country":
            out["name"] = territories[code]
        else:
            out["country"] = territories[code]
    asked = str(args.get("place") or "").strip()
    name = str(facts.get("name") or "")
    if facts.get("kind") == "city" and asked and fold_text(asked) != fold_text(name):
        out["name"] = f"{asked[:1].upper()}{asked[1:]}"
        out["kind_label"] = f"{name}, {KIND_LABELS[language].get('city', 'city')}"
    return out


def _with_article(country: str) -> str:
    """'United States' -> 'the United States' (English country names that take an article)."""
    if re.match(r"^(United |Netherlands|Philippines|Bahamas|Gambia|Maldives|Czech Republic|Dominican Republic"
                r"|Central African Republic|Comoros|Seychelles)", country) or country.endswith("Islands"):
        return "the " + country
    return country


def _filters_label(filters: dict[str, Any], language: str) -> str:
    parts = []
    if filters.get("place"):
        parts.append(("in " if language == "en" else "à ") + str(filters["place"]))
    from assistant.scene_labels import day_label, sensor_name

    start, end = day_label(filters.get("start_date"), language), day_label(filters.get("end_date"), language)
    if start and end:
        parts.append(f"from {start} to {end}" if language == "en" else f"du {start} au {end}")
    elif start:
        parts.append(f"since {start}" if language == "en" else f"depuis le {start}")
    elif end:
        parts.append(f"before {end}" if language == "en" else f"avant le {end}")
    if filters.get("platform"):
        parts.append(sensor_name(str(filters["platform"])) or str(filters["platform"]))
    if filters.get("max_cloud_cover") is not None:
        cloud = fmt_percent(float(filters["max_cloud_cover"]), language)
        parts.append(f"at most {cloud} clouds" if language == "en" else f"au plus {cloud} de nuages")
    return (" (" + ", ".join(parts) + ")") if parts else ""


def _find_values(facts: dict[str, Any], args: dict[str, Any], language: str) -> dict[str, Any]:
    """Counts and the best scenes in words: chips are grouped by scene (each scene once, its best chip first)."""
    from assistant.scene_labels import count_label, scene_label, scene_titles
    from tools.search.scenes import group_by_scene

    values = dict(facts)
    results = facts.get("results") or []
    count = facts.get("count", len(results))
    values["count"] = count
    filters = dict(facts.get("filters") or {})
    for key in ("place", "start_date", "end_date", "platform", "max_cloud_cover"):
        filters.setdefault(key, None)
    values["filters_label"] = _filters_label(filters, language) or " "
    if facts.get("mode") == "catalog":
        scenes = results
        values["scenes_label"] = count_label(int(count), "scene", language)
    else:
        scenes = facts.get("scene_results") or group_by_scene(results)  # sessions saved before scene_results
        values["chips_label"] = count_label(int(count), "tile", language)
        values["scenes_label"] = count_label(len(scenes), "scene", language)
    shown = scenes[:3]
    if shown and count:
        key = "listed_results" if facts.get("mode") == "catalog" else "top_results"
        labels = [scene_label(r, language, t) for r, t in zip(shown, scene_titles(shown, language), strict=True)]
        values[key] = (" ; " if language == "fr" else "; ").join(labels)
    return values


def _change_values(facts: dict[str, Any], args: dict[str, Any], language: str) -> dict[str, Any]:
    values = flatten(facts)
    for side in ("before", "after"):
        label = (values.get(f"{side}_date") or values.get(f"{side}_scene_id") or values.get(f"{side}_image")
                 or values.get(f"{side}_source"))
        if label:
            values[f"{side}_label"] = str(label)
    place = facts.get("place") or args.get("place")
    if place:
        values["place_label"] = (" in " if language == "en" else " à ") + str(place)
    else:
        values["place_label"] = " "
    georeferenced = facts.get("georeferenced", True)
    values["map_label"] = render("detect_change", "map_georeferenced" if georeferenced else "map_plain", language)
    if values.get("changed_percent") is not None:
        values["changed_percent_label"] = fmt_percent(float(values["changed_percent"]), language)
    for key in ("changed_km2", "analysed_km2"):
        if values.get(key) is not None:
            values[f"{key}_label"] = fmt_number(float(values[key]), language, 2) + " km²"
    notes = [render("detect_change", f"caveat_{c}", language, values) for c in facts.get("caveats") or []]
    values["caveats_label"] = " ".join(n for n in notes if n)
    return values


def _read_values(facts: dict[str, Any], args: dict[str, Any], language: str) -> dict[str, Any]:
    return dict(facts)


def _measure_values(facts: dict[str, Any], args: dict[str, Any], language: str) -> dict[str, Any]:
    from assistant.sector_answers import measure_values

    return measure_values(facts, args, language)


_VALUES = {"locate_place": _locate_values, "find_scenes": _find_values, "detect_change": _change_values,
           "read_image": _read_values, "measure_theme": _measure_values}


def compose(result: ToolResult, args: dict[str, Any], language: str) -> str:
    """The answer for one tool result, in `language`, with only the facts it holds."""
    facts = result.facts or {}
    if isinstance(facts.get("answer"), str) and facts["answer"].strip():
        text = facts["answer"].strip()
    else:
        values = _VALUES.get(result.tool, lambda f, a, lang: dict(f))(facts, args, language)
        text = render(result.tool, "ok", language, values).replace("  ", " ").replace(" )", ")")
        text = re.sub(r"\s+([.,])", r"\1", text)
        text = re.sub(r"\s+;", "\u202f;" if language == "fr" else ";", text)  # French: narrow space before ';'
        if not text:
            text = facts_answer(result.tool, facts, language)
    if result.model and result.tool != "locate_place" and "Model" not in text and "Modèle" not in text:
        text = f"{text} {render('common', 'models', language, models=result.model)}".strip()
    return text


def facts_answer(tool: str, facts: dict[str, Any], language: str) -> str:
    """Fallback when no template sentence fits: list the scalar facts as they are."""
    scalars = {k: v for k, v in facts.items() if isinstance(v, str | int | float | bool) and v is not None}
    shown = ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False) if isinstance(v, str) else v}"
                      for k, v in list(scalars.items())[:12])
    return render("common", "facts", language, tool_label=TOOL_LABELS[language].get(tool, tool), facts=shown or "-")


def clarify(key: str, language: str) -> str:
    return render("common", f"clarify_{key}", language)


@lru_cache(maxsize=4)
def _error_wordings(language: str) -> list[tuple[re.Pattern[str], str]]:
    """(pattern on the English message, wording) pairs from prompts/answers/errors.<language>.md."""
    path = PROMPTS_DIR / "answers" / f"errors.{language}.md"
    if not path.exists():
        return []
    out = []
    for lines in load_templates("errors", language).values():
        if len(lines) >= 2 and lines[0].startswith("match:"):
            out.append((re.compile(lines[0][len("match:") :].strip()), lines[1]))
    return out


def localize_error(message: str, language: str) -> str:
    """A tool's English error message in the user's language, when prompts/answers has a wording for it.

    A message of several '; '-joined clauses that has no wording as a whole is translated clause by clause.
    """
    for pattern, wording in _error_wordings(language):
        m = pattern.search(message)
        if m:
            values = {k: v or "" for k, v in m.groupdict().items()}
            return wording.format(**values)
    if "; " in message and _error_wordings(language):
        return " ; ".join(localize_error(part, language) for part in message.split("; "))
    return message


def question_error(error: Exception, language: str) -> str:
    """The answer when the question itself cannot be used (a date that does not exist): the reason, in one line."""
    message = localize_error(str(error).strip(), language)
    if isinstance(error, InvalidDateError):
        return render("common", "bad_dates", language, message=message)
    return error_answer("router", str(error), language)


def plan_notes(notes: list[str], args: dict[str, Any], language: str) -> str:
    """What the planner read differently from the words ('between 2018 and 2015' read in time order), said first."""
    values = {"start_date": args.get("start_date"), "end_date": args.get("end_date")}
    return " ".join(text for key in notes if (text := render("common", f"note_{key}", language, values)))


def error_answer(tool: str, message: str, language: str, internal: bool = False, not_found: bool = False) -> str:
    """A failed tool call in words: what went wrong (the error's own one-line message) and that the session goes on."""
    message = message.strip() if internal else localize_error(message.strip(), language)
    if internal:  # a bug, not the user's doing: the details (exception, paths) are in the log, not in the chat
        section = "error_internal"
    else:
        section = "not_found" if not_found else "error"
        if message and message[-1] not in ".!?":
            message += "."
    label = TOOL_LABELS[language].get(tool, tool)
    return render("common", section, language, tool_label=label, tool_label_cap=label[:1].upper() + label[1:],
                  message=message)


_THANKS = re.compile(r"\b(thanks?|thank you|thx|cheers|merci)\b", re.I)
_BYE = re.compile(r"\b(bye|goodbye|see you|au revoir|a plus|à plus|a bientot|à bientôt)\b", re.I)
_HELP = re.compile(r"\b(help|who are you|what can you do|aide|qui es tu|qui es-tu|que sais-tu|que sais tu)\b", re.I)


def small_talk(message: str, language: str) -> str:
    """Answer to greetings, thanks, goodbyes, help (no tool)."""
    if _HELP.search(message):
        return render("common", "help", language)
    if _THANKS.search(message):
        return render("common", "thanks", language)
    if _BYE.search(message):
        return render("common", "bye", language)
    return render("common", "greeting", language)
