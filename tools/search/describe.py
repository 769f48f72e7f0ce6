"""Chip descriptions for offline text search, and the small EN/FR scene-class vocabulary behind them.

Offline text search matches a query against sentences that describe each chip (predicted scene classes, land-cover
facts, place, date). The sentence model (all-MiniLM-L6-v2) is English-centric, so French class names in a query are
first rewritten to English with the vocabulary below. Classes are *predicted* (the default encoder's scene probe,
or k-NN over an exemplar bank for other encoders), never taken from ground truth.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tools.search.lexicon import FR_MARKERS, FR_TERMS

# AID-style class id -> (English phrase, French names). The first French name is the canonical one.
CLASSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Airport": ("airport", ("aéroport", "aérodrome", "piste d'atterrissage")),
    "BareLand": ("bare land", ("sol nu", "terrain nu", "terre nue", "friche")),
    "BaseballField": ("baseball field", ("terrain de baseball", "baseball")),
    "Beach": ("beach", ("plage", "littoral")),
    "Bridge": ("bridge", ("pont",)),
    "Center": ("city center", ("centre-ville", "centre ville", "centre urbain")),
    "Church": ("church", ("église", "cathédrale", "chapelle")),
    "Commercial": ("commercial area", ("zone commerciale", "quartier commercial", "commerces")),
    "DenseResidential": ("dense residential area", ("zone résidentielle dense", "habitat dense", "résidentiel dense")),
    "Desert": ("desert", ("désert", "dunes")),
    "Farmland": ("farmland", ("terres agricoles", "champs", "terre agricole", "cultures", "champ")),
    "Forest": ("forest", ("forêt", "bois", "forêts")),
    "Industrial": ("industrial area", ("zone industrielle", "industrie", "usine", "usines", "industriel")),
    "Meadow": ("meadow", ("prairie", "pré", "prairies", "pâturage")),
    "MediumResidential": ("medium residential area", ("zone résidentielle moyenne", "résidentiel moyen")),
    "Mountain": ("mountain", ("montagne", "montagnes", "relief montagneux")),
    "Park": ("park", ("parc", "jardin public")),
    "Parking": ("parking lot", ("parking", "parc de stationnement", "stationnement")),
    "Playground": ("playground sports ground", ("terrain de sport", "terrain de jeux", "aire de jeux")),
    "Pond": ("pond", ("étang", "mare", "bassin")),
    "Port": ("port harbour", ("port", "port maritime", "ports", "havre")),
    "RailwayStation": ("railway station", ("gare", "gare ferroviaire", "station ferroviaire")),
    "Resort": ("resort", ("station balnéaire", "complexe hôtelier", "lieu de villégiature")),
    "River": ("river", ("rivière", "fleuve", "cours d'eau")),
    "School": ("school", ("école", "lycée", "collège", "établissement scolaire")),
    "SparseResidential": ("sparse residential area", ("zone résidentielle peu dense", "habitat dispersé")),
    "Square": ("public square", ("place publique", "esplanade", "grand-place")),
    "Stadium": ("stadium", ("stade",)),
    "StorageTanks": ("storage tanks", ("réservoirs de stockage", "cuves de stockage", "réservoirs", "cuves")),
    "Viaduct": ("viaduct", ("viaduc",)),
}

# A few common French words around class names in queries, so the English model is not left with noise.
FR_WORDS: dict[str, str] = {
    "images": "images",
    "image": "image",
    "scenes": "scenes",
    "scène": "scene",
    "scènes": "scenes",
    "trouve": "find",
    "trouver": "find",
    "cherche": "find",
    "montre": "show",
    "montre-moi": "show me",
    "avec": "with",
    "des": "",
    "les": "",
    "le": "",
    "la": "",
    "du": "",
    "de": "",
    "d'": "",
    "un": "",
    "une": "",
    "près": "near",
    "pres": "near",
    "sur": "over",
    "au-dessus": "over",
    "eau": "water",
    "végétation": "vegetation",
    "nuages": "clouds",
    "ville": "city",
    "zones": "areas",
    "zone": "area",
    "similaires": "similar",
}


def fold(text: str) -> str:
    """Lower case without accents, for matching French words typed with or without them."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def class_phrase(label: str) -> str:
    """English phrase of a class id ('DenseResidential' -> 'dense residential area'); unknown ids are split."""
    if label in CLASSES:
        return CLASSES[label][0]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", label).replace("_", " ").lower()


