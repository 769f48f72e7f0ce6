"""Argument extraction for the router: language, dates and ranges (EN/FR), cloud cover, platform, place names.

Everything here is rule-based and deterministic: a small LLM is worse at copying "entre mars 2016 et août 2017"
into ISO dates than twenty lines of regular expressions, and it must never invent a place.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from assistant.errors import InvalidDateError
from tools.places import normalize

# --- language -------------------------------------------------------------------------------------------------

_FR_WORDS = set(
    """le la les un une des du de au aux et est sont que qui quoi quel quelle quels quelles où ou dans sur sous avec
    pour par entre depuis avant après cette ce ces cet mon ma mes ton ta tes je tu il elle nous vous ils elles moi
    montre montrez montre-moi trouve trouver cherche chercher image images carte photo changé changements changement
    merci bonjour salut bonsoir ville pays zone zones voit vois voir décris décrire qu'est-ce y a-t-il il y a comment
    combien est-ce pourquoi nuages sans aussi encore et alors voici voilà""".split()
)
_EN_WORDS = set(
    """the a an of in on at to from for with between and is are was were what which where who how show me find
    search any there this that these those image images map picture changed change changes near over since
    until before after do does did you your my hi hello thanks thank please describe look like""".split()
)


def detect_language(text: str) -> str:
    """'fr' or 'en' from function words and accents (questions are short; this beats a model here)."""
    lowered = text.lower()
    words = re.findall(r"[a-zàâäçéèêëîïôöùûüÿœ'-]+", lowered)
    fr = sum(1 for w in words if w in _FR_WORDS or w.split("'")[0] in {"qu", "l", "d", "j", "n", "c", "s"} and "'" in w)
    en = sum(1 for w in words if w in _EN_WORDS)
    fr += 0.5 * len(re.findall(r"[àâçéèêëîïôùûœ]", lowered))
    return "fr" if fr > en else "en"


# --- dates ----------------------------------------------------------------------------------------------------

MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    [
        "january jan janvier janv",
        "february feb fevrier fevr fev",
        "march mar mars",
        "april apr avril avr",
        "may mai",
        "june jun juin",
        "july jul juillet juil",
        "august aug aout",
        "september sep sept septembre",
        "october oct octobre",
        "november nov novembre",
        "december dec decembre",
    ],
    start=1,
):
    for _n in _names.split():
        MONTHS[_n] = _i
SEASONS = {
    "spring": (3, 5), "printemps": (3, 5), "summer": (6, 8), "ete": (6, 8),
    "autumn": (9, 11), "fall": (9, 11), "automne": (9, 11), "winter": (12, 2), "hiver": (12, 2),
}
_YEAR = r"(?:19[5-9]\d|20[0-4]\d)"
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_SEASON_RE = "|".join(SEASONS)

# One date mention: ISO day, ISO month, d/m/y, [day] month [year], season [year], or a bare year.
_MENTION = re.compile(
    rf"""
    (?P<iso>\b(?P<iy>{_YEAR})-(?P<im>\d{{1,2}})(?:-(?P<id>\d{{1,2}}))?\b)
  | (?P<dmy>\b(?P<dd>\d{{1,2}})-(?P<dm>\d{{1,2}})-(?P<dy>{_YEAR})\b)
  | (?P<my>\b(?P<mm>\d{{1,2}})-(?P<myy>{_YEAR})\b)
  | (?P<named>\b(?:(?P<nd>\d{{1,2}})(?:st|nd|rd|th|er)?\s+)?(?P<nm>{_MONTH_RE})\.?
        (?:\s+(?P<nd2>\d{{1,2}})(?:st|nd|rd|th)?,?)?
        (?:\s+(?:of\s+)?(?P<ny>{_YEAR}))?\b)
  | (?P<season>\b(?P<sn>{_SEASON_RE})(?:\s+(?:of\s+)?(?P<sy>{_YEAR}))?\b)
  | (?P<year>\b(?P<y>{_YEAR})s?\b)
    """,
    re.VERBOSE,
)
_SINCE = re.compile(r"\b(since|after|starting|starting in|depuis|apres|a partir de|des)\s*$")
_UNTIL = re.compile(r"\b(before|until|till|up to|avant|jusqu a|jusqu en|jusqu au)\s*$")


@dataclass
class Mention:
    """A date mention: year may be missing ('between March and August 2017'); month/day refine it."""

    start: int
    end: int
    year: int | None
    month: int | None = None
    day: int | None = None
    season: str | None = None
    decade: bool = False
    invalid: str | None = None  # why the mention is no date ('2016-02 has 29 days'), for the user

    def bounds(self) -> tuple[date, date]:
        year = self.year or date.today().year
        if self.season:
            first, last = SEASONS[self.season]
            if first > last:  # winter spans the new year: December of `year` to February of next
                return date(year, first, 1), date(year + 1, last, calendar.monthrange(year + 1, last)[1])
            return date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1])
        if self.decade:
            return date(year, 1, 1), date(year + 9, 12, 31)
        if self.month and self.day:
            return date(year, self.month, self.day), date(year, self.month, self.day)
        if self.month:
            return date(year, self.month, 1), date(year, self.month, calendar.monthrange(year, self.month)[1])
        return date(year, 1, 1), date(year, 12, 31)


def scan_dates(text: str) -> tuple[list[Mention], str]:
    """Date mentions in reading order (years filled from the nearest mention that has one) and the scanned text.

    Mentions that are no real date ('2016-02-30') are left out; `date_errors` says what is wrong with them.
    """
    mentions, plain = _scan(text)
    return [m for m in mentions if m.year is not None and m.invalid is None], plain


def date_errors(text: str) -> list[str]:
    """One line per date in the text that does not exist: "'2016-02-30' is not a valid date (2016-02 has 29 days)"."""
    mentions, plain = _scan(text)
    return [f"'{_as_written(plain[m.start:m.end].strip(), text)}' is not a valid date ({m.invalid})"
            for m in mentions if m.invalid]


def _as_written(scanned: str, text: str) -> str:
    """The mention as the user wrote it ('30/02/2016', 'February 30'), when the scanned form can be found again."""
    pattern = r"[\s,]+".join(re.escape(word).replace(r"\-", "[-/]") for word in scanned.split())
    found = re.search(pattern, text, re.I)
    return found.group(0) if found else scanned


def _scan(text: str) -> tuple[list[Mention], str]:
    """Every date mention, invalid ones flagged with the reason."""
    plain = _plain_keep_iso(text)
    mentions: list[Mention] = []
    for m in _MENTION.finditer(plain):
        if m.group("iso"):
            month = int(m.group("im"))
            day = int(m.group("id")) if m.group("id") else None
            mentions.append(Mention(m.start(), m.end(), int(m.group("iy")), month, day))
        elif m.group("dmy"):
            day, month = int(m.group("dd")), int(m.group("dm"))
            if month > 12 and 1 <= day <= 12:  # 12/25/2016: month first (US order)
                day, month = month, day
            mentions.append(Mention(m.start(), m.end(), int(m.group("dy")), month, day))
        elif m.group("my"):
            mentions.append(Mention(m.start(), m.end(), int(m.group("myy")), int(m.group("mm"))))
        elif m.group("named"):
            name = m.group("nm")
            if name in {"mar", "may", "mai", "dec", "des", "sep", "jun", "jul", "oct", "nov", "jan", "feb", "apr"}:
                # short forms that are also words ("may", "mar"): only with a day or a year next to them
                if not (m.group("ny") or m.group("nd") or m.group("nd2")):
                    continue
            day = m.group("nd") or m.group("nd2")
            year = int(m.group("ny")) if m.group("ny") else None
            mentions.append(Mention(m.start(), m.end(), year, MONTHS[name], int(day) if day else None))
        elif m.group("season"):
            if _participle_ete(m, plain):
                continue
            year = int(m.group("sy")) if m.group("sy") else None
            mentions.append(Mention(m.start(), m.end(), year, season=m.group("sn")))
        elif m.group("year"):
            mentions.append(Mention(m.start(), m.end(), int(m.group("y")), decade=m.group(0).endswith("s")))
    # fill missing years: from the next mention with a year (between March and August 2017), else the previous
    for i, mention in enumerate(mentions):
        if mention.year is None:
            later = [x.year for x in mentions[i + 1 :] if x.year]
            earlier = [x.year for x in mentions[:i] if x.year]
            mention.year = later[0] if later else (earlier[-1] if earlier else None)
    for mention in mentions:
        mention.invalid = _why_invalid(mention)
    return mentions, plain


# French "été" is also the past participle of "être" ("a été artificialisée", "ont-elles été"): it is the season
# only with a year after it or an article or preposition before it ("l'été", "en été", "cet été", "d'été").
_SEASON_BEFORE = re.compile(r"\b(?:l|en|cet|d|ce|au|fin|debut|mi)\s*$")


def _participle_ete(match: re.Match[str], plain: str) -> bool:
    """True when this 'ete' is the verb, not the summer."""
    return match.group("sn") == "ete" and not match.group("sy") and not _SEASON_BEFORE.search(plain[: match.start()])


def _why_invalid(mention: Mention) -> str | None:
    """Why a mention's month or day does not exist, or None."""
    if mention.month is None:
        return None
    if not 1 <= mention.month <= 12:
        return f"there is no month {mention.month}"
    if mention.day is None or mention.year is None:
        return None
    days = calendar.monthrange(mention.year, mention.month)[1]
    if not 1 <= mention.day <= days:
        return f"{mention.year}-{mention.month:02d} has {days} days"
    return None


