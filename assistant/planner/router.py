"""Router planner: picks one tool and its arguments without an LLM (offline, CPU, small models).

Tool choice = MiniLM similarity to each tool's description and example questions (EN and FR, from
`prompts/tools/*.md`) plus a few cue rules where embeddings are weak: an attached image with a question about
"this image" is `read_image`, change words with two dates are `detect_change`, greetings are `none`.
Arguments come from `assistant.planner.dates`, `language`, `place_names` and `scene_filters`. A follow-up
("and in 2018?") reuses the previous turn's tool and arguments from the session context. A missing required argument
yields a clarifying question instead of a call.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from assistant.config import get_settings
from assistant.planner.dates import NUMBER_WORDS, DateRange, parse_dates, scan_dates
from assistant.planner.language import detect_language
from assistant.planner.place_names import find_places, unknown_place
from assistant.planner.scene_filters import parse_cloud_cover, parse_platform
from assistant.planner.sector_args import (
    SECTOR_CUE,
    SITE_WORDS,
    parse_point,
    parse_radius_km,
    parse_theme,
    parse_threshold,
)
from assistant.tool_specs import TOOLS, ToolSpec, load_tool_specs  # noqa: F401 - TOOLS re-exported
from tools.core.text import fold_text

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What to do with one message: a tool call, a clarifying question, or nothing."""

    tool: str  # one of TOOLS
    args: dict[str, Any] = field(default_factory=dict)
    language: str = "en"
    clarify: str | None = None  # key of the clarifying question (prompts/answers/clarify.<lang>.md)
    scores: dict[str, float] = field(default_factory=dict)
    follow_up: bool = False
    notes: list[str] = field(default_factory=list)  # said before the answer (prompts/answers/common: note_<key>)