def french_name(label: str) -> str:
    """The canonical French name of a class id (for FR answers and the FR evaluation queries)."""
    return CLASSES[label][1][0] if label in CLASSES else class_phrase(label)


def _fr_table(terms: bool = False) -> list[tuple[str, str]]:
    pairs = [(fold(fr), en) for en, frs in CLASSES.values() for fr in frs]
    pairs += [(fold(fr), en) for fr, en in FR_WORDS.items()]
    if terms:  # descriptive words ('bateaux', 'amarrés', 'cuves de pétrole'): French queries only
        pairs += [(fold(fr), en) for fr, en in FR_TERMS.items() if fold(fr) not in {p for p, _ in pairs}]
    return sorted(pairs, key=lambda p: -len(p[0]))  # longest first: 'zone résidentielle dense' before 'zone'


def _phrase_re(fr: str) -> str:
    """A French phrase as a regex group, plurals included (gares, forêts, zones résidentielles denses)."""
    words = r"\s+".join(re.escape(w) + (r"[sx]?" if len(w) > 3 else "") for w in fr.split()).replace("'", r"'\s?")
    return r"(?<![\w-])(" + words + r")(?![\w-])"


def _compile(table: list[tuple[str, str]]) -> tuple[re.Pattern[str], list[str]]:
    return re.compile("|".join(_phrase_re(fr) for fr, _en in table)), [en for _fr, en in table]


_FR_RE, _FR_EN = _compile(_fr_table())
_FR_FULL_RE, _FR_FULL_EN = _compile(_fr_table(terms=True))
_FR_ONLY = {fold(w) for w in FR_TERMS if " " not in w} | {fold(f) for _e, frs in CLASSES.values() for f in frs}


_ELISION = re.compile(r"(?<![\w-])(l|d|qu|j|n|s|c)'\s?")


def looks_french(query: str) -> bool:
    """Accents, French glue words, or mostly French scene words ('massif montagneux'): then read it as French."""
    if re.search(r"[àâçéèêëîïôûùüœ]", query.lower()):
        return True
    words = re.findall(r"[a-z]+", fold(query))
    if any(w in FR_MARKERS for w in words):
        return True
    known = sum(1 for w in words if w in _FR_ONLY or w.rstrip("sx") in _FR_ONLY)
    return bool(words) and 2 * known >= len(words)


def to_english(query: str) -> str:
    """Rewrite French scene-class names and glue words in a query to English, and for a French query its
    descriptive words too (`lexicon.FR_TERMS`); English passes through."""
    french = looks_french(query)
    pattern, english = (_FR_FULL_RE, _FR_FULL_EN) if french else (_FR_RE, _FR_EN)
    text = " " + re.sub(r"\s+", " ", fold(query)).strip() + " "
    if french:  # "l'eau" -> "l' eau": the word after an elision is looked up on its own
        text = _ELISION.sub(r"\1' ", text)
    text = pattern.sub(lambda m: english[m.lastindex - 1], text)  # one pass: English output is never re-read
    if french:
        text = _ELISION.sub(" ", text)  # elisions left over ("d' ", "qu' ")
    return re.sub(r"\s+", " ", text).strip()


def mentioned_classes(query: str) -> list[str]:
    """Class ids whose English or French names appear in the query (used to tell semantic from catalog queries)."""
    text = " " + to_english(query) + " "
    found = []
    for label, (en, _fr) in CLASSES.items():
        head = en.split()[0] if en.endswith(("area", "lot", "harbour")) else en
        if re.search(rf"\b{re.escape(head)}s?\b", text) or re.search(rf"\b{re.escape(en)}\b", text):
            found.append(label)
    return found


