"""The one settings object. Every knob is here; nothing else reads the environment.

Values come from arguments, then ``PATFIG_*`` environment variables (nested with ``__``, e.g.
``PATFIG_CLIP__CHECKPOINT=/models/vit.pt``), then a ``.env`` file, then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ClipSettings(BaseModel):
    """open_clip visual encoder. Without loadable weights the line-drawing fallback is used.

    `model` is an ``hf-hub:org/name`` model (config and weights from the Hugging Face hub cache; `pretrained`
    is ignored) or an open_clip architecture (e.g. ``ViT-B-16``) with a `pretrained` tag or file, or with a
    local `checkpoint`. The default is PatentCLIP ViT-B, CLIP fine-tuned on patent figures.
    """

    model: str = "hf-hub:patentclip/PatentCLIP_Vit_B"
    pretrained: str = ""  # an open_clip tag (e.g. laion400m_e32) or weights file, for an architecture `model`
    checkpoint: Path | None = None  # a local .pt/.bin/.safetensors file; wins over `pretrained`
    device: str = "cpu"


class TextSettings(BaseModel):
    """sentence-transformers text encoder. Empty `model` = the offline-packaged all-MiniLM-L6-v2.

    `runtime` ``auto`` runs a BERT model with mean pooling (the default one is) in ONNX Runtime, the same vectors
    without torch, and falls back to sentence-transformers when its graph cannot be exported; ``onnx`` refuses
    that fallback; ``torch`` always uses sentence-transformers.
    """

    model: str = ""
    device: str = "cpu"
    batch_size: int = Field(default=32, ge=1, le=1024)
    runtime: Literal["auto", "onnx", "torch"] = "auto"
    threads: int = Field(default=0, ge=0)  # ONNX Runtime intra-op threads (0: the runtime's default, all cores)


class OcrSettings(BaseModel):
    """Numeral reading on drawing sheets: which OCR engine, at what scale, on how many threads."""

    enabled: bool = True
    engine: Literal["rapidocr", "easyocr"] = "rapidocr"  # PP-OCR in ONNX Runtime, or EasyOCR (torch)
    # detect at this fraction of a 300-dpi sheet; None: the engine's own scale
    scale: float | None = Field(default=None, gt=0.1, le=1.0)
    min_conf: float | None = Field(default=None, ge=0.0, le=1.0)  # None: the engine's own floor
    threads: int = Field(default=1, ge=0)  # intra-op threads of the OCR models (0: the runtime's default, all cores)
    model_dir: Path | None = None  # the engine's weights folder; default: the package that ships them


class McpSettings(BaseModel):
    """patfig as an MCP server (`patfig mcp`, `patfig serve --mcp`).

    `allowed_dirs`: the only folders whose image files a client may name as a query image (an image path
    outside them is refused); none by default, so a client sends images as base64 until the user allows a
    folder (``PATFIG_MCP__ALLOWED_DIRS=/home/me/drawings:/data/sketches``, separated by the OS path separator).
    `token`: the bearer token an HTTP client must send (``Authorization: Bearer ...``); required to serve MCP
    over HTTP on an interface other than loopback.
    """

    allowed_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    token: str = ""

    @field_validator("allowed_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(os.pathsep) if p.strip()]
        return value


class Settings(BaseSettings):
    """Everything patfig can be told."""

    model_config = SettingsConfigDict(
        env_prefix="PATFIG_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    index_dir: Path = Path("data/index")
    visual_encoder: str = Field(default="auto", pattern="^(auto|clip|linedraw)$")  # auto: CLIP if weights load
    # the offline descriptor: lbp joined with CRAFT backbone features (lbp alone without the EasyOCR weights),
    # or lbp alone; an existing index keeps the one it was built with
    linedraw: str = Field(default="lbp-craft", pattern="^(lbp|lbp-craft)$")
    clip: ClipSettings = ClipSettings()
    text: TextSettings = TextSettings()
    ocr: OcrSettings = OcrSettings()
    mcp: McpSettings = McpSettings()
    onnx_cache: Path | None = None  # graphs exported from packaged weights (default: ~/.cache/patfig/onnx)
    # where lbp-craft's CRAFT backbone runs: ONNX Runtime with a torch fallback (auto), ONNX only, or torch
    craft_runtime: Literal["auto", "onnx", "torch"] = "auto"
    chroma_host: str | None = None  # set to use a Chroma server (HttpClient) instead of the embedded store
    chroma_port: int = 8000
    max_image_pixels: int = Field(default=120_000_000, ge=1_000_000)  # larger images are refused (decompression bombs)
    # index each figure of a sheet that shows several as its own unit (needs OCR's FIG labels); off: one unit per
    # sheet, as before (PATFIG_SPLIT_FIGURES=0)
    split_figures: bool = True

    ollama_model: str = "qwen2.5:7b"
    ollama_host: str = Field(
        default="http://127.0.0.1:11434",
        validation_alias=AliasChoices("ollama_host", "PATFIG_OLLAMA_HOST", "OLLAMA_HOST"),
    )
    llm_timeout: float = Field(default=60.0, gt=0)
    max_tool_calls: int = Field(default=6, ge=1, le=20)
    # no network: the offline planner even if an LLM answers, and no model weights fetched (PATFIG_OFFLINE=1)
    offline: bool = False


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags) on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # pyright: ignore[reportArgumentType] (pydantic validates each value)
