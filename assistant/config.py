"""The application's settings: the library's (`tools.core.settings`) plus the agent LLM and the server.

Every field is set by an environment variable `SENTINELLE_<FIELD>` (upper case) or a `.env` file; the README lists
them all. Nothing else in the project reads environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

from pydantic import Field, SecretStr

from tools.core import settings as _tool_settings
from tools.core.settings import PROJECT_ROOT, PROMPTS_DIR, ToolSettings

__all__ = ["PROJECT_ROOT", "PROMPTS_DIR", "Settings", "get_settings"]


class Settings(ToolSettings):
    """Sentinelle configuration (env prefix `SENTINELLE_`)."""

    # --- agent LLM --------------------------------------------------------------------------------
    llm_backend: Literal["embedded", "openai", "none"] = Field(
        "embedded", description="embedded = llama.cpp GGUF on CPU; openai = any OpenAI-compatible server (vLLM)."
    )
    llm_model: str = Field("Qwen/Qwen2.5-VL-7B-Instruct", description="Model name on the OpenAI-compatible server.")
    llm_api_key: str = Field("EMPTY", description="API key for the OpenAI-compatible server.")
    llm_timeout_s: float = Field(30.0, description="Per-request timeout for the LLM server, seconds.")
    llm_max_retries: int = Field(1, description="Retries for the LLM server.")
    llm_gguf_path: Path | None = Field(None, description="Local GGUF for the embedded backend; default SmolLM2-135M.")
    llm_hub_gguf: str | None = Field(
        None, description="Hub GGUF 'repo_id/filename' for the embedded backend when online (e.g. a Qwen2.5 Instruct)."
    )
    llm_threads: int = Field(1, description="llama.cpp threads for the embedded backend.")
    planner: Literal["auto", "router", "llm"] = Field(
        "auto", description="router = semantic router (offline, small LLM); llm = tool-calling loop; auto picks."
    )

    # --- server -----------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the web app listens on.")
    port: int = Field(7860, description="Port of the web app.")
    auth: str | None = Field(None, description="'user:password' to protect the app (stakeholder links).")
    share: bool = Field(False, description="Ask Gradio for a public share link (needs internet).")
    public_url: str | None = Field(None, description="Public base URL used in deep links, when behind a proxy.")
    question_max_chars: int = Field(
        4000, description="Longest chat question the web app answers; a longer one gets a one-line refusal (the "
        "router's cost grows faster than the text: 200,000 characters took 8 s of CPU)."
    )
    change_precompute: bool = Field(
        True, description="At start, cache the Galileo embeddings of the catalog's change pairs in a low-priority "
        "child process, so a first change question only reads them."
    )

    # --- share links ------------------------------------------------------------------------------
    secret_key: SecretStr | None = Field(
        None, description="Signs share links (HMAC-SHA256); when unset, a random key kept in <data_dir>/secret_key."
    )
    link_max_age_days: float | None = Field(None, description="Share links older than this are refused; none: never.")
    link_max_chars: int = Field(4096, description="Longest `?s=` link token accepted, characters.")
    link_max_bytes: int = Field(
        1_000_000, description="Largest session a link token may decompress to, bytes (links this server makes stay "
        "under 1800 characters, a few tens of kB once decompressed)."
    )
    link_max_items: int = Field(
        50_000, description="Most JSON arrays and objects in a link token (parsing cost: a small link of many tiny "
        "arrays would take seconds of CPU and tens of MB to read)."
    )
    snapshot_max_bytes: int = Field(20_000_000, description="Largest server-side share snapshot saved or loaded.")
    sessions_max_mb: float = Field(
        256.0, description="Memory budget of the live sessions (compressed); the least recently used go first."
    )


_tool_settings.use_settings_class(Settings)


def get_settings() -> Settings:
    """The process-wide settings (one object, shared with the library)."""
    return cast(Settings, _tool_settings.get_settings())


get_settings.cache_clear = _tool_settings.get_settings.cache_clear  # type: ignore[attr-defined]
