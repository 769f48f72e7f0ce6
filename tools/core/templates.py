"""Answer templates: Markdown files `prompts/answers/<name>.<language>.md` of `## section` blocks, and their filling.

One format for every answer the project words: the agent's (`assistant/answers.py`, `assistant/sector_answers.py`)
and the offline reader's (`tools/reader/answer.py`). It lives in the library's bottom layer so both can read it.
In a section, each non-blank line is one sentence; `<!-- ... -->` lines are comments. Two ways to fill:
- `fill`/`render` (the agent): a line is kept only when all its `{fields}` are known, so a missing fact drops a
  sentence instead of inventing one; `a || b` means "a if it can be filled, else b".
- `template_text` (the reader): a section as one `str.format` template, filled exactly by the caller;
  `template_table`: a section of `key: text` lines (class labels, reasons) as a dict.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from tools.core.settings import PROMPTS_DIR

_FORMATTER = string.Formatter()


@lru_cache(maxsize=64)
def load_templates(name: str, language: str) -> dict[str, list[str]]:
    """Sections of prompts/answers/<name>.<language>.md (falls back to English): section -> its lines, stripped."""
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


def template_text(name: str, section: str, language: str) -> str:
    """A section as one template string (its lines joined by a space), for the caller to `.format` exactly."""
    sections = load_templates(name, language)
    if section not in sections:
        raise KeyError(f"no section '{section}' in prompts/answers/{name}.{language}.md")
    return " ".join(sections[section])


@lru_cache(maxsize=64)
def template_table(name: str, section: str, language: str) -> Mapping[str, str]:
    """A section of `key: text` lines as a read-only mapping (empty when the section is absent)."""
    table: dict[str, str] = {}
    for line in load_templates(name, language).get(section, []):
        key, sep, text = line.partition(": ")
        if sep:
            table[key.strip()] = text.strip()
    return MappingProxyType(table)
