"""Place names in a question: gazetteer and catalog names that read like names ('Nice' but not 'nice weather'),
and capitalised names that look like places but are in no gazetteer ('Qwzxyville'). A place is never invented."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from assistant.planner.dates import MONTHS
from tools.core.text import fold_text

# Function words and domain words never taken for a place on their own, even capitalised.
_STOP = set(
    """a an the of in on at to from for with by near over around about and or is are was were be been do does did
    what which where who whom whose how why when there here this that these those it its me my we our you your they
    show find search look give tell go zoom display get compare detect describe locate list map maps image images
    picture pictures photo photos scene scenes imagery data tile tiles satellite area region city town village country
    change changes changed new old any some all each every more most less least than much many other same like as
    hi hello hey thanks thank please ok okay yes no good great nice cool bye goodbye morning evening night
    le la les l un une des du de d au aux et ou est sont que qui quoi quel quelle quels quelles dans sur sous avec
    pour par entre depuis avant apres cette ce ces cet mon ma mes moi toi il elle nous vous ils elles y a en se sa son
    montre montrez trouve trouvez cherche cherchez affiche affichez donne decris decrivez compare comparez localise
    situe carte photo vue ville pays zone zones region quartier merci bonjour salut bonsoir au revoir oui non bien
    sentinel landsat naip spacenet copernicus modis planet google esri osm openstreetmap
    january february march april may june july august september october november december
    janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    spring summer autumn fall winter printemps ete automne hiver today yesterday year years annee annees
    north south east west nord sud est ouest central centre center upper lower
    """.split()
)
_PLACE_PREPOSITIONS = {
    "in", "at", "of", "near", "over", "around", "for", "to", "across", "about", "from",
    "a", "au", "aux", "en", "de", "du", "sur", "pres", "autour", "vers", "dans", "des",
}
_NAME_LEADS = {"is", "locate", "show", "zoom", "center", "centre", "trouve", "est", "situe", "localise", "montre"}
_CONNECTORS = {"de", "du", "des", "la", "le", "les", "of", "the", "on", "upon", "sur", "en", "l", "d", "al", "el"}


@dataclass
class PlaceMention:
    text: str  # as written in the question (minus a leading article)
    key: str
    kind: str
    score: float
    start: int


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """Word tokens with their character spans (hyphenated and apostrophe'd names split into words)."""
    return [(m.group(0), m.start(), m.end()) for m in re.finditer(r"[^\W_]+", text)]


@lru_cache(maxsize=1)
def _extra_stopwords() -> frozenset[str]:
    """Lower-case words of the routing examples: vocabulary of questions, hence not place names."""
    from assistant.tool_specs import load_tool_specs

    words: set[str] = set()
    for spec in load_tool_specs().values():
        for example in spec.examples:
            for token, _s, _e in _tokens(example):
                if token.islower():
                    words.add(fold_text(token))
    return frozenset(words)


def find_places(text: str, catalog_keys: set[str] | None = None) -> list[PlaceMention]:
    """Place names in a question, best first: catalog places, then countries/states, then towns.

    A span counts when it is a gazetteer name and looks like a name (capitalised, or after 'in'/'à'...),
    so 'Show', 'Nice weather' or 'new buildings' are not places while 'Nice' and 'Abu Dhabi' are.
    """
    from tools.places import catalog_places, gazetteer

    gaz = gazetteer()
    catalog = catalog_keys if catalog_keys is not None else set(catalog_places())
    tokens = _tokens(text)
    stop = _STOP | _extra_stopwords()
    all_lower = text == text.lower()
    found: list[PlaceMention] = []
    for i in range(len(tokens)):
        for n in range(min(gaz.max_words, 5), 0, -1):
            if i + n > len(tokens):
                continue
            span = tokens[i : i + n]
            words = [t[0] for t in span]
            if fold_text(words[0]) in _CONNECTORS or fold_text(words[-1]) in _CONNECTORS:
                continue
            key = fold_text(" ".join(words))
            if not key or key.isdigit():
                continue
            prev = fold_text(tokens[i - 1][0]) if i > 0 else ""
            after_prep = prev in _PLACE_PREPOSITIONS
            article = ""
            if prev in ("du", "au") and gaz.kind_of("le " + key) and not gaz.kind_of(key):
                key, article = "le " + key, "Le "  # 'la ville du Mans' is Le Mans
            capitalised = all(w[:1].isupper() or fold_text(w) in _CONNECTORS for w in words)
            if n == 1 and key in _NOT_NAMES and key not in catalog:
                continue  # 'in English', 'Sentinel': words of the trade, not the towns of that name
            if n == 1 and (key in stop or len(key) < 3):
                if not (key in catalog and (capitalised or prev in _PLACE_PREPOSITIONS)):
                    continue
            raw = article + text[span[0][1] : span[-1][2]]
            sentence_start = i == 0 or text[: span[0][1]].rstrip()[-1:] in {".", "!", "?", ":"}
            if key in catalog:
                kind, pop, base = "catalog", 0, 9.0
            else:
                known = gaz.kind_of(key)
                if known is None:
                    continue
                kind, pop = known
                if kind in ("country", "state", "region", "continent"):
                    base = 7.0
                elif kind == "city":
                    base = 2.0 + min(len(str(max(pop, 1))), 8) * 0.4  # about log10(pop)
                else:  # alternate names: exonyms of big towns only
                    if pop < 100000:
                        continue
                    base = 1.5 + min(len(str(max(pop, 1))), 8) * 0.3
            if not capitalised and not all_lower:
                # lower-case words in a normally written sentence are rarely names, except well-known ones
                # right after 'in'/'of'/'à' ('imagery over china', 'changes in bordeaux')
                well_known = kind in ("country", "state", "region", "continent") or (kind == "city" and pop >= 200000)
                lead = after_prep or prev in _NAME_LEADS
                if kind != "catalog" and not (well_known and lead and key not in stop):
                    continue
            score = base + 1.0 * (n - 1)
            if capitalised and not sentence_start:
                score += 2.0
            if after_prep:
                score += 1.5
            whole = len(tokens) == n  # the message is just the name
            weak_start = sentence_start and not after_prep and not whole and n == 1
            if weak_start and kind not in ("catalog", "country", "state", "region"):
                score -= 2.5
            if all(fold_text(w) in stop for w in words):
                score -= 3.0
            found.append(PlaceMention(text=raw, key=key, kind=kind, score=score, start=span[0][1]))
    # drop spans inside a better (longer or stronger) overlapping span
    found.sort(key=lambda p: -p.score)
    kept: list[PlaceMention] = []
    for cand in found:
        c_end = cand.start + len(cand.text)
        if any(not (c_end <= k.start or cand.start >= k.start + len(k.text)) for k in kept):
            continue
        if cand.score >= 2.5:
            kept.append(cand)
    return kept


_NOT_NAMES = {
    "sentinel", "landsat", "naip", "spacenet", "modis", "spot", "pleiades", "worldview", "planet", "aid", "oscd",
    "levir", "dsifn", "english", "french", "anglais", "francais", "rgb", "ndvi", "gps", "i", "je", "stac", "cog",
    "geojson", "google", "earth", "ok", "merci", "thanks",
}


def unknown_place(text: str) -> str | None:
    """A capitalised name that reads like a place but is in no gazetteer ('scenes of Qwzxyville'), or None.

    Saying "I don't know Qwzxyville" is better than searching for it as content or asking which place was meant.
    """
    tokens = _tokens(text)
    stop = _STOP | _extra_stopwords()
    for i, (word, start, _end) in enumerate(tokens):
        prev = fold_text(tokens[i - 1][0]) if i > 0 else ""
        if prev in ("the", "la", "le", "les", "l") and i > 1:
            prev = fold_text(tokens[i - 2][0])
        if not word[:1].isupper() or not (prev in _PLACE_PREPOSITIONS or prev in _NAME_LEADS):
            continue
        span_end, j = tokens[i][2], i + 1
        while j < len(tokens) and j < i + 4:  # 'Trifouillis-les-Oies', 'Port Moresby'
            nxt, s2, e2 = tokens[j]
            joined = text[span_end:s2] in ("-", " ", "'")
            if not joined or not (nxt[:1].isupper() or (fold_text(nxt) in _CONNECTORS and text[span_end:s2] == "-")):
                break
            span_end, j = e2, j + 1
        name = text[start:span_end].strip(" -'")
        key = fold_text(name)
        first = fold_text(word)
        if not key or key.isdigit() or first in stop or first in _NOT_NAMES or first in MONTHS or len(key) < 3:
            continue
        return name
    return None


def best_place(text: str) -> str | None:
    """The place a question is about, as written (e.g. 'Abu Dhabi', 'North Dakota'), or None."""
    places = find_places(text)
    return places[0].text if places else None
