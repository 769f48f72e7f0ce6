"""Answer templates (`prompts/answers/<name>.<lang>.md`) and the number formats they are filled with.

Loading and filling are the library's `tools.core.templates` (the offline reader words its answers with the same
files); this module adds the number formats. Below `assistant.answers` and the per-sector answer values
(`assistant.sector_answers`), which both fill them.
"""

from __future__ import annotations

from tools.core.templates import fill, load_templates, render  # noqa: F401 - re-exported: the app's template API

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
