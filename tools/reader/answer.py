"""What a question asks, and the offline answer composed from templates (`prompts/answers/read_image_offline.<lang>.md`,
read with `tools.core.templates`, the format of every answer template).

The offline reader answers only what its models measured (scene type, cover shares, cloudiness, image facts).
Counting, reading text, finding specific objects and open questions are refused in plain words, naming the kind
of model that would answer them, while the scene type is still given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.core.templates import template_table, template_text

_WORD = r"(?<![\w-]){}(?![\w-])"

INTENT_WORDS: dict[str, list[str]] = {
    "count": ["how many", "count", "counting", "number of", "combien", "nombre de", "nombre d'", "compter", "compte"],
    "text": ["read", "text", "written", "writing", "label on", "sign", "lettering", "lire", "texte", "écrit", "ecrit",
             "inscription", "panneau"],
    "water": ["water", "river", "lake", "sea", "ocean", "pond", "flood", "flooded", "wet", "eau", "rivière", "riviere",
              "lac", "mer", "océan", "ocean", "fleuve", "étang", "inond", "inondé", "inondée"],
    "vegetation": ["vegetation", "vegetated", "green", "greenery", "forest", "trees", "tree", "crops", "crop",
                   "grass", "ndvi", "végétation", "vegetation", "verdure", "forêt", "foret", "arbres", "cultures",
                   "herbe"],
    "built_up": ["urban", "built", "built-up", "buildings", "building", "city", "town", "houses", "bâti", "bati",
                 "urbain", "urbaine", "ville", "bâtiments", "batiments", "maisons", "construit"],
    "cloud": ["cloud", "clouds", "cloudy", "cloudiness", "overcast", "haze", "nuage", "nuages", "nuageux", "nuageuse",
              "nébulosité", "nebulosite", "couverture nuageuse"],
    "facts": ["resolution", "gsd", "when", "date", "crs", "projection", "size", "footprint", "where", "résolution",
              "quand", "taille", "emprise", "où"],
    "scene": ["what is", "what's", "describe", "description", "kind of", "type of", "classify", "scene", "look like",
              "qu'est-ce", "quel type", "quelle sorte", "décris", "decris", "décrire", "classe", "scène", "scene"],
}  # fmt: skip

# Specific things the scene classifier cannot detect; a question naming them gets the "cannot detect" line.
OBJECT_WORDS = [
    "airplane", "airplanes", "aircraft", "plane", "planes", "jet", "car", "cars", "vehicle", "vehicles", "truck",
    "trucks", "ship", "ships", "boat", "boats", "vessel", "person", "people", "animal", "animals", "pool", "pools",
    "tank", "tanks", "tennis court", "bus", "train", "trains", "helicopter", "avion", "avions", "voiture", "voitures",
    "véhicule", "véhicules", "camion", "camions", "navire", "navires", "bateau", "bateaux", "personne", "personnes",
    "piscine", "piscines", "réservoir", "réservoirs", "hélicoptère",
]  # fmt: skip
_OPEN_QUESTION = ["why", "thoughts", "opinion", "should", "recommend", "planning", "pourquoi", "avis", "penses",
                  "devrait", "conseil", "urbanisme"]  # fmt: skip


def _has(text: str, word: str) -> bool:
    return re.search(_WORD.format(re.escape(word)), text) is not None


@dataclass
class Intent:
    """What the question asks for: measurable topics, refusals, and any candidate classes it lists."""

    topics: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    named: list[str] = field(default_factory=list)


_CLASSIFY_CUES = ["classify", "classes", "class", "which of", "one of", "among", "either", "or", "classe", "classes",
                  "parmi", "lequel", "laquelle", "ou"]  # fmt: skip


def _spaced(label: str) -> str:
    """'DenseResidential' -> 'dense residential'."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", label).lower()


def _class_pattern(label: str) -> str:
    """Whole words of a class name, spaced or not, optional plural: 'storage tanks', 'storagetank', 'airports'."""
    words = _spaced(label).split()
    return r"(?<![a-z])" + r"\s*".join(re.escape(w) for w in words) + r"s?(?![a-z])"


def parse(question: str, classes: list[str] | None = None) -> Intent:
    """Keyword intent (EN/FR). Objects named alongside 'how many' become a count refusal, not a detection one."""
    text = (question or "").lower().replace("’", "'")
    intent = Intent()
    for topic, words in INTENT_WORDS.items():
        if any(_has(text, w) for w in words):
            intent.topics.append(topic)
    intent.objects = [w for w in OBJECT_WORDS if _has(text, w)]
    if classes:
        intent.named = [c for c in classes if re.search(_class_pattern(c), text)]
        cue = any(_has(text, w) for w in _CLASSIFY_CUES)
        if len(intent.named) >= 3 or (len(intent.named) == 2 and cue):
            intent.candidates = list(intent.named)
        named = " ".join(_spaced(c) for c in intent.named)
        intent.objects = [w for w in intent.objects if not _has(named, w)]  # "storage tanks" is a class, not a query
    if "count" in intent.topics:
        intent.refusals.append("count")
    if "text" in intent.topics:
        intent.refusals.append("text")
    if intent.objects and "count" not in intent.refusals:
        intent.refusals.append("detect")
    if not intent.refusals and any(_has(text, w) for w in _OPEN_QUESTION):
        intent.refusals.append("reason")
    intent.topics = [t for t in intent.topics if t not in ("count", "text")]
    return intent


