"""A local vision-language model with `transformers` (SmolVLM-256M/500M-Instruct on CPU, Qwen2.5-VL on a GPU).

For users without a vLLM server. The model comes from the Hugging Face hub when online, or from the local HF cache;
it loads once per process (`get_local_vlm`, keyed by model id) and generates with a `TextIteratorStreamer`, so the
answer streams token by token.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.errors import ModelUnavailableError
from tools.core.settings import get_settings

_lock = threading.Lock()


def is_cached(model_id: str) -> bool:
    """Whether the model is a local folder or its config is in the HF cache (so `auto` can use it offline)."""
    if (Path(model_id) / "config.json").is_file():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model_id, "config.json")
    except (ImportError, ValueError):  # not installed, or not a valid repo id
        return False
    return isinstance(found, str)


@dataclass
class LocalVLM:
    """A processor + image-text-to-text model pair, and how big an image it is fed."""

    processor: Any
    model: Any
    name: str
    max_pixels: int = 512 * 512

    def messages(self, question: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]

    def inputs(self, question: str, rgb: np.ndarray) -> Any:
        """Chat-templated prompt + pixel values, as the processor builds them."""
        from PIL import Image

        h, w = rgb.shape[:2]
        image = Image.fromarray(rgb)
        if h * w > self.max_pixels:
            factor = math.sqrt(self.max_pixels / (h * w))
            image = image.resize((max(1, int(w * factor)), max(1, int(h * factor))), Image.BICUBIC)
        prompt = self.processor.apply_chat_template(self.messages(question), add_generation_prompt=True)
        return self.processor(text=prompt, images=[image], return_tensors="pt")

    def generate(self, question: str, rgb: np.ndarray, max_new_tokens: int = 200,
                 on_token: Callable[[str], None] | None = None) -> str:  # fmt: skip
        """Greedy generation in a worker thread, streaming decoded text through `on_token`."""
        import torch
        from transformers import TextIteratorStreamer

        inputs = self.inputs(question, rgb)
        if "token_type_ids" in inputs and "token_type_ids" not in inspect.signature(self.model.forward).parameters:
            inputs.pop("token_type_ids")  # a BERT-style tokenizer adds segment ids a decoder-only model refuses
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, streamer=streamer)
            except BaseException as exc:  # noqa: BLE001 - surfaced below, after the streamer is released
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        parts = []
        for text in streamer:
            parts.append(text)
            if on_token and text:
                on_token(text)
        worker.join()
        if errors:
            raise errors[0]
        return "".join(parts).strip()


@lru_cache(maxsize=2)
def _load(model_id: str, offline: bool) -> LocalVLM:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    try:
        processor = AutoProcessor.from_pretrained(model_id, local_files_only=offline)
        model = AutoModelForImageTextToText.from_pretrained(model_id, local_files_only=offline, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"the local VLM '{model_id}' is not in the Hugging Face cache and cannot be downloaded offline"
        ) from exc
    model.eval()
    return LocalVLM(processor=processor, model=model, name=model_id)


def get_local_vlm(model_id: str | None = None) -> LocalVLM:
    """The configured local VLM, loaded once per process."""
    settings = get_settings()
    with _lock:
        return _load(model_id or settings.vlm_local_model, settings.offline)


def ask(question: str, rgb: np.ndarray, language: str = "en",
        on_token: Callable[[str], None] | None = None) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """(answer, facts) from the local VLM."""
    from tools.reader.vlm import prompt_text

    question = question.strip() or prompt_text(f"vlm_default_question_{'fr' if language == 'fr' else 'en'}.txt")
    if language == "fr":
        question += "\nRéponds en français."
    vlm = get_local_vlm()
    answer = vlm.generate(question, rgb, on_token=on_token)
    return answer, {"vlm_image_size": [int(rgb.shape[1]), int(rgb.shape[0])]}