@dataclass
class ClassBank:
    """Exemplar features with labels: k-NN scene classes for chips embedded by the same encoder."""

    features: np.ndarray  # (N, D) L2-normalised
    labels: list[str]
    encoder: str = "efficientnet-lite0"

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def predict(
        self, vectors: np.ndarray, k: int = 10, exclude: Sequence[int | None] | None = None, top: int = 3
    ) -> list[list[tuple[str, float]]]:
        """Top classes with vote shares for each vector; `exclude[i]` is a bank row to leave out (leave-one-out)."""
        classes = self.classes
        col = {c: i for i, c in enumerate(classes)}
        y = np.array([col[c] for c in self.labels])
        sims = np.asarray(vectors, np.float32) @ self.features.T
        if exclude is not None:
            for i, j in enumerate(exclude):
                if j is not None:
                    sims[i, j] = -np.inf
        k = min(k, self.features.shape[0] - (1 if exclude is not None else 0))
        nn = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out = []
        for i in range(sims.shape[0]):
            weights = np.exp((sims[i, nn[i]] - sims[i, nn[i]].max()) / 0.05)  # sharper votes for closer exemplars
            votes = np.bincount(y[nn[i]], weights=weights, minlength=len(classes))
            votes = votes / votes.sum()
            order = np.argsort(-votes)[:top]
            out.append([(classes[j], round(float(votes[j]), 3)) for j in order if votes[j] > 0])
        return out


CONCEPTS_IN_DESCRIPTION = 4  # phrases of the main predicted class (2: 0.83 EN dev P@5, 4: 0.91, 6: 0.88)
_FACT_WORDS = {  # fact key -> (least share worth saying, English words, French words)
    "vegetation_fraction": (0.0, "vegetation", "de végétation"),
    "water_fraction": (0.0, "water", "d'eau"),
    "rgb_vegetation_fraction": (0.5, "green vegetation", "de végétation verte"),
    "rgb_water_fraction": (0.3, "dark water", "d'eau sombre"),
    "rgb_bright_fraction": (0.4, "bright built surfaces", "de surfaces bâties claires"),
}


def describe(
    classes: Sequence[tuple[str, float]],
    facts: dict[str, float] | None = None,
    place: str | None = None,
    date: str | None = None,
    platform: str | None = None,
    lang: str = "en",
) -> str:
    """One sentence per chip: main *predicted* class first with what such scenes show (`lexicon.CONCEPTS`: the
    words text queries use), then other likely classes, land cover measured on the chip, place, date.
    English feeds the sentence model; French (`lang='fr'`) is for French answers."""
    from tools.search.lexicon import CONCEPTS

    fr = lang == "fr"
    parts = []
    if classes:
        main, _p = classes[0]
        if fr:
            parts.append(f"image aérienne : {french_name(main)}")
        else:
            shows = CONCEPTS.get(main, ())[:CONCEPTS_IN_DESCRIPTION]
            parts.append(f"aerial image of {class_phrase(main)}" + (": " + ", ".join(shows) if shows else ""))
        others = [french_name(c) if fr else class_phrase(c) for c, p in classes[1:] if p >= 0.2]
        if others:
            parts.append(("peut-être " + " ou ".join(others)) if fr else ("possibly " + " or ".join(others)))
    cover = [
        f"{facts[key] * 100:.0f}% {words[2] if fr else words[1]}"
        for key, words in _FACT_WORDS.items()
        if facts and key in facts and facts[key] >= words[0]
    ]
    if cover:
        parts.append(", ".join(cover))
    if place:
        parts.append(f"{'près de' if fr else 'near'} {place}")
    if date or platform:
        parts.append(" ".join(x for x in (platform, date) if x))
    if parts:
        return ". ".join(parts)
    return "image aérienne" if fr else "aerial image"
