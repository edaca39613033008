"""`Services`: the index and the models, as one object every upper layer is handed.

This module only says what the parts are. Which parts, built how, is decided by the composition root
(`patfig.wiring`); tests build them with fake encoders over a real index. Heavy models are built on
first use by the factories the root passes in, so `patfig stats` never loads torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from core.settings import Settings
from models.base import TextEncoder, VisualEncoder
from models.ocr import NumeralReader
from store.index import FigureStore


def _missing(role: str) -> Callable[[], NoReturn]:
    def fail() -> NoReturn:
        raise RuntimeError(f"no {role} was wired in; build the services with patfig.wiring")

    return fail


@dataclass
class ModelSet:
    """The models of one process: two encoders and the OCR reader, each built on first use."""

    settings: Settings
    make_visual: Callable[[], VisualEncoder] = field(default=_missing("visual encoder"), repr=False)
    make_text: Callable[[], TextEncoder] = field(default=_missing("text encoder"), repr=False)
    make_ocr: Callable[[], NumeralReader] = field(default=_missing("OCR reader"), repr=False)
    _visual: VisualEncoder | None = field(default=None, repr=False)
    _text: TextEncoder | None = field(default=None, repr=False)
    _ocr: NumeralReader | None = field(default=None, repr=False)
    # the web app's sessions run in parallel threads: the first uses of a model must build it once, not once each
    _building: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def visual(self) -> VisualEncoder:
        """The visual encoder, built on first use."""
        if self._visual is None:
            with self._building:
                if self._visual is None:
                    self._visual = self.make_visual()
        return self._visual

    @property
    def text(self) -> TextEncoder:
        """The text encoder, built on first use."""
        if self._text is None:
            with self._building:
                if self._text is None:
                    self._text = self.make_text()
        return self._text

    @property
    def ocr(self) -> NumeralReader:
        """The OCR numeral reader, built on first use."""
        if self._ocr is None:
            with self._building:
                if self._ocr is None:
                    self._ocr = self.make_ocr()
        return self._ocr


@dataclass
class Services(ModelSet):
    """Everything a tool, the ingest pipeline, the agent or the UI needs: the index and the models."""

    store: FigureStore = field(default=None, repr=False)  # type: ignore[assignment]  # always given
    extras: dict[str, object] = field(default_factory=dict)

    def close(self) -> None:
        """Close the index."""
        self.store.close()