def _plain_keep_iso(text: str) -> str:
    """Like normalize() but keeps ISO dates (2016-11-03) and d/m/y together."""
    protected = re.sub(r"(\d)[-/](\d)", r"\1§\2", text)
    protected = re.sub(r"(\d)[-/](\d)", r"\1§\2", protected)
    plain = normalize(protected.replace("§", "QQ"))
    return plain.replace("qq", "§").replace("§", "-")


@dataclass
class DateRange:
    start: str | None = None
    end: str | None = None
    reversed: bool = False  # the question named the later date first ('between 2018 and 2015')

    @property
    def empty(self) -> bool:
        return self.start is None and self.end is None


NUMBER_WORDS = {
    "a": 1, "one": 1, "un": 1, "une": 1, "two": 2, "deux": 2, "three": 3, "trois": 3, "four": 4, "quatre": 4,
    "five": 5, "cinq": 5, "six": 6, "seven": 7, "sept": 7, "eight": 8, "huit": 8, "ten": 10, "dix": 10,
}
_COUNT = r"(?P<n>\d{1,2}|" + "|".join(NUMBER_WORDS) + ")"
_RELATIVE = [  # (pattern on normalize()d text, kind)
    (re.compile(rf"\b(?:last|past|previous) {_COUNT} (?P<unit>years?|months?)\b"), "span"),
    (re.compile(rf"\b{_COUNT} (?:dernieres? |derniers? )?(?P<unit>annees?|ans|mois)(?: (?:dernieres?|derniers?))?\b"),
     "span"),
    (re.compile(r"\b(?:last|previous) year\b|\b(?:l )?(?:an|annee) (?:dernier|derniere|passee?)\b"), "last_year"),
    (re.compile(r"\bthis year\b|\bcette annee\b"), "this_year"),
    (re.compile(r"\b(?:last|previous) month\b|\b(?:le )?mois (?:dernier|passe)\b"), "last_month"),
]


