"""Vision-language answers from an OpenAI-compatible server (vLLM serving Qwen2.5-VL, for instance).

The image travels as a base64 PNG data URL inside the chat message, downscaled to at most `vlm_max_pixels`.
Answers stream token by token (`on_token`); a server that is down or slower than `vlm_timeout_s` raises
`ModelUnavailableError` with one line saying which server and what happened.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tools.core.errors import ModelUnavailableError
from tools.core.settings import PROMPTS_DIR, get_settings

LANGUAGE_NAMES = {"en": "English", "fr": "French"}


def prompt_text(name: str) -> str:
    return (PROMPTS_DIR / "reader" / name).read_text(encoding="utf-8").strip()


def fit_pixels(rgb: np.ndarray, max_pixels: int) -> tuple[np.ndarray, bool]:
    """Downscale (keeping aspect) so width x height <= max_pixels; returns (image, downscaled?)."""
    from PIL import Image

    h, w = rgb.shape[:2]
    if h * w <= max_pixels:
        return rgb, False
    factor = math.sqrt(max_pixels / (h * w))
    size = (max(1, int(w * factor)), max(1, int(h * factor)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC)), True


def data_url(rgb: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def vlm_messages(question: str, rgb: np.ndarray, language: str = "en", context: str = "") -> list[dict[str, Any]]:
    """System prompt + one user turn carrying the image and the question (templates in prompts/reader/)."""
    question = question.strip() or prompt_text(f"vlm_default_question_{'fr' if language == 'fr' else 'en'}.txt")
    user = prompt_text("vlm_user.txt").format(
        question=question, context=context, language_name=LANGUAGE_NAMES.get(language, "English")
    )
    return [
        {"role": "system", "content": prompt_text("vlm_system.txt")},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": data_url(rgb)}},
                {"type": "text", "text": "\n".join(line for line in user.splitlines() if line.strip())},
            ],
        },
    ]


def _client():  # noqa: ANN202
    from openai import OpenAI

    settings = get_settings()
    return OpenAI(base_url=settings.vlm_url, api_key=settings.llm_api_key, timeout=settings.vlm_timeout_s,
                  max_retries=0)  # fmt: skip


def stream(messages: list[dict[str, Any]], max_tokens: int = 512) -> Iterator[str]:
    """Text deltas of the VLM's answer."""
    import openai

    settings = get_settings()
    where = f"the VLM server at {settings.vlm_url} ({settings.vlm_model})"
    try:
        response = _client().chat.completions.create(
            model=settings.vlm_model, messages=messages, stream=True, max_tokens=max_tokens, temperature=0.1
        )
        for chunk in response:
            if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content
    except openai.APITimeoutError as exc:
        raise ModelUnavailableError(f"{where} did not answer within {settings.vlm_timeout_s:.0f} s") from exc
    except openai.APIConnectionError as exc:
        hint = "start vLLM or set SENTINELLE_VLM_BACKEND=offline"
        raise ModelUnavailableError(f"{where} cannot be reached; {hint}") from exc
    except openai.APIStatusError as exc:
        raise ModelUnavailableError(f"{where} refused the request (HTTP {exc.status_code})") from exc


def ask(question: str, rgb: np.ndarray, language: str = "en", context: str = "",
        on_token: Callable[[str], None] | None = None) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """(answer, facts about what was sent) from the OpenAI-compatible VLM."""
    settings = get_settings()
    sent, downscaled = fit_pixels(rgb, settings.vlm_max_pixels)
    parts = []
    for delta in stream(vlm_messages(question, sent, language, context)):
        parts.append(delta)
        if on_token:
            on_token(delta)
    text = "".join(parts).strip()
    if not text:
        raise ModelUnavailableError(f"the VLM server at {settings.vlm_url} returned an empty answer")
    info = {"vlm_image_size": [int(sent.shape[1]), int(sent.shape[0])], "vlm_downscaled": downscaled}
    return text, info
