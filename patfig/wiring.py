"""The composition root: builds the index and the models from settings, once.

Every other layer receives what it needs from here; nothing below this module chooses an implementation.
Tests pass their own parts in (`build_services(settings, visual=..., text=...)`).
"""

from __future__ import annotations

from core.settings import Settings
from models.base import TextEncoder, VisualEncoder
from models.factory import build_text_encoder, build_visual_encoder, choose_visual_for_new_index, linedraw_descriptor
from models.ocr import NumeralReader
from runtime.services import ModelSet, Services
from store.index import FigureStore


def resolved_settings(settings: Settings, store: FigureStore) -> Settings:
    """The settings with "auto" resolved against the index: one built with a line-drawing descriptor keeps
    being queried and extended with that descriptor (``linedraw:lbp-v1`` indexes stay on lbp)."""
    recorded = store.encoders().get("visual")
    descriptor = linedraw_descriptor(recorded.name) if recorded else None
    if settings.visual_encoder in ("auto", "linedraw") and descriptor in ("lbp", "lbp-craft"):
        return settings.model_copy(update={"visual_encoder": "linedraw", "linedraw": descriptor})
    return settings


def build_models(settings: Settings) -> ModelSet:
    """The models of one process, built lazily: what an ingest worker process needs (picklable by name)."""
    return ModelSet(
        settings=settings,
        make_visual=lambda: build_visual_encoder(settings),
        make_text=lambda: build_text_encoder(settings),
        make_ocr=lambda: NumeralReader(settings.ocr),
    )


def build_services(
    settings: Settings,
    *,
    create: bool = False,
    visual: VisualEncoder | None = None,
    text: TextEncoder | None = None,
    ocr: NumeralReader | None = None,
) -> Services:
    """Open the index named by the settings and wire the models (built lazily) around it.

    Creating a new index (the first ingest) chooses its visual encoder once, fetching the CLIP weights first
    when they are missing and fetching is allowed; the chosen settings go to every ingest worker.
    """
    store = FigureStore.open(
        settings.index_dir, create=create, chroma_host=settings.chroma_host, chroma_port=settings.chroma_port
    )
    if create and visual is None and "visual" not in store.encoders():
        settings = choose_visual_for_new_index(settings)
    settings = resolved_settings(settings, store)  # ingest workers build their encoders from these
    return Services(
        settings=settings,
        store=store,
        make_visual=lambda: build_visual_encoder(resolved_settings(settings, store)),
        make_text=lambda: build_text_encoder(settings),
        make_ocr=lambda: NumeralReader(settings.ocr),
        _visual=visual,
        _text=text,
        _ocr=ocr,
    )
