"""The settings the library reads (env prefix `SENTINELLE_`): data, mirrors, search store, image reader, compute.

The application's settings (`assistant.config.Settings`) extend these with the agent LLM and the server; when the
application is imported it registers its class here, so the whole process shares one settings object and one cache.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROMPTS_DIR = PROJECT_ROOT / "prompts"


class ToolSettings(BaseSettings):
    """What the tools need to know (env prefix `SENTINELLE_`)."""

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

    # --- model servers (vLLM) -----------------------------------------------------------------------
    llm_base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="OpenAI-compatible base URL (vLLM) of the agent LLM; the VLM's default."
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
    upload_max_mb: float = Field(200.0, description="Largest accepted upload, MB.")
    max_pixels: int = Field(
        30000 * 30000, description="Largest raster accepted for processing: width x height, and width x height x bands."
    )
    max_image_pixels: int = Field(
        16384 * 16384,
        description="Largest width x height of a file users give (upload, ingest, reader): it is read in memory.",
    )
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


_settings_class: type[ToolSettings] = ToolSettings


def use_settings_class(cls: type[ToolSettings]) -> None:
    """Make `get_settings()` build `cls` (the application's superset of these settings)."""
    global _settings_class
    _settings_class = cls
    get_settings.cache_clear()


@lru_cache(maxsize=1)
def get_settings() -> ToolSettings:
    """The process-wide settings, read once. Tests call `get_settings.cache_clear()` after changing env vars."""
    return _settings_class()
