"""The offline reader: scene type (EfficientNet-Lite0 + probe), spectral cover shares, cloud mask, image facts.

No captioning model: the answer says only what these measured, and names the models that measured it.
"""

from __future__ import annotations

from typing import Any

from tools.core.results import ProgressCallback, no_progress
from tools.reader import answer as answers
from tools.reader import bank
from tools.reader.facts import cloud_facts, spectral_facts
from tools.reader.inputs import ImageInput

SPECTRAL_MODEL = "spectral indices (NDVI, NDWI/MNDWI, NDBI)"


def scene_facts(img: ImageInput, question: str = "", progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Scene classes for the image, restricted to candidate classes when the question lists some."""
    classifier = bank.get_classifier(progress)
    intent = answers.parse(question, classifier.classes)
    probs = classifier.predict(bank.embed([img.rgb]))[0]
    out: dict[str, Any] = {"scene_classes": bank.ranked(probs, classifier.classes, top=5)}
    if intent.named and not intent.candidates:  # "is this a forest?": the score of the class asked about
        out["asked_classes"] = {c: round(float(probs[classifier.classes.index(c)]), 4) for c in intent.named}
    if intent.candidates:
        out["scene_candidates"] = intent.candidates
        out["scene_classes"] = bank.ranked(probs, classifier.classes, top=5, allowed=intent.candidates)
    return out


def measure(img: ImageInput, question: str, progress: ProgressCallback = no_progress) -> tuple[dict, list[str]]:
    """All offline facts for an image and the models that produced them."""
    progress(0.2, "classifying the scene type")
    facts: dict[str, Any] = img.facts()
    facts["georeferenced"] = img.georeferenced
    facts.update(scene_facts(img, question, progress))
    models = [bank.MODEL_DESCRIPTION]
    spectral = spectral_facts(img)
    facts.update(spectral)
    if spectral.get("measurable"):
        models.append(SPECTRAL_MODEL)
    intent = answers.parse(question)
    if img.bands and ("cloud" in intent.topics or img.reflectance):
        progress(0.6, "masking clouds and cloud shadows")
        clouds = cloud_facts(img)
        facts.update(clouds)
        if "cloud_model" in clouds:
            models.append(clouds["cloud_model"])
    return facts, models


def read(img: ImageInput, question: str, language: str = "en",
         progress: ProgressCallback = no_progress) -> tuple[dict[str, Any], str]:  # fmt: skip
    """(facts with 'answer', model string) for the offline reader."""
    facts, models = measure(img, question, progress)
    classes = bank.get_classifier().classes
    facts["answer"] = answers.compose(answers.parse(question, classes), facts, language, models)
    intent = answers.parse(question, classes)
    facts["refused"] = intent.refusals
    return facts, "; ".join(models)
