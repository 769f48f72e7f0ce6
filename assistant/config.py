"""The one settings object. Nothing else in the project reads environment variables.

Every field is set by an environment variable `SENTINELLE_<FIELD>` (upper case) or a `.env` file;
the README lists them all.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROMPTS_DIR = PROJECT_ROOT / "prompts"


class Settings(BaseSettings):
    """Sentinelle configuration (env prefix `SENTINELLE_`)."""

    model_config = SettingsConfigDict(env_prefix="SENTINELLE_", env_file=".env", extra="ignore")

    # --- data -----------------------------------------------------------------------------------
    data_dir: Path = Field(PROJECT_ROOT / "data", description="Where fetched data, weights, catalog and index live.")
    data_mirror: Path | None = Field(None, description="Local mirror of the sample data (no network when set).")
    models_mirror: Path | None = Field(None, description="Local mirror of the model weights (no network when set).")
    catalog_dir: Path | None = Field(None, description="STAC catalog folder; default <data_dir>/catalog.")
    offline: bool = Field(False, description="Never touch the network (hub downloads, Nominatim).")

    # --- vector search ----------------------------------------------------------------------------
    chroma_path: Path | None = Field(None, description="Embedded chromadb folder; default <data_dir>/chroma.")
    chroma_url: str | None = Field(None, description="Chroma server URL (http://host:8000); overrides chroma_path.")

    # --- agent LLM --------------------------------------------------------------------------------
    llm_backend: Literal["embedded", "openai", "none"] = Field(
        "embedded", description="embedded = llama.cpp GGUF on CPU; openai = any OpenAI-compatible server (vLLM)."
    )
    llm_base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible base URL (vLLM).")
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

    # --- image reader (VLM) -----------------------------------------------------------------------
    vlm_backend: Literal["auto", "openai", "transformers", "offline"] = Field(
        "auto", description="openai = vLLM server; transformers = local HF model; offline = measured facts only."
    )
    vlm_base_url: str | None = Field(None, description="OpenAI-compatible URL of the VLM; default llm_base_url.")
    vlm_model: str = Field("Qwen/Qwen2.5-VL-7B-Instruct", description="VLM model name on the server.")
    vlm_local_model: str = Field("HuggingFaceTB/SmolVLM-256M-Instruct", description="Hub id for the transformers VLM.")
    vlm_max_pixels: int = Field(1024 * 1024, description="Images are downscaled to at most this many pixels.")
    vlm_timeout_s: float = Field(60.0, description="Per-request timeout for the VLM server, seconds.")

    # --- compute --------------------------------------------------------------------------------
    torch_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Device for the encoders (Galileo change detector): auto = cuda when available."
    )

    # --- server -----------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the web app listens on.")
    port: int = Field(7860, description="Port of the web app.")
    auth: str | None = Field(None, description="'user:password' to protect the app (stakeholder links).")
    share: bool = Field(False, description="Ask Gradio for a public share link (needs internet).")
    public_url: str | None = Field(None, description="Public base URL used in deep links, when behind a proxy.")
    upload_max_mb: float = Field(200.0, description="Largest accepted upload, MB.")
    max_pixels: int = Field(30000 * 30000, description="Largest raster (width x height) accepted for processing.")
    nominatim: bool = Field(False, description="Use OpenStreetMap Nominatim for places not in the gazetteer (online).")

    @property
    def catalog_root(self) -> Path:
        return self.catalog_dir or self.data_dir / "catalog"

    @property
    def chroma_root(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def vlm_url(self) -> str:
        return self.vlm_base_url or self.llm_base_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call `get_settings.cache_clear()` after changing env vars."""
    return Settings()