def _months_back(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def parse_relative_dates(text: str, today: date | None = None) -> DateRange:
    """'over the last 3 years', 'ces deux dernières années', 'last year', 'le mois dernier' -> a range ending today."""
    today = today or date.today()
    plain = normalize(text)
    for pattern, kind in _RELATIVE:
        m = pattern.search(plain)
        if not m:
            continue
        if kind == "span":
            raw = m.group("n")
            count = int(raw) if raw.isdigit() else NUMBER_WORDS[raw]
            months = count if m.group("unit").startswith("mo") else 12 * count
            if not 0 < months <= 12 * 60:
                continue
            return DateRange(_months_back(today, months).isoformat(), today.isoformat())
        if kind == "last_year":
            return DateRange(date(today.year - 1, 1, 1).isoformat(), date(today.year - 1, 12, 31).isoformat())
        if kind == "this_year":
            return DateRange(date(today.year, 1, 1).isoformat(), today.isoformat())
        first = _months_back(today.replace(day=1), 1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        return DateRange(first.isoformat(), last.isoformat())
    return DateRange()


def parse_dates(text: str, today: date | None = None) -> DateRange:
    """Start/end ISO dates of the period a question is about ('from 2015 to 2018', 'entre mars 2016 et août 2017').

    Relative periods ('the last 2 years', 'l'an dernier') count from `today` when no absolute date is given.
    """
    errors = date_errors(text)
    if errors:
        raise InvalidDateError("; ".join(errors))
    mentions, plain = scan_dates(text)
    if not mentions:
        return parse_relative_dates(text, today)
    if len(mentions) == 1:
        only = mentions[0]
        first, last = only.bounds()
        before = plain[: only.start]
        if _SINCE.search(before):
            return DateRange(first.isoformat(), None)
        if _UNTIL.search(before):
            return DateRange(None, last.isoformat())
        return DateRange(first.isoformat(), last.isoformat())
    first_m, last_m = mentions[0], mentions[-1]
    start, end = first_m.bounds()[0], last_m.bounds()[1]
    if start > end:
        start, end = last_m.bounds()[0], first_m.bounds()[1]
        return DateRange(start.isoformat(), end.isoformat(), reversed=True)
    return DateRange(start.isoformat(), end.isoformat())


def years_of(dates: DateRange) -> list[int]:
    """The years a date range names (start first), for scoring."""
    years = []
    if dates.start:
        years.append(int(dates.start[:4]))
    if dates.end and (not years or int(dates.end[:4]) != years[0]):
        years.append(int(dates.end[:4]))
    return years


# --- cloud cover, platform ------------------------------------------------------------------------------------

_CLOUD_PCT = re.compile(
    r"(?:less than|under|below|at most|max(?:imum)?|<=?|moins de|inferieur a|au plus|maximum|sous)"
    r"\s*(\d{1,3})\s*(?:%|pc|percent|pour ?cent)"
    r"|(\d{1,3})\s*(?:%|percent|pour ?cent)\s*(?:of\s+)?"
    r"(?:cloud|clouds|cloud cover|de nuages|nuages|nuageux|couverture)",
)
_CLOUD_FREE = re.compile(r"\b(cloud ?free|cloudless|no clouds?|without clouds?|sans nuages?|clear sky|ciel degage)\b")


def parse_cloud_cover(text: str) -> float | None:
    """Largest cloud cover (%) the user accepts, if they said so."""
    plain = text.lower().replace("’", "'")
    plain = normalize(plain.replace("%", " PCT ")).replace(" pct", "%")
    m = _CLOUD_PCT.search(plain)
    if m and re.search(r"cloud|nuag|couverture", plain):
        value = float(m.group(1) or m.group(2))
        if 0 <= value <= 100:
            return value
    if _CLOUD_FREE.search(plain):
        return 10.0
    return None


_PLATFORMS = [
    (re.compile(r"\bsentinel ?2\b|\bs2\b"), "sentinel-2"),
    (re.compile(r"\blandsat\b"), "landsat"),
    (re.compile(r"\bnaip\b"), "naip"),
    (re.compile(r"\bspacenet\b"), "spacenet"),
]


def parse_platform(text: str) -> str | None:
    plain = normalize(text)
    for pattern, name in _PLATFORMS:
        if pattern.search(plain):
            return name
    return None


# --- places ---------------------------------------------------------------------------------------------------

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
                    words.add(normalize(token))
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
            if normalize(words[0]) in _CONNECTORS or normalize(words[-1]) in _CONNECTORS:
                continue
            key = normalize(" ".join(words))
            if not key or key.isdigit():
                continue
            prev = normalize(tokens[i - 1][0]) if i > 0 else ""
            after_prep = prev in _PLACE_PREPOSITIONS
            article = ""
            if prev in ("du", "au") and gaz.kind_of("le " + key) and not gaz.kind_of(key):
                key, article = "le " + key, "Le "  # 'la ville du Mans' is Le Mans
            capitalised = all(w[:1].isupper() or normalize(w) in _CONNECTORS for w in words)
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
            if all(normalize(w) in stop for w in words):
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
        prev = normalize(tokens[i - 1][0]) if i > 0 else ""
        if prev in ("the", "la", "le", "les", "l") and i > 1:
            prev = normalize(tokens[i - 2][0])
        if not word[:1].isupper() or not (prev in _PLACE_PREPOSITIONS or prev in _NAME_LEADS):
            continue
        span_end, j = tokens[i][2], i + 1
        while j < len(tokens) and j < i + 4:  # 'Trifouillis-les-Oies', 'Port Moresby'
            nxt, s2, e2 = tokens[j]
            joined = text[span_end:s2] in ("-", " ", "'")
            if not joined or not (nxt[:1].isupper() or (normalize(nxt) in _CONNECTORS and text[span_end:s2] == "-")):
                break
            span_end, j = e2, j + 1
        name = text[start:span_end].strip(" -'")
        key = normalize(name)
        first = normalize(word)
        if not key or key.isdigit() or first in stop or first in _NOT_NAMES or first in MONTHS or len(key) < 3:
            continue
        return name
    return None


def best_place(text: str) -> str | None:
    """The place a question is about, as written (e.g. 'Abu Dhabi', 'North Dakota'), or None."""
    places = find_places(text)
    return places[0].text if places else None