# --- cue rules: (pattern on the normalised text, tool, weight) ------------------------------------------------
_CUES: list[tuple[re.Pattern[str], str, float]] = [
    (re.compile(p), tool, w)
    for p, tool, w in [
        # change: verbs and nouns of change, comparison, evolution (EN/FR)
        (r"\b(chang\w*|evol\w*|compar\w*|differen\w*|transform\w*|grow\w*|grew|growth|expan\w*|extension"
         r"|deforest\w*|destroy\w*|detrui\w*|disappear\w*|disparu\w*|appear\w*|apparu\w*|apparition|built|construct\w*"
         r"|new (buildings?|roads?|houses?)|nouve(aux|lles?) (batiments?|routes?|constructions?|maisons?)"
         r"|before and after|avant et apres|progress\w*|damage\w*|degats|urbani[sz]\w*|what is new|quoi de neuf"
         r"|ce qui est nouveau|cut|coupe\w*|flood\w*|inond\w*)\b", "detect_change", 0.22),
        # find: searching, listing, availability of imagery
        (r"\b(find|search|look for|looking for|list|available|availability|do you have|have you got"
         r"|any (images?|imagery|scenes?)"
         r"|which (images?|scenes?|imagery)|what (images?|scenes?|imagery|data)|browse|catalog\w*|retrieve"
         r"|cherche\w*|trouve\w*|recherche\w*|liste\w*|disponibles?|as tu|avez vous|quelles? (images?|scenes?|donnees)"
         r"|similar|similaires?|semblables?|ressembl\w*|like this|comme celle)\b", "find_scenes", 0.2),
        (r"\b(images|imagery|scenes|pictures|photos|tiles|acquisitions?|data)\b", "find_scenes", 0.08),
        # locate: where is, go to, centre the map
        (r"\b(where is|where s|where are|where exactly|locate|location of|go to|take me|fly to|zoom|pan to|pan over"
         r"|cent(er|re) (the )?map|on the map|on a map|move the map|marker|ou (se )?trouve|ou est|ou se situe"
         r"|localise\w*"
         r"|situe\w*|sur la carte|emmene|va a|aller a|deplace|zoome\w*|marqueur|dans quel pays|which country)\b",
         "locate_place", 0.25),
        # read: questions about the image at hand
        (r"\b(this|the|that|attached|uploaded|my) (image|photo|picture|tile|scene|pic)\b"
         r"|\b(cette|la|cet|ma) (image|photo|tuile|scene)\b|\bl image\b|\bin the picture\b|\bhere\b|\bici\b"
         r"|\b(describe|decri\w*|what do you see|que vois tu|qu est ce qu on voit|que voit on|what is shown"
         r"|is this|is it"
         r"|est ce|how many|combien|count|compte)\b", "read_image", 0.22),
    ]
]
_GREETING = re.compile(
    r"^(hi|hello|hey|yo|good (morning|afternoon|evening)|thanks?( you)?|thank you( very much| so much)?|thx|cheers"
    r"|bye|goodbye|see you|ok|okay|great|perfect|cool|nice|bonjour|salut|bonsoir|coucou|merci( beaucoup| bien)?"
    r"|au revoir|a plus|a bientot|d accord|parfait|super|genial|top)\b"
)
_SIMILAR = re.compile(
    r"\b(similar|like this|like the attached|like that one|semblables?|similaires?|ressembl\w*|comme cel\w+)\b"
)
_CHANGE_WORDS = re.compile(
    r"\b(chang\w*|compar\w*|differen\w*|evol\w*|before|after|avant|apres|previous|precedente?|earlier|new|nouv\w*"
    r"|appeared|apparu\w*|disappeared|disparu\w*)\b"
)
_FOLLOW_UP = re.compile(
    r"^(and|what about|how about|same (for|in|with)|also|now|then|et|et pour|et a|et en|et au|pareil|meme chose|idem"
    r"|maintenant|puis|aussi)\b"
)
# Words that say what to do, not what to look for: removed from the scene-search query.
_NOT_CONTENT = set(
    """find search look looking list show give get browse retrieve want need see display please some any all
    image images imagery scene scenes picture pictures photo photos tile tiles data satellite aerial available
    have has had do does you your me i my we our which what where that this these those like look looks looking
    similar similars there here is are was were be of in on at to from for with over the a an and or than less more
    cloud clouds cloudy cover free percent catalog catalogue taken acquired captured shows showing show contain
    containing contains with without between since until before after during year years
    cherche chercher cherchez trouve trouver trouvez recherche liste montre montrez moi donne affiche veux voudrais
    des de du la le les l un une d et ou avec sans sur dans en au aux pour par qui que quoi quelles quels quelle
    quel as avez tu vous il y a t disponible disponibles image images scene scenes photo photos donnees satellite
    nuage nuages nuageux nuageuse couverture moins plus ressemblent ressemble ressemblant semblables similaires montrant
    montre prises pris celle celles ci cette ces ce entre depuis avant apres pendant annee annees s plait svp
    sentinel landsat naip spacenet one ones more other others another pair
    last past previous month months dernier derniere derniers dernieres passe passee an ans mois
    near around nearby close pres proche proches autour alentours environs vicinity""".split()
) | set(NUMBER_WORDS)
# Small words kept inside a content phrase when they sit between content words ('près du port', 'banks of the').
_JOINERS = set("of the a an and or near around by with de du des d la le les l et ou pres proche autour au aux en a"
               " avec sur on in".split())


