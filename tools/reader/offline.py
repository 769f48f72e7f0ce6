"""The offline reader: scene type (EfficientNet-Lite0 + probe), spectral cover shares, cloud mask, image facts.

No captioning model: the answer says only what these measured, and names the models that measured it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tools.core.results import ProgressCallback, no_progress
from tools.reader import answer as answers
from tools.reader import bank
from tools.reader.facts import cloud_facts, spectral_facts
from tools.reader.inputs import ImageInput

SPECTRAL_MODEL = "spectral indices (NDVI, NDWI/MNDWI, NDBI)"
CONTENT_CHECKS = "image content checks (size, no data, flat colour, noise, few colours)"
# Thresholds of the content checks. Each lies outside the range of all 300 AID exemplar scenes, halfway to the
# physical limit (measured by benchmarks/reader_ood.py): AID top-8 colour share max 0.925 -> 0.96; AID coarse
# neighbour correlation min 0.20 -> 0.10. MIN_SIDE and FLAT_SHARE are fixed (AID scenes are 150+ px, flat share
# at most 0.55).
MIN_SIDE = 32  # px: below this the classifier sees an upsampled blur
FLAT_SHARE = 0.98  # one colour (within FLAT_TOLERANCE levels) on this share of the pixels (or nodata): nothing to see
FLAT_TOLERANCE = 6  # uint8 levels per channel: JPEG noise on a flat area
FEW_COLOURS_SHARE = 0.96  # the 8 most common colours (8-level bins) cover this share: a drawing, chart, screenshot
NOISE_CORRELATION = 0.10  # neighbouring 4x4 blocks less correlated than this: random noise, not a scene
_CHECK_SIDE = 512  # the checks look at a strided view of at most this many px a side


def _strided(rgb: np.ndarray) -> np.ndarray:
    step = max(1, max(rgb.shape[:2]) // _CHECK_SIDE)
    return rgb[::step, ::step, :3].astype(np.int16)


def flat_share(rgb: np.ndarray) -> float:
    """Share of the pixels (0..1) within FLAT_TOLERANCE levels of the image's most common colour."""
    pixels = _strided(rgb).reshape(-1, 3)
    if pixels.size == 0:
        return 1.0
    bins = (pixels // 8) @ np.array([1024, 32, 1])
    centre = pixels[bins == np.bincount(bins).argmax()].mean(axis=0)
    return float((np.abs(pixels - centre) <= FLAT_TOLERANCE).all(axis=1).mean())


def top_colours_share(rgb: np.ndarray, count: int = 8) -> float:
    """Share of the pixels in the `count` most common colours (8 levels a bin): near 1 for drawings and screenshots."""
    pixels = _strided(rgb).reshape(-1, 3)
    bins = np.bincount((pixels // 8) @ np.array([1024, 32, 1]))
    return float(np.sort(bins)[-count:].sum() / max(len(pixels), 1))


def coarse_correlation(rgb: np.ndarray, block: int = 4) -> float:
    """Correlation of horizontally neighbouring block means: scenes are spatially smooth at this scale, noise is not."""
    grey = _strided(rgb).astype(np.float32).mean(axis=2)
    h, w = (grey.shape[0] // block) * block, (grey.shape[1] // block) * block
    if h < block * 2 or w < block * 2:
        return 1.0
    coarse = grey[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    left, right = coarse[:, :-1].ravel(), coarse[:, 1:].ravel()
    left, right = left - left.mean(), right - right.mean()
    spread = float(np.sqrt((left**2).sum() * (right**2).sum()))
    return float((left * right).sum() / spread) if spread > 1e-6 else 1.0  # flat: smooth, not noise


def unreadable_reason_rgb(rgb: np.ndarray) -> dict[str, Any] | None:
    """Why a display RGB has nothing for the classifier to judge (too small, flat, noise, few colours), or None."""
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        return {"unreadable": "too_small", "width": int(width), "height": int(height), "min_side": MIN_SIDE}
    share = flat_share(rgb)
    if share >= FLAT_SHARE:
        return {"unreadable": "flat", "flat_pct": round(100.0 * share, 1)}
    few = top_colours_share(rgb)
    if few >= FEW_COLOURS_SHARE:
        return {"unreadable": "few_colours", "colours_pct": round(100.0 * few, 1)}
    correlation = coarse_correlation(rgb)
    if correlation < NOISE_CORRELATION:
        return {"unreadable": "noise", "correlation": round(correlation, 3)}
    return None


def unreadable_reason(img: ImageInput) -> dict[str, Any] | None:
    """Why the reader cannot judge this image before any model runs: too small, no data, flat, noise, few colours.

    The size is the image's own (not the decimated read); nodata is what the raster itself masks.
    """
    if min(img.width, img.height) < MIN_SIDE:
        return {"unreadable": "too_small", "width": img.width, "height": img.height, "min_side": MIN_SIDE}
    if img.bands:
        stack = np.stack(list(img.bands.values()))
        valid = float(np.isfinite(stack).all(axis=0).mean()) if stack.size else 0.0
        if valid <= 1.0 - FLAT_SHARE:
            return {"unreadable": "no_data", "nodata_pct": round(100.0 * (1.0 - valid), 1)}
    return unreadable_reason_rgb(img.rgb) if min(img.rgb.shape[:2]) >= MIN_SIDE else None


def scene_facts(img: ImageInput, question: str = "", progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Scene classes for the image, restricted to candidate classes when the question lists some.

    An image farther from every bank exemplar than the bank's own spread (`bank.ood_threshold`) is flagged
    `scene_unfamiliar`: its classes are still given, as a guess. Measured (benchmarks/reader_ood.py), that distance
    does not separate non-scenes from real imagery unlike AID (noise lies nearer the forests than most AID scenes
    do to each other; a third of the NAIP/Landsat/10 m check images lie beyond it), so it never refuses on its own.
    """
    classifier = bank.get_classifier(progress)
    intent = answers.parse(question, classifier.classes)
    features = bank.embed([img.rgb])
    distance, limit = float(bank.nearest_distance(classifier, features)[0]), bank.ood_threshold(classifier)
    probs = classifier.predict(features)[0]
    out: dict[str, Any] = {"scene_classes": bank.ranked(probs, classifier.classes, top=5),
                           "nearest_distance": round(distance, 3), "distance_limit": round(limit, 3)}
    if distance > limit:
        out["scene_unfamiliar"] = True
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
    """(facts with 'answer', model string) for the offline reader; an image it cannot judge gets that said instead."""
    problem = unreadable_reason(img)
    if problem is not None:
        facts = {**img.facts(), "georeferenced": img.georeferenced, "scene_classes": [], **problem}
        facts["answer"] = answers.offline_answer(answers.Intent(), facts, language, [CONTENT_CHECKS])
        facts["refused"] = []
        return facts, CONTENT_CHECKS
    classes = bank.get_classifier(progress).classes
    facts, models = measure(img, question, progress)
    facts["answer"] = answers.offline_answer(answers.parse(question, classes), facts, language, models)
    intent = answers.parse(question, classes)
    facts["refused"] = intent.refusals
    return facts, "; ".join(models)
