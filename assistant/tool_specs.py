"""Tool descriptions and routing examples, read from `prompts/tools/<tool>.md`.

Its own module because three layers read it: the router (examples), the argument parser (their vocabulary is
not place names) and the registry (descriptions the LLM sees). None of them may import another for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.config import PROMPTS_DIR

TOOLS = ("locate_place", "find_scenes", "read_image", "detect_change", "measure_theme", "none")


@dataclass
class ToolSpec:
    name: str
    description: str
    examples: list[str]


def _section(text: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    return m.group(1).strip() if m else ""


@lru_cache(maxsize=1)
def load_tool_specs(root: Path | None = None) -> dict[str, ToolSpec]:
    """Tool descriptions and routing examples from prompts/tools/<tool>.md."""
    folder = root or PROMPTS_DIR / "tools"
    specs = {}
    for name in TOOLS:
        text = (folder / f"{name}.md").read_text(encoding="utf-8")
        examples = []
        for lang in ("en", "fr"):
            lines = _section(text, f"examples {lang}").splitlines()
            examples += [line[2:].strip() for line in lines if line[:2] == "- "]
        specs[name] = ToolSpec(name=name, description=" ".join(_section(text, "description").split()),
                               examples=examples)
    return specs