class Router:
    """Embeds the tool examples once; `plan()` routes one message."""

    def __init__(self, specs: dict[str, ToolSpec] | None = None):
        self.specs = specs or load_tool_specs()
        self.texts: list[str] = []
        self.labels: list[str] = []
        for name, spec in self.specs.items():
            self.texts.append(spec.description)
            self.labels.append(name)
            for example in spec.examples:
                self.texts.append(mask_places(example))
                self.labels.append(name)
        self.label_arr = np.asarray(self.labels)
        self._matrix: np.ndarray | None = None

    @property
    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = _cached_embeddings(tuple(self.texts))
        return self._matrix

    def tool_scores(self, message: str, image: bool, has_scene: bool, image_pair: bool = False) -> dict[str, float]:
        """Similarity (mean of the 3 nearest examples per tool) plus cue bonuses."""
        from tools.text_embed import embed_texts

        query = embed_texts([mask_places(message)])[0]
        sims = self.matrix @ query
        scores: dict[str, float] = {}
        for name in self.specs:
            top = np.sort(sims[self.label_arr == name])[-3:]
            scores[name] = float(top.mean())
        plain = fold_text(message)
        for pattern, tool, weight in _CUES:
            if pattern.search(plain):
                scores[tool] += weight
        words = plain.split()
        if _GREETING.match(plain) and len(words) <= 6 and not find_places(message):
            scores["none"] += 0.5
        if "measure_theme" in scores and SECTOR_CUE.search(plain):  # a theme (forest, water ...) or a site watch
            scores["measure_theme"] += 0.3
        mentions, _ = scan_dates(message)
        if len({m.year for m in mentions}) >= 2 or len(mentions) >= 2:
            scores["detect_change"] += 0.06
        if image:
            if image_pair and _CHANGE_WORDS.search(plain):  # a second upload asked what changed: compare the two
                scores["detect_change"] += 0.45
            if _SIMILAR.search(plain):
                scores["find_scenes"] += 0.35
            else:
                scores["read_image"] += 0.3
        elif not has_scene:
            scores["read_image"] -= 0.15
        return scores

    def plan(self, message: str, image: str | None = None, context: dict[str, Any] | None = None) -> Plan:
        """Route one message: tool, arguments, language, or a clarifying question."""
        context = context or {}
        language = detect_language(message)
        message = strip_greeting(message)
        has_scene = bool(context.get("scene_id") or context.get("image"))
        image_pair = bool(image and context.get("image") and context["image"] != image)
        scores = self.tool_scores(message, image is not None, has_scene, image_pair)
        tool = max(scores, key=scores.get)
        plain = fold_text(message)
        places = find_places(message)
        dates = parse_dates(message)
        follow_up = False
        last_tool = context.get("last_tool")
        if last_tool and last_tool != "none" and tool != "none":
            short = len(plain.split()) <= 6
            cue_hits = any(p.search(plain) for p, _t, _w in _CUES[:1] + _CUES[2:3])
            if _FOLLOW_UP.match(plain) and short and not cue_hits:
                tool, follow_up = last_tool, True
        plan = Plan(tool=tool, language=language, scores={k: round(v, 3) for k, v in scores.items()},
                    follow_up=follow_up)
        if dates.reversed:
            plan.notes.append("dates_reversed")
        place = places[0].text if places else (unknown_place(message) if tool != "none" else None)
        if follow_up:
            prev = dict(context.get("last_args") or {})
            if place:
                prev["place"] = place
                for key in ("before_scene_id", "after_scene_id", "scene_id"):
                    prev.pop(key, None)
            if not dates.empty:
                prev["start_date"], prev["end_date"] = dates.start, dates.end
            if tool == "read_image":
                prev["question"] = message
            plan.args = {k: v for k, v in prev.items() if v is not None}
            return plan
        builder = getattr(self, f"_args_{tool}", None)
        if builder:
            builder(plan, message, image, place, dates, context)
        return plan

    # --- per-tool arguments ----------------------------------------------------------------------------------

    def _args_locate_place(self, plan: Plan, message, image, place, dates, context) -> None:
        if place:
            plan.args = {"place": place}
        else:
            plan.clarify = "place"

    def _args_find_scenes(self, plan: Plan, message, image, place, dates: DateRange, context) -> None:
        args: dict[str, Any] = {}
        query = content_query(message, place)
        if query:
            args["query"] = query
        if place:
            args["place"] = place
        if dates.start:
            args["start_date"] = dates.start
        if dates.end:
            args["end_date"] = dates.end
        cloud = parse_cloud_cover(message)
        if cloud is not None:
            args["max_cloud_cover"] = cloud
        platform = parse_platform(message)
        if platform:
            args["platform"] = platform
        if image and (_SIMILAR.search(fold_text(message)) or not args):
            args["image"] = image  # 'find images like this one': search by the attached image
        plan.args = args

    def _args_read_image(self, plan: Plan, message, image, place, dates, context) -> None:
        args: dict[str, Any] = {"question": message, "language": plan.language}
        if image:
            args["image"] = image
        elif context.get("image"):
            args["image"] = context["image"]
        elif context.get("scene_id"):
            args["scene_id"] = context["scene_id"]
        else:
            plan.clarify = "image"
        plan.args = args

    def _args_detect_change(self, plan: Plan, message, image, place, dates: DateRange, context) -> None:
        args: dict[str, Any] = {}
        plain = fold_text(message)
        refers_to_scenes = re.search(r"\b(two|both|these|those|deux|ces) (scenes?|images?|dates?)\b|before and after"
                                     r"|avant et apres", plain)
        prior = context.get("image")
        if image and prior and prior != image and not place:  # an upload compared with the one before it
            args["before_image"], args["after_image"] = prior, image
        elif place:
            args["place"] = place
        elif refers_to_scenes and context.get("scene_ids") and len(context["scene_ids"]) >= 2:
            args["before_scene_id"], args["after_scene_id"] = context["scene_ids"][0], context["scene_ids"][1]
        elif context.get("place"):
            args["place"] = context["place"]
        if dates.start:
            args["start_date"] = dates.start
        if dates.end:
            args["end_date"] = dates.end
        if "place" not in args and "before_scene_id" not in args and "before_image" not in args:
            plan.clarify = "change_target"
        plan.args = args

    def _args_measure_theme(self, plan: Plan, message, image, place, dates: DateRange, context) -> None:
        args: dict[str, Any] = {}
        theme = parse_theme(message)
        radius = parse_radius_km(message)
        point = parse_point(message)
        threshold = parse_threshold(message)
        if radius is None and (point or (threshold is not None and SITE_WORDS.search(fold_text(message)))):
            radius = 2.0  # a site watch without a distance: 2 km, said in the answer
        args["theme"] = theme or ("any" if radius else "vegetation")
        if point:
            args["lon"], args["lat"] = point
        elif place:
            args["place"] = place
        elif context.get("place"):
            args["place"] = context["place"]
        if radius is not None:
            args["radius_km"] = radius
        if threshold is not None:
            args["threshold_percent"] = threshold
        if dates.start:
            args["start_date"] = dates.start
        if dates.end:
            args["end_date"] = dates.end
        if "place" not in args and "lon" not in args:
            plan.clarify = "place"
        plan.args = args


