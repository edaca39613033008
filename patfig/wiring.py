"""The composition root: builds the index and the models from settings, once.

Every other layer receives what it needs from here; nothing below this module chooses an implementation.
Tests pass their own parts in (`build_services(settings, visual=..., text=...)`).
"""

from __future__ import annotations

from core.settings import Settings
from models.base import TextEncoder, VisualEncoder
from models.factory import build_text_encoder, build_visual_encoder
from models.ocr import NumeralReader
from runtime.services import Services
from store.index import FigureStore


def build_services(
    settings: Settings,
    *,
    create: bool = False,
    visual: VisualEncoder | None = None,
    text: TextEncoder | None = None,
    ocr: NumeralReader | None = None,
) -> Services:
    """Open the index named by the settings and wire the models (built lazily) around it."""
    store = FigureStore.open(
        settings.index_dir, create=create, chroma_host=settings.chroma_host, chroma_port=settings.chroma_port
    )

    def make_visual() -> VisualEncoder:
        # In "auto" mode, an index built with the line-drawing descriptor keeps being queried with it.
        s = settings
        recorded = store.encoders().get("visual")
        if s.visual_encoder == "auto" and recorded and recorded.name.startswith("linedraw:"):
            s = s.model_copy(update={"visual_encoder": "linedraw"})
        return build_visual_encoder(s)

    return Services(
        settings=settings,
        store=store,
        make_visual=make_visual,
        make_text=lambda: build_text_encoder(settings),
        make_ocr=lambda: NumeralReader(settings.ocr),
        _visual=visual,
        _text=text,
        _ocr=ocr,
    )
