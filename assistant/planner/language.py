"""The language of a question, 'fr' or 'en', from its function words and accents (questions are short; counting
words beats a model here)."""

from __future__ import annotations

import re

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
