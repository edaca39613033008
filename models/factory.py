"""The one place that turns settings into encoders, and tells what is available (``patfig models``)."""

from __future__ import annotations

import logging

from core.errors import ModelUnavailable
from core.settings import Settings
from models.base import TextEncoder, VisualEncoder
from models.linedraw import DEFAULT_DESCRIPTOR, LineDrawEncoder
from models.text import StTextEncoder, resolve_text_model
from models.visual import ClipEncoder, locate_clip_weights

log = logging.getLogger(__name__)

LINEDRAW_NAME = f"linedraw:{DEFAULT_DESCRIPTOR}-v1"
CLIP_HOW_TO = (
    "set PATFIG_CLIP__CHECKPOINT=/path/to/open_clip_weights.pt and PATFIG_CLIP__MODEL to its architecture "
    "(e.g. ViT-B-16), or fill open_clip's cache once on a machine with internet"
)


def build_visual_encoder(settings: Settings) -> VisualEncoder:
    """The visual encoder the settings ask for.

    ``clip``: open_clip, or ModelUnavailable saying how to provide weights. ``linedraw``: the weight-free
    descriptor. ``auto``: CLIP when its weights load offline, else the descriptor, with a loud warning.
    """
    mode = settings.visual_encoder
    if mode == "linedraw":
        return LineDrawEncoder()
    if mode == "clip":
        return ClipEncoder(settings.clip)
    try:
        encoder: VisualEncoder = ClipEncoder(settings.clip)
    except ModelUnavailable as e:
        fallback = LineDrawEncoder()
        log.warning(
            "VISUAL ENCODER: %s (weight-free line-drawing descriptor) because CLIP is unavailable: %s. "
            "Image search works image-to-image only; text queries go through linked text.",
            fallback.name, e,
        )
        return fallback
    log.warning("VISUAL ENCODER: %s (CLIP, image and text)", encoder.name)
    return encoder


def build_text_encoder(settings: Settings) -> TextEncoder:
    """The sentence-transformers text encoder (loads its model on first use)."""
    return StTextEncoder(settings.text)


def describe_models(settings: Settings) -> list[dict[str, object]]:
    """Each encoder patfig can use: role, name, available, active, why_not, how_to_enable, and a one-line note.

    Only checks files on disk (CLIP) or resolves the model folder (text); loads no weights.
    """
    mode = settings.visual_encoder
    s = settings.clip
    clip_name = f"open_clip:{s.model}/{s.checkpoint.stem if s.checkpoint else s.pretrained}"
    try:
        weights, _ = locate_clip_weights(s)
        clip = {"available": True, "why_not": "", "detail": f"weights: {weights}"}
    except ModelUnavailable as e:
        clip = {"available": False, "why_not": str(e), "detail": ""}
    clip_active = mode == "clip" or (mode == "auto" and clip["available"])
    rows: list[dict[str, object]] = [
        {"role": "visual", "name": clip_name, "kind": "clip", "cross_modal": True, "active": clip_active,
         "how_to_enable": "" if clip["available"] else CLIP_HOW_TO, **clip},
        {"role": "visual", "name": LINEDRAW_NAME, "kind": "linedraw", "cross_modal": False,
         "available": True, "why_not": "", "active": not clip_active,
         "detail": "weight-free; image-to-image only",
         "how_to_enable": "" if not clip_active else "set PATFIG_VISUAL_ENCODER=linedraw"},
    ]
    try:
        name, path = resolve_text_model(settings.text.model)
        rows.append({"role": "text", "name": name, "kind": "sentence-transformers", "cross_modal": False,
                     "available": True, "why_not": "", "active": True, "detail": f"model: {path}",
                     "how_to_enable": ""})
    except ModelUnavailable as e:
        rows.append({"role": "text", "name": f"st:{settings.text.model}", "kind": "sentence-transformers",
                     "cross_modal": False, "available": False, "why_not": str(e), "active": True,
                     "detail": "", "how_to_enable": "unset PATFIG_TEXT__MODEL for the packaged all-MiniLM-L6-v2"})
    for r in rows:
        how = str(r["how_to_enable"]) if "PATFIG_" not in str(r["why_not"]) else ""
        parts = ["in use" if r["active"] else "", str(r["detail"] or r["why_not"]), how]
        r["note"] = "; ".join(p for p in parts if p)
    return rows
