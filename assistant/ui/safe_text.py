"""Text shown in the chat, made inert: no raw HTML, no remote images, no absolute server paths.

Chat text is markdown written by templates, an LLM, tools' error messages and (through share links) anybody;
Gradio sanitises what it renders, and this removes what sanitising keeps: images the browser would fetch from
another host, links whose text hides where they lead (a VLM reading "[your report](https://…)" off an image), and
the server's file layout.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"</?[A-Za-z!?][^<>]*>")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)?")
_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?[^)\n]*\)")
_REF_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+.*$", re.M)
_ABS_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"`<>()\[\]]+/)+([^\s/'\"`<>()\[\]]+)")


def redact_paths(text: str) -> str:
    """Absolute file paths replaced by their file name (`/srv/data/uploads/ab12/x.tif` -> `x.tif`)."""
    return _ABS_PATH.sub(r"\1", text)


def chat_text(text: str) -> str:
    """Markdown safe to show: HTML tags dropped, images reduced to their alt text, links to their text followed by
    the address they lead to (no app text writes links), paths redacted."""
    text = _TAG.sub("", text)
    text = _TAG_START.sub("‹", text)
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = text.replace("![", "[")
    text = _LINK.sub(_shown_link, text)
    text = _REF_DEFINITION.sub("", text)
    return redact_paths(text)


def _shown_link(m: re.Match) -> str:
    label, target = m.group(1).strip(), m.group(2)
    return target if not label or label == target else f"{label} ({target})"
