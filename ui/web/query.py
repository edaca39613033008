"""The query drawing of a tab: its downscaled preview, clicks on it → crop box in original pixels, crop checks.

The original file is what gets searched; the preview (and the chat thumbnail) are for display only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PIL import Image

from core.errors import ToolError
from tools.search import load_image
from ui import views
from ui.web.state import UiState

REGION_SELECTED = "Region selected. Press Search (or clear the crop to search the whole drawing)."
CHAT_THUMB_SIDE = 360


def preview(st: UiState, img: Image.Image, cache: Path) -> str:
    """A fresh preview of a new query drawing (remembering its scale for later clicks)."""
    path, st.preview_scale = views.crop_preview(img, cache, f"{st.image}|{time.time_ns()}", st.crop, st.corner)
    return path


def redraw(st: UiState, cache: Path) -> str | None:
    """The preview again, with the current crop box and pending corner drawn on it."""
    if st.image is None:
        return None
    with Image.open(st.image) as img:
        img.load()
        path, st.preview_scale = views.crop_preview(img, cache, st.image, st.crop, st.corner)
    return path


def to_original(st: UiState, x: float, y: float) -> tuple[float, float]:
    """A click on the preview → pixels of the original drawing, inside it."""
    w, h = st.image_size or (0, 0)
    return (min(max(0.0, round(x * st.preview_scale)), w), min(max(0.0, round(y * st.preview_scale)), h))


def crop_values(crop: views.CropBox | None) -> tuple[float | None, ...]:
    """The four numeric crop fields for a crop box (all empty without one)."""
    return tuple(round(c) for c in crop) if crop else (None, None, None, None)


def crop_problem(st: UiState) -> str:
    """A message when the crop box cannot be searched (zero size, outside the drawing), else ""."""
    if st.crop is None or st.image is None:
        return ""
    x0, y0, x1, y1 = st.crop
    if x1 - x0 < 1 or y1 - y0 < 1:
        return "The selected region has zero size: pick two different corners (or clear the crop)."
    try:
        load_image(st.image, st.crop)
    except ToolError as e:
        return f"The selected region cannot be searched: {e}."
    return ""


def sketch_picture(value: Any) -> Image.Image | None:
    """The picture of a sketch pad's value (its composite of ground and strokes); None when it has none."""
    if isinstance(value, dict):
        value = value.get("composite")
    return value if isinstance(value, Image.Image) else None


def chat_thumb(st: UiState, cache: Path) -> str:
    """A small PNG of the query drawing (or its crop) for the user's chat message."""
    assert st.image is not None
    img = load_image(st.image, st.crop)
    img.thumbnail((CHAT_THUMB_SIDE, CHAT_THUMB_SIDE))
    out = cache / f"asked-{time.time_ns()}.png"
    img.save(out)
    return str(out)
