"""The narrow interfaces the rest of patfig sees of its models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from PIL import Image


@runtime_checkable
class VisualEncoder(Protocol):
    """Turns drawing images into unit-length vectors; CLIP can also embed text into the same space."""

    name: str  # identity recorded in the index: "open_clip:ViT-B-16/laion400m_e32", "linedraw:hog-v1"
    dim: int
    cross_modal: bool  # True when embed_texts gives vectors comparable with embed_images (CLIP)

    def embed_images(self, images: Sequence[Image.Image]) -> list[list[float]]: ...

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]: ...


@runtime_checkable
class TextEncoder(Protocol):
    """Turns text into unit-length vectors."""

    name: str  # "st:all-MiniLM-L6-v2"
    dim: int

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]: ...