TEMPLATES = "read_image_offline"


class _Templates:
    """The reader's sections in one language: `t[key]` is a template to format, `t.table(section)` a table."""

    def __init__(self, language: str) -> None:
        self.language = language if language in ("en", "fr") else "en"

    def __getitem__(self, section: str) -> str:
        return template_text(TEMPLATES, section, self.language)

    def table(self, section: str) -> Mapping[str, str]:
        return template_table(TEMPLATES, section, self.language)


def label_text(label: str, language: str) -> str:
    """A scene class in words ('DenseResidential' -> 'a dense residential area'), from the templates' labels."""
    return _Templates(language).table("labels").get(label, _spaced(label))


def offline_answer(intent: Intent, facts: dict[str, Any], language: str, models: list[str]) -> str:
    """The answer sentence(s) from templates: refusals first, then the scene type, then what was asked and measured."""
    t = _Templates(language)
    parts: list[str] = []
    for refusal in intent.refusals:
        if refusal == "count":
            parts.append(t["cannot_count"])
        elif refusal == "text":
            parts.append(t["cannot_read"])
        elif refusal == "detect":
            parts.append(t["cannot_detect"].format(objects=", ".join(intent.objects)))
        elif refusal == "reason":
            parts.append(t["cannot_reason"])
    classes = facts.get("scene_classes") or []
    if facts.get("unreadable"):
        reason = t.table("unreadable_reasons")[facts["unreadable"]].format(**facts)
        parts.append(t["cannot_tell"].format(reason=reason))
        return " ".join([*parts, t["models"].format(models="; ".join(models))])  # nothing else was measured
    if classes:
        label, score = classes[0]
        alts = ", ".join(f"{label_text(lbl, language)} ({s:.2f})" for lbl, s in classes[1:3]) or "-"
        key = "scene_restricted" if facts.get("scene_candidates") else ("scene" if score >= 0.4 else "scene_unsure")
        if facts.get("scene_unfamiliar"):
            key = "scene_unfamiliar"
        parts.append(t[key].format(label=label_text(label, language), score=score, alternatives=alts))
    parts.extend(_cover_sentences(intent, facts, t))
    if "facts" in intent.topics or facts.get("georeferenced"):
        parts.append(_image_facts(facts, t))
    if facts.get("window_bbox"):
        parts.append(t["region"].format(bbox=", ".join(f"{v:.4f}" for v in facts["window_bbox"])))
    for label, score in facts.get("asked_classes", {}).items():
        parts.append(t["class_score"].format(label=label_text(label, language), score=score))
    parts.append(t["models"].format(models="; ".join(models)))
    return " ".join(p for p in parts if p)


def _cover_sentences(intent: Intent, facts: dict[str, Any], t: _Templates) -> list[str]:
    out: list[str] = []
    measurable = facts.get("measurable", [])
    asked = [topic for topic in ("water", "vegetation", "built_up") if topic in intent.topics]
    if not asked and not intent.refusals:
        asked = [topic for topic in ("water", "vegetation", "built_up") if topic in measurable]
    missing = []
    for topic in asked:
        pct = facts.get(f"{topic}_pct")
        if pct is None:
            if topic == "built_up" and "vegetation" in measurable:
                out.append(t["built_no_swir"])
            else:
                missing.append(topic)
            continue
        present = pct >= 1.0
        if topic == "water":
            key = "water_present" if present else "water_absent"
            out.append(t[key].format(pct=pct, index=facts.get("water_index", "NDWI")))
        elif topic == "vegetation":
            key = "vegetation_present" if present else "vegetation_absent"
            out.append(t[key].format(pct=pct, threshold=0.3))
        else:
            out.append(t["built_present" if present else "built_absent"].format(pct=pct))
    if missing:
        names = t.table("topics")
        joiner = f" {t['topics_joiner']} "
        out.append(t["no_bands"].format(what=joiner.join(names[m] for m in missing)))
    if "cloud" in intent.topics or "cloud_pct" in facts:
        if "cloud_pct" in facts:
            out.append(t["cloud"].format(cloud=facts["cloud_pct"], shadow=facts.get("cloud_shadow_pct", 0.0),
                                         model=facts.get("cloud_model", "")))  # fmt: skip
        elif "cloud" in intent.topics:
            reason = t.table("cloud_reasons").get(facts.get("cloud_unavailable", ""), "-")
            out.append(t["cloud_unavailable"].format(reason=reason))
    return out


def _image_facts(facts: dict[str, Any], t: _Templates) -> str:
    gsd = t["image_facts_gsd"].format(gsd=facts["gsd_m"]) if facts.get("gsd_m") else ""
    crs = t["image_facts_crs"].format(crs=facts["crs"]) if facts.get("crs") else ""
    date = t["image_facts_date"].format(date=facts["date"]) if facts.get("date") else ""
    return t["image_facts"].format(width=facts.get("width"), height=facts.get("height"), gsd=gsd, crs=crs, date=date)
