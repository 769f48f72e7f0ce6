"""The two text keys names are compared by: `fold_text` keeps word breaks, `squash_text` drops them.

Both ignore case, accents and punctuation. Places and questions are matched word by word ('saint etienne',
'ile de france'), hence `fold_text`; catalog fields (place, country, platform) are matched by containment
whatever the spacing or hyphens ('Sentinel-2' = 'sentinel 2' = 'sentinel2'), hence `squash_text`.
"""

from __future__ import annotations

import re
import unicodedata


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold_text(text: str) -> str:
    """Words without accents, case, hyphens or punctuation, one space apart: 'Saint-Étienne' -> 'saint etienne'."""
    text = _strip_accents(text).casefold().replace("ß", "ss")
    text = re.sub(r"[^\w]+|_", " ", text)
    return " ".join(text.split())


def squash_text(text: str) -> str:
    """Letters and digits only, no accents or case: 'Águas Claras' -> 'aguasclaras', 'Sentinel-2' -> 'sentinel2'."""
    return "".join(ch for ch in _strip_accents(text) if ch.isalnum()).casefold()
