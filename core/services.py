"""The composition root: builds the index and the models from settings, once.

Heavy models load lazily on first use, so `patfig stats` never loads torch. Tests pass their own
parts in (`build_services(settings, visual=..., text=...)`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.settings import Settings

if TYPE_CHECKING:
    from models.base import TextEncoder, VisualEncoder
    from models.ocr import NumeralReader
    from store.index import FigureStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a tool, the agent or the UI needs, built from one Settings object."""

    settings: Settings
    store: FigureStore
    _visual: VisualEncoder | None = None
    _text: TextEncoder | None = None
    _ocr: NumeralReader | None = None
    extras: dict = field(default_factory=dict)

    @property
    def visual(self) -> VisualEncoder:
        """The visual encoder; in "auto" mode, the one this index was built with when that is known."""
        if self._visual is None:
            from models.factory import build_visual_encoder

            s = self.settings
            recorded = self.store.encoders().get("visual")
            if s.visual_encoder == "auto" and recorded and recorded.name.startswith("linedraw:"):
                s = s.model_copy(update={"visual_encoder": "linedraw"})
            self._visual = build_visual_encoder(s)
        return self._visual

    @property
    def text(self) -> TextEncoder:
        if self._text is None:
            from models.factory import build_text_encoder

            self._text = build_text_encoder(self.settings)
        return self._text

    @property
    def ocr(self) -> NumeralReader:
        if self._ocr is None:
            from models.ocr import NumeralReader

            self._ocr = NumeralReader(self.settings.ocr)
        return self._ocr

    def close(self) -> None:
        self.store.close()


def build_services(
    settings: Settings,
    *,
    create: bool = False,
    visual: VisualEncoder | None = None,
    text: TextEncoder | None = None,
    ocr: NumeralReader | None = None,
) -> Services:
    """Open the index named by the settings and wire the models (lazily) around it."""
    from store.index import FigureStore

    store = FigureStore.open(
        settings.index_dir, create=create, chroma_host=settings.chroma_host, chroma_port=settings.chroma_port
    )
    return Services(settings=settings, store=store, _visual=visual, _text=text, _ocr=ocr)