PLACE_MASK = "the place"


def mask_places(text: str) -> str:
    """Place names replaced by a neutral phrase: similarity then reflects the intent, not the towns of the examples."""
    out = text
    for mention in sorted(find_places(text), key=lambda m: -m.start):
        if mention.text.lower().startswith("le ") and not text[mention.start:].lower().startswith("le "):
            continue  # 'du Mans' kept as is: the mention text is not a span of the message
        out = out[: mention.start] + PLACE_MASK + out[mention.start + len(mention.text) :]
    return out


def strip_greeting(message: str) -> str:
    """'Hello, where is Lille?' -> 'where is Lille?' (a greeting in front of a real question is not the question)."""
    m = re.match(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|bonjour|salut|bonsoir|coucou)\b[\s,!.]*",
                 message, re.I)
    if m and len(message[m.end():].split()) >= 2:
        return message[m.end():]
    return message


def content_query(message: str, place: str | None) -> str | None:
    """What the scenes should show, in the user's own spelling ('zones industrielles près du port', 'forêts'), or
    None when the question names none.

    Words are judged on their accent-free form but echoed as typed: the content words and the small words between
    them ('près du', 'of the'); runs split by anything else (a year, a command word) are joined with commas.
    """
    text = message
    if place:
        text = re.sub(re.escape(place), " ", text, flags=re.I)
    from assistant.planner.dates import MONTHS, SEASONS

    runs: list[list[re.Match[str]]] = []
    gap_joins = True
    for m in re.finditer(r"\w+", text):
        plain = fold_text(m.group())
        content = (plain not in _NOT_CONTENT and plain not in MONTHS and plain not in SEASONS and len(plain) > 1
                   and not plain.isdigit())
        if content:
            if runs and gap_joins:
                runs[-1].append(m)
            else:
                runs.append([m])
            gap_joins = True
        elif plain not in _JOINERS:
            gap_joins = False
    spans = [text[run[0].start(): run[-1].end()] for run in runs]
    return ", ".join(" ".join(span.split()) for span in spans) or None


def _cached_embeddings(texts: tuple[str, ...]) -> np.ndarray:
    """Embeddings of the routing examples, cached on disk by content hash (saves ~2 s at start)."""
    from tools.text_embed import embed_texts

    digest = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:16]
    cache = get_settings().data_dir / "cache" / f"router-{digest}.npy"
    if cache.exists():
        try:
            arr = np.load(cache)
            if arr.shape[0] == len(texts):
                return arr
        except Exception:  # noqa: BLE001 - rebuild a broken cache
            pass
    arr = embed_texts(list(texts))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, arr)
    except OSError:
        log.warning("could not cache router embeddings at %s", cache)
    return arr


@lru_cache(maxsize=1)
def get_router() -> Router:
    """The process-wide router (examples embedded once)."""
    return Router()
