"""Dates and periods in a question (EN/FR): single dates, ranges ('entre mars 2016 et août 2017'), seasons,
decades, relative periods ('the last 3 years'), and the dates that do not exist ('2016-02-30').

Rule-based and deterministic: a small LLM is worse at copying "entre mars 2016 et août 2017" into ISO dates than
twenty lines of regular expressions.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from assistant.errors import InvalidDateError
from tools.core.text import fold_text

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
# "since the summer of 2016", "depuis l'été 2016", "avant le printemps 2018": an article may sit in between
_ARTICLE = r"(?:\s+(?:the|l|le|la|les|en|au|in))?"
_SINCE = re.compile(rf"\b(since|after|starting|starting in|depuis|apres|a partir de|des){_ARTICLE}\s*$")
_UNTIL = re.compile(rf"\b(before|until|till|up to|avant|jusqu a|jusqu en|jusqu au){_ARTICLE}\s*$")


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
    """Like fold_text() but keeps ISO dates (2016-11-03) and d/m/y together."""
    protected = re.sub(r"(\d)[-/](\d)", r"\1§\2", text)
    protected = re.sub(r"(\d)[-/](\d)", r"\1§\2", protected)
    plain = fold_text(protected.replace("§", "QQ"))
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
_RELATIVE = [  # (pattern on fold_text()d text, kind)
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
    plain = fold_text(text)
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
