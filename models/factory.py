"""The one place that turns settings into encoders, and tells what is available (``patfig models``)."""

from __future__ import annotations

import logging
from pathlib import Path

from core.errors import ModelUnavailable
from core.settings import Settings
from models.base import TextEncoder, VisualEncoder
from models.clip_hub import pull_clip_weights, timed_pull, why_no_fetch
from models.craft_features import craft_weights_path
from models.lbp_craft import linedraw_encoder
from models.text import StTextEncoder, resolve_text_model
from models.text_onnx import OnnxTextEncoder, onnx_plan
from models.visual import HOW_TO, ClipEncoder, clip_name, locate_clip_weights

log = logging.getLogger(__name__)



def linedraw_name(settings: Settings) -> str:
    """The name of the offline encoder the settings ask for (``linedraw:lbp-craft-v1`` or ``linedraw:lbp-v1``)."""
    return f"linedraw:{settings.linedraw}-v1"


def linedraw_descriptor(encoder_name: str) -> str | None:
    """The `Settings.linedraw` value that rebuilds a recorded offline encoder, None if it is not one."""
    if not encoder_name.startswith("linedraw:") or not encoder_name.endswith("-v1"):
        return None
    return encoder_name.removeprefix("linedraw:").removesuffix("-v1")


def _linedraw(settings: Settings) -> VisualEncoder:
    return linedraw_encoder(settings.linedraw, settings.ocr.model_dir, settings.onnx_cache, settings.craft_runtime)


def build_visual_encoder(settings: Settings) -> VisualEncoder:
    """The visual encoder the settings ask for.

    ``clip``: open_clip, or ModelUnavailable saying how to provide weights. ``linedraw``: the offline
    descriptor. ``auto``: CLIP when its weights load offline, else the descriptor, with a loud warning.
    """
    mode = settings.visual_encoder
    if mode == "linedraw":
        return _linedraw(settings)
    if mode == "clip":
        return ClipEncoder(settings.clip)
    try:
        encoder: VisualEncoder = ClipEncoder(settings.clip)
    except ModelUnavailable as e:
        fallback = _linedraw(settings)
        log.warning(
            "VISUAL ENCODER: %s (offline line-drawing descriptor) because CLIP is unavailable: %s. "
            "Image search works image-to-image only; text queries go through linked text.",
            fallback.name, e,
        )
        return fallback
    log.warning("VISUAL ENCODER: %s (CLIP, image and text)", encoder.name)
    return encoder


def choose_visual_for_new_index(settings: Settings) -> Settings:
    """The settings for the first ingest of a new index: CLIP weights fetched if missing, the choice said once.

    With ``auto`` or ``clip`` and no CLIP weights on disk, the weights are fetched once (unless PATFIG_OFFLINE
    or HF_HUB_OFFLINE is set; a machine without internet fails in seconds). If there are still none, ``auto``
    turns into ``linedraw`` for the whole run, every worker process included, with one warning line.
    """
    if settings.visual_encoder == "linedraw":
        return settings
    try:
        locate_clip_weights(settings.clip)
        return settings
    except ModelUnavailable as e:
        why = str(e)
    if settings.clip.checkpoint is not None:
        pass  # a missing local file: nothing to fetch
    elif no_fetch := why_no_fetch(settings.offline):
        why = f"{why} (not fetched: {no_fetch})"
    else:
        weights, why, seconds = timed_pull(settings.clip, offline=settings.offline)
        if weights is not None:
            log.warning("fetched CLIP weights %s in %.0f s", weights, seconds)
            return settings
    if settings.visual_encoder == "clip":
        return settings  # the encoder itself refuses, saying why
    log.warning("VISUAL ENCODER: %s (offline line-drawing descriptor, image-to-image only) because CLIP is "
                "unavailable: %s", linedraw_name(settings), why)
    return settings.model_copy(update={"visual_encoder": "linedraw"})


def _linedraw_detail(settings: Settings) -> str:
    if settings.linedraw == "lbp":
        return "weight-free; image-to-image only"
    try:
        return f"CRAFT backbone from {craft_weights_path(settings.ocr.model_dir)}; image-to-image only"
    except ModelUnavailable as e:
        return f"falls back to linedraw:lbp-v1 (weight-free): {e}; image-to-image only"


def pull_visual_weights(settings: Settings) -> Path:
    """Fetch the configured CLIP weights into the local cache (`patfig models pull`); the weights file."""
    return pull_clip_weights(settings.clip, offline=settings.offline)


def build_text_encoder(settings: Settings) -> TextEncoder:
    """The text encoder (loads its model on first use): the sentence-transformers model in ONNX Runtime when it
    can run there (`TextSettings.runtime`), else in sentence-transformers; the same vectors and name either way."""
    text = settings.text
    if text.runtime == "torch":
        return StTextEncoder(text)
    _, folder = resolve_text_model(text.model)  # ModelUnavailable, saying what to configure
    plan = onnx_plan(folder)
    if isinstance(plan, str):
        if text.runtime == "onnx":
            raise ModelUnavailable(f"text model {folder} cannot run in ONNX Runtime: {plan}")
        log.info("text model %s runs in sentence-transformers: %s", folder, plan)
        return StTextEncoder(text)
    return OnnxTextEncoder(text, settings.onnx_cache, strict=text.runtime == "onnx")


def describe_models(settings: Settings) -> list[dict[str, object]]:
    """Each encoder patfig can use: role, name, available, active, why_not, how_to_enable, and a one-line note.

    Only checks files on disk (CLIP) or resolves the model folder (text); loads no weights.
    """
    mode = settings.visual_encoder
    s = settings.clip
    try:
        weights, _ = locate_clip_weights(s)
        clip = {"available": True, "why_not": "", "detail": f"weights: {weights}"}
    except ModelUnavailable as e:
        clip = {"available": False, "why_not": str(e), "detail": ""}
    clip_active = mode == "clip" or (mode == "auto" and clip["available"])
    rows: list[dict[str, object]] = [
        {"role": "visual", "name": clip_name(s), "kind": "clip", "cross_modal": True, "active": clip_active,
         "how_to_enable": "" if clip["available"] else HOW_TO, **clip},
        {"role": "visual", "name": linedraw_name(settings), "kind": "linedraw", "cross_modal": False,
         "available": True, "why_not": "", "active": not clip_active,
         "detail": _linedraw_detail(settings),
         "how_to_enable": "" if not clip_active else "set PATFIG_VISUAL_ENCODER=linedraw"},
    ]
    try:
        name, path = resolve_text_model(settings.text.model)
        plan = onnx_plan(path) if settings.text.runtime != "torch" else "runtime set to torch"
        runtime = "ONNX Runtime" if not isinstance(plan, str) else f"sentence-transformers ({plan})"
        rows.append({"role": "text", "name": name, "kind": "sentence-transformers", "cross_modal": False,
                     "available": True, "why_not": "", "active": True, "detail": f"model: {path}; runs in {runtime}",
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
