"""The `read_image` tool: answer a question about one image (an upload or a catalog scene, optionally a bbox window).

Backends (`SENTINELLE_VLM_BACKEND`): `openai` = a vision-language model on an OpenAI-compatible server (vLLM),
`transformers` = a local Hugging Face VLM, `offline` = measured facts only (scene type, cover shares, clouds).
`auto` picks `openai` when `SENTINELLE_VLM_BASE_URL` is set or the agent LLM is itself on an OpenAI-compatible
server (vLLM serving Qwen2.5-VL answers both), `transformers` when the local VLM is cached, else `offline`.
Every result names its model(s); georeferenced inputs add a footprint map layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.core.errors import DataUnavailableError
from tools.core.results import MapLayer, ProgressCallback, ToolResult, no_progress
from tools.core.settings import get_settings
from tools.reader.inputs import ImageInput, load

__all__ = ["read_image", "choose_backend", "footprint_layer"]

CLASSIFIER_MAX_SIDE = 1024


def choose_backend() -> str:
    """The backend `auto` resolves to, given the settings and what is installed/cached."""
    settings = get_settings()
    if settings.vlm_backend != "auto":
        return settings.vlm_backend
    if settings.vlm_base_url or settings.llm_backend == "openai":
        return "openai"
    from tools.reader.local_vlm import is_cached

    if is_cached(settings.vlm_local_model):
        return "transformers"
    return "offline"


def footprint_layer(img: ImageInput) -> MapLayer | None:
    """The image (or window) outline on the map, for georeferenced inputs."""
    if img.footprint is None:
        return None
    feature = {"type": "Feature", "geometry": img.footprint, "properties": {"name": img.source, "date": img.date}}
    return MapLayer(name=f"{img.source} footprint", kind="geojson",
                    data={"type": "FeatureCollection", "features": [feature]}, bounds=img.bounds,
                    style={"color": "#ff7800", "weight": 2, "fillOpacity": 0.0}, fly_to=True)  # fmt: skip


def _vlm_context(img: ImageInput, language: str) -> str:
    bits = []
    if img.gsd:
        bits.append(f"ground sampling distance about {img.gsd:.1f} m per pixel")
    if img.date:
        bits.append(f"acquired {img.date}")
    if img.platform:
        bits.append(f"sensor {img.platform}")
    return ("Image facts: " + ", ".join(bits) + ".") if bits else ""


def read_image(question: str, image: str | None = None, scene_id: str | None = None,
               bbox: list[float] | None = None, language: str = "en", *,
               progress: ProgressCallback = no_progress,
               on_token: Callable[[str], None] | None = None) -> ToolResult:  # fmt: skip
    """Answer `question` about an image file or a catalog scene (bbox = [west, south, east, north] in degrees).

    `on_token` receives the answer as it streams (VLM backends); the offline answer arrives whole.
    """
    language = language if language in ("en", "fr") else "en"
    backend = choose_backend()
    progress(0.05, "reading the image")
    img = load(image, scene_id=scene_id, bbox=bbox, max_side=CLASSIFIER_MAX_SIDE if backend == "offline" else 2048)
    layers = [layer] if (layer := footprint_layer(img)) else []
    if backend == "offline":
        from tools.reader import offline

        facts, model = offline.read(img, question, language, progress)
    else:
        facts, model = _vlm_read(backend, img, question, language, progress, on_token)
    facts["backend"] = backend
    progress(1.0, "done")
    return ToolResult(tool="read_image", facts=facts, layers=layers, model=model)


def _vlm_read(backend: str, img: ImageInput, question: str, language: str, progress: ProgressCallback,
              on_token: Callable[[str], None] | None) -> tuple[dict[str, Any], str]:  # fmt: skip
    settings = get_settings()
    facts: dict[str, Any] = img.facts()
    facts["georeferenced"] = img.georeferenced
    models = []
    progress(0.3, "asking the vision-language model")
    if backend == "openai":
        from tools.reader import vlm

        answer, info = vlm.ask(question, img.rgb, language, _vlm_context(img, language), on_token)
        models.append(f"{settings.vlm_model} (OpenAI-compatible server {settings.vlm_url})")
    else:
        from tools.reader import local_vlm

        answer, info = local_vlm.ask(question, img.rgb, language, on_token=on_token)
        models.append(f"{settings.vlm_local_model} (transformers, local)")
    facts.update(info)
    facts["answer"] = answer
    try:  # the scene type costs ~0.1 s and gives the agent a label even from a VLM answer
        from tools.reader import bank, offline

        facts.update(offline.scene_facts(img, question))
        models.append(bank.MODEL_DESCRIPTION + " (scene_classes)")
    except DataUnavailableError:
        pass
    return facts, "; ".join(models)
