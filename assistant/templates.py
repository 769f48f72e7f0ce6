"""Answer templates (`prompts/answers/<name>.<lang>.md`) and the number formats they are filled with.

Below `assistant.answers` and the per-sector answer values (`assistant.sector_answers`), which both fill them.
"""

from __future__ import annotations

import string
from functools import lru_cache
from typing import Any

from assistant.config import PROMPTS_DIR

_FORMATTER = string.Formatter()


@lru_cache(maxsize=32)
def load_templates(name: str, language: str) -> dict[str, list[str]]:
    """Sections of prompts/answers/<name>.<language>.md (falls back to English)."""
    path = PROMPTS_DIR / "answers" / f"{name}.{language}.md"
    if not path.exists():
        path = PROMPTS_DIR / "answers" / f"{name}.en.md"
    sections: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        elif current and line.strip() and not line.lstrip().startswith("<!--"):
            sections[current].append(line.strip())
    return sections


def _fields(template: str) -> list[str]:
    return [f for _lit, f, _spec, _conv in _FORMATTER.parse(template) if f]


def fill(lines: list[str], values: dict[str, Any]) -> str:
    """Join the lines whose fields are all known; for 'a || b' the first fillable alternative."""
    out = []
    for line in lines:
        for alternative in line.split(" || "):
            names = _fields(alternative)
            if all(values.get(n) not in (None, "", [], {}) for n in names):
                out.append(alternative.format(**{n: values[n] for n in names}))
                break
    return " ".join(s for s in out if s)


def render(template: str, section: str, language: str, values: dict[str, Any] | None = None, **extra: Any) -> str:
    """One section of prompts/answers/<template>.<language>.md, filled with `values`."""
    return fill(load_templates(template, language).get(section, []), {**(values or {}), **extra})


# --- number and date formatting ----------------------------------------------------------------------------------


def fmt_number(value: float | int, language: str, digits: int = 0) -> str:
    """1234567.8 -> '1,234,568' (en) / '1 234 568' (fr); decimals with a comma in French."""
    text = f"{value:,.{digits}f}"
    if language == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def fmt_percent(value: float, language: str) -> str:
    digits = 1 if abs(value) < 10 else 0
    return fmt_number(value, language, digits) + ("\u202f%" if language == "fr" else "%")


def fmt_coord(value: float, positive: str, negative: str, language: str) -> str:
    return f"{fmt_number(abs(value), language, 2)}° {positive if value >= 0 else negative}"
