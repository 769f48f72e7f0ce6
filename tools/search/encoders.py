"""Pluggable chip encoders: one small interface so the index does not care which model made a vector.

The offline default is EfficientNet-Lite0 (shared with the reader through `tools.features`). Galileo pooled
features (multispectral, from the change engineer's `tools.change.galileo`) and CLIP-family models (online, with a
text tower) plug in behind the same `ImageEncoder` protocol; each index collection is tied to one encoder name.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.config import get_settings
from assistant.errors import BadInputError, ModelUnavailableError

DEFAULT_ENCODER = "efficientnet-lite0"


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
    """ImageNet EfficientNet-Lite0 pooled features via the shared `tools.features.embed_rgb`."""

    name = DEFAULT_ENCODER
    needs_bands = False

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, 0), dtype=np.float32)
        from tools.features import embed_rgb

        return _l2(embed_rgb(list(images)))


class GalileoEncoder:
    """Galileo-nano pooled tokens of a multispectral Sentinel-2 chip (the change engineer's encoder).

    Expects chips as (bands, H, W) float arrays in the catalog band order; `tools.change.galileo` must expose
    `embed_pooled(chips) -> (N, D)`.
    """

    name = "galileo-nano"
    needs_bands = True

    def __init__(self) -> None:
        try:
            module = importlib.import_module("tools.change.galileo")
        except ModuleNotFoundError as exc:
            raise ModelUnavailableError("the Galileo encoder (tools.change.galileo) is not installed") from exc
        self._embed = getattr(module, "embed_pooled", None)
        if self._embed is None:
            raise ModelUnavailableError("tools.change.galileo has no pooled-feature function (embed_pooled)")

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return _l2(self._embed(list(images)))


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


class BankProjectedEncoder:
    """Base features plus their projection on the exemplar bank's class-discriminant axes, in one vector.

    Cosine on [x, a*z] / sqrt(1 + a^2) is (x.x' + a^2 z.z') / (1 + a^2): raw similarity plus agreement in a space
    where scene classes separate. Vectors depend on the bank, so the encoder name carries the bank's size.
    """

    needs_bands = False

    def __init__(self, base: ImageEncoder, project, weight: float = 2.0, tag: str = "bank") -> None:  # noqa: ANN001
        self.base, self.project, self.alpha = base, project, float(np.sqrt(weight))
        self.name = f"{base.name}+{tag}"

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.from_features(self.base.embed(images))

    def from_features(self, x: np.ndarray) -> np.ndarray:
        """Projected vectors of already-computed base features (no second forward pass)."""
        return _l2(np.concatenate([x, self.alpha * self.project(x)], axis=1))


@lru_cache(maxsize=4)
def get_encoder(name: str = DEFAULT_ENCODER) -> ImageEncoder:
    """The encoder called `name`, loaded once per process ('efficientnet-lite0', 'efficientnet-lite0+aid',
    'galileo-nano', 'clip[:hub-id]')."""
    if name == DEFAULT_ENCODER:
        return EfficientNetEncoder()
    if name == DEFAULT_ENCODER + "+aid":
        from tools.search.indexer import default_bank

        bank = default_bank(DEFAULT_ENCODER)
        if bank is None:
            raise ModelUnavailableError("the AID exemplar bank is missing (sample data 'aid-scenes')")
        return BankProjectedEncoder(EfficientNetEncoder(), bank.projection(), tag="aid")
    if name == "galileo-nano":
        return GalileoEncoder()
    if name == "clip" or name.startswith("clip:"):
        return ClipEncoder(*name.split(":", 1)[1:])
    raise BadInputError(
        f"unknown encoder '{name}' (efficientnet-lite0, efficientnet-lite0+aid, galileo-nano, clip[:hub-id])"
    )


def collection_name(encoder_name: str, kind: str = "img") -> str:
    """Chroma collection of one encoder's vectors ('img') or of the chip descriptions' vectors ('txt')."""
    safe = "".join(ch if ch.isalnum() else "-" for ch in encoder_name).strip("-")
    return f"chips-{safe}-{kind}"[:63]
