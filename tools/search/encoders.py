"""Pluggable chip encoders: one small interface so the index does not care which model made a vector.

The offline default, `efficientnet-lite0-scenes`, is EfficientNet-Lite0 (shared with the reader through
`tools.image_features`) multi-stage features, randomly projected, joined with the reader's scene-type probe
probabilities (see `SceneProbeEncoder` for why and what it scores); `efficientnet-lite0` is the plain ImageNet head.
Galileo pooled features (multispectral, from the change engineer's `tools.change.galileo`) and CLIP-family models
(online, with a text tower) plug in behind the same `ImageEncoder` protocol; each index collection is tied to one
encoder name.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np

from tools.core.errors import BadInputError, ModelUnavailableError
from tools.core.settings import get_settings
from tools.search.names import DEFAULT_ENCODER, RAW_ENCODER, SCENES_ENCODER

PROJECTION_DIM = 256
PROJECTION_SEED = 20251125
PROBE_WEIGHT = 2.0  # w in the cosine (raw + w * probe) / (1 + w); 1-4 all within 0.01 P@5 on AID
PROBE_TEMPERATURE = 0.5  # sharper than the raw probe, flatter than one-hot: 0.3-0.5 best on AID, 1.0 -0.01


@runtime_checkable
class ImageEncoder(Protocol):
    """Turns display-RGB chips (H, W, 3) uint8 into L2-normalised vectors."""

    name: str
    needs_bands: bool  # True when the encoder wants the raw multispectral chip rather than display RGB

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


@runtime_checkable
class TextTower(Protocol):
    """An encoder that also embeds text into its image space (CLIP family)."""

    def embed_text(self, texts: Sequence[str]) -> np.ndarray: ...


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class EfficientNetEncoder:
    """ImageNet EfficientNet-Lite0 pooled features via the shared `tools.image_features.embed_rgb`."""

    name = RAW_ENCODER
    needs_bands = False

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, 0), dtype=np.float32)
        from tools.image_features import embed_rgb

        return _l2(embed_rgb(list(images)))


class GalileoChipEncoder:
    """Galileo-nano pooled tokens of a multispectral chip, with the change engineer's model and band mapping.

    Chips come as (bands, H, W) raw values in the catalog band order (13 bands = Sentinel-2; other counts mapped by
    `tools.change.bands.band_map_from_count`), are normalised per chip (`fit_scaling`, `to_galileo`), average-pooled
    to 64 x 64 pixels (8 x 8 patches of 8 px: a 256 px chip costs one small forward pass), encoded with the visible
    band groups (`tools.change.band_features.embed`) and mean-pooled over patches.
    """

    name = "galileo-nano"
    needs_bands = True
    TILE = 64

    def __init__(self) -> None:
        try:
            from tools.change.band_features import REGIMES, embed
            from tools.change.job import get_encoder as galileo
        except ModuleNotFoundError as exc:
            raise ModelUnavailableError("the Galileo encoder (tools.change) is not installed") from exc
        self._embed, self._regime = embed, REGIMES["multispectral"]
        self._model = galileo("nano")

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return _l2(np.stack([self._one(np.asarray(chip, np.float32)) for chip in images]))

    def _one(self, chip: np.ndarray) -> np.ndarray:
        import torch
        from torch.nn import functional as F

        from tools.change.bands import band_map_from_count, fit_scaling, to_galileo

        if chip.ndim != 3:
            raise BadInputError("the Galileo encoder needs (bands, H, W) chips (index catalog scenes with it)")
        bm = band_map_from_count(chip.shape[0])
        fit_scaling([bm], [chip.reshape(chip.shape[0], -1)])
        x = torch.from_numpy(np.nan_to_num(to_galileo(chip, bm))).permute(2, 0, 1)[None]
        x = F.adaptive_avg_pool2d(x, self.TILE).permute(0, 2, 3, 1).numpy()
        tokens = self._embed(self._model, x, np.array([5]), bm, self._regime)  # (1, 8, 8, D); month unknown: June
        return tokens.mean(dim=(1, 2))[0].numpy()


class ClipEncoder:
    """A CLIP-family model from the Hugging Face hub (online): image and text in one space."""

    needs_bands = False

    def __init__(self, model_id: str = "openai/clip-vit-base-patch32") -> None:
        if get_settings().offline:
            raise ModelUnavailableError(f"CLIP encoder '{model_id}' needs the hub; SENTINELLE_OFFLINE is set")
        try:
            from transformers import CLIPModel, CLIPProcessor

            self._model = CLIPModel.from_pretrained(model_id).eval()
            self._processor = CLIPProcessor.from_pretrained(model_id)
        except Exception as exc:  # noqa: BLE001 - any hub/loading failure means the model is unavailable
            raise ModelUnavailableError(f"cannot load CLIP model '{model_id}': {exc.__class__.__name__}") from exc
        self.name = "clip:" + model_id

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            inputs = self._processor(images=list(images), return_tensors="pt")
            return _l2(self._model.get_image_features(**inputs).numpy())

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            inputs = self._processor(text=list(texts), return_tensors="pt", padding=True)
            return _l2(self._model.get_text_features(**inputs).numpy())


class ProbeClasses:
    """Scene classes read back from a `SceneProbeEncoder` vector: its tail is the probe's probabilities, scaled.

    Vectors are [R x, sqrt(w) p / |p|] / sqrt(1 + w) (both parts unit length), so p is recovered exactly from the
    last C values. Used by the indexer as its class bank (same `predict` as `ClassBank`); picklable for Dask workers.
    """

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = list(classes)

    def predict(self, vectors: np.ndarray, top: int = 3, **_: object) -> list[list[tuple[str, float]]]:
        tail = np.clip(np.asarray(vectors, np.float32)[:, -len(self.classes) :], 0.0, None)
        probs = tail / np.maximum(tail.sum(axis=1, keepdims=True), 1e-12)
        out = []
        for row in probs:
            order = np.argsort(-row)[:top]
            out.append([(self.classes[j], round(float(row[j]), 3)) for j in order if row[j] >= 0.01])
        return out


class SceneProbeEncoder:
    """The default encoder: EfficientNet-Lite0 multi-stage features, plus a scene-type probe's probabilities.

    Why: ImageNet features alone rank AID scenes poorly (image P@5 0.55 on the 300-image sample); a linear probe
    trained on labelled scenes knows which feature directions separate scene types. The vector joins
    - a fixed, seeded random orthonormal projection (1984 -> 256) of the single-view multi-stage descriptor
      (`tools.image_features.embed_views(levels=True)`): general visual similarity, data-independent, 7x smaller;
    - the probe's class probabilities (temperature 0.5), L2-normalised, weight w = 2 in the cosine.
    Cosine on the joined vector is (raw + w * probe agreement) / (1 + w). The probe is the reader's
    (`tools.reader.bank`: logistic regression blended with a shrinkage LDA, on flipped views and crops of the labelled
    exemplars, by default the AID sample), fitted at first use and cached under the data dir, never committed.
    Measured (`sentinelle eval search`, AID 300 images, probe refit per fold, every vector out-of-fold): image P@5
    0.858 (0.839 with the logistic probe alone, before the LDA blend), vs 0.606 for the multi-stage
    features alone and 0.545 for the plain head; one forward pass per chip. Alternatives measured the same way:
    flip-averaged (TTA) index vectors 0.825-0.829 at 4x the cost; projection dims 128/512 and w 1-4 within 0.01;
    query expansion +0.007; the former shrinkage-LDA projection (`+aid`) 0.797, with axes that differ per fit. These
    settings were picked on that same sample, so expect a point or so less on other held-out scenes.
    """

    name = SCENES_ENCODER
    needs_bands = False

    def __init__(self, classifier) -> None:  # noqa: ANN001 - tools.reader.bank.SceneClassifier
        from dataclasses import replace

        self.classifier = replace(classifier, temperature=PROBE_TEMPERATURE)
        self.decoder = ProbeClasses(self.classifier.classes)

    @staticmethod
    def fit(features: np.ndarray, labels: Sequence[str], view_features: np.ndarray | None = None) -> SceneProbeEncoder:
        """An encoder whose probe is trained on these exemplars only (the evaluation refits it per fold)."""
        from tools.reader.bank import SceneClassifier

        return SceneProbeEncoder(SceneClassifier.fit(features, list(labels), view_features=view_features))

    @staticmethod
    def base(images: Sequence[np.ndarray]) -> np.ndarray:
        """Single-view multi-stage descriptors (N, 1984): what the probe and the projection read."""
        from tools.image_features import embed_views

        return embed_views(list(images), tta=False, levels=True)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, PROJECTION_DIM + len(self.decoder.classes)), dtype=np.float32)
        return self.from_features(self.base(images))

    def from_features(self, x: np.ndarray) -> np.ndarray:
        """Encoder vectors of already-computed base descriptors."""
        return join_probe(x, self.classifier.predict(np.asarray(x, np.float32)))


def join_probe(x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """[R x, sqrt(w) p] / sqrt(1 + w), both parts L2-normalised: the `SceneProbeEncoder` vector."""
    raw = _l2(np.asarray(x, np.float32) @ random_projection(x.shape[1]))
    tail = np.sqrt(PROBE_WEIGHT) * _l2(probs)
    return (np.concatenate([raw, tail], axis=1) / np.sqrt(1 + PROBE_WEIGHT)).astype(np.float32)


@lru_cache(maxsize=2)
def random_projection(dim_in: int, dim_out: int = PROJECTION_DIM, seed: int = PROJECTION_SEED) -> np.ndarray:
    """(dim_in, dim_out) orthonormal columns from a fixed seed: the same in every process, fold and machine."""
    gauss = np.random.Generator(np.random.PCG64(seed)).standard_normal((dim_in, dim_out))
    q, _ = np.linalg.qr(gauss)
    return q.astype(np.float32)


def scenes_key() -> str:
    """Short hash of what a `SceneProbeEncoder` vector depends on, computed without loading any model:
    the labelled exemplars and the reader's recipe (its bank key), the weights, and this encoder's constants.

    Cached per exemplar source and version of its `labels.csv` (every `ChipIndex` asks up to three times, and the
    bank key stats each of the ~300 exemplar images): another source or an edited label list gives a new key.
    """
    from tools.reader.bank import default_source

    try:
        source = default_source()
        labels = (source / "labels.csv").stat()
    except Exception as exc:  # noqa: BLE001 - no labelled sample: the default encoder cannot be built
        raise _no_sample() from exc
    return _scenes_key(str(source), labels.st_mtime_ns, labels.st_size)


def _no_sample() -> ModelUnavailableError:
    return ModelUnavailableError("the default search encoder needs the labelled AID sample ('aid-scenes')")


@lru_cache(maxsize=8)
def _scenes_key(source: str, labels_mtime_ns: int, labels_size: int) -> str:
    """`scenes_key` of one version of an exemplar folder (the stat arguments are only the cache key)."""
    import hashlib
    from pathlib import Path

    from tools.image_features import LEVELS_DIM
    from tools.reader.bank import bank_key, read_labels

    try:
        bank = bank_key(read_labels(Path(source)))
    except Exception as exc:  # noqa: BLE001 - no labelled sample: the default encoder cannot be built
        raise _no_sample() from exc
    proj = hashlib.sha1(random_projection(LEVELS_DIM).tobytes()).hexdigest()[:8]
    recipe = f"{bank}|{proj}|{PROJECTION_DIM}|{PROBE_WEIGHT}|{PROBE_TEMPERATURE}"
    return hashlib.sha1(recipe.encode()).hexdigest()[:8]


def get_encoder(name: str = DEFAULT_ENCODER) -> ImageEncoder:
    """The encoder called `name`, loaded once per process ('efficientnet-lite0-scenes' (default),
    'efficientnet-lite0', 'galileo-nano', 'clip[:hub-id]')."""
    return _load_encoder(name)  # one cache key per name, however the caller passed it


@lru_cache(maxsize=4)
def _load_encoder(name: str) -> ImageEncoder:
    if name == SCENES_ENCODER:
        from tools.reader.bank import get_classifier

        scenes_key()  # raises ModelUnavailableError without the labelled sample
        return SceneProbeEncoder(get_classifier())
    if name == RAW_ENCODER:
        return EfficientNetEncoder()
    if name == "galileo-nano":
        return GalileoChipEncoder()
    if has_text_tower(name):  # the CLIP family
        return ClipEncoder(*name.split(":", 1)[1:])
    raise BadInputError(f"unknown encoder '{name}' ({SCENES_ENCODER}, {RAW_ENCODER}, galileo-nano, clip[:hub-id])")


def has_text_tower(name: str) -> bool:
    """Whether the encoder called `name` embeds text too (CLIP family), without loading it."""
    return name == "clip" or name.startswith("clip:")


def collection_name(encoder_name: str, kind: str = "img") -> str:
    """Chroma collection of one encoder's vectors ('img') or of the chip descriptions' vectors ('txt').

    The default encoder's vectors depend on its fitted probe, so its collections carry `scenes_key()`: another
    exemplar set or recipe means new collections (re-index), never vectors of two recipes mixed in one.
    """
    if encoder_name == SCENES_ENCODER:
        encoder_name = f"{encoder_name}-{scenes_key()}"
    safe = "".join(ch if ch.isalnum() else "-" for ch in encoder_name).strip("-")
    return f"chips-{safe}-{kind}"[:63]
