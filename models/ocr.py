"""Reading reference numerals and "FIG. n" labels on drawing sheets, with either OCR engine.

An engine (models/ocr_rapid.py: PP-OCR in ONNX Runtime; models/ocr_easy.py: EasyOCR) only detects
text boxes on a gray image and recognises the text of given boxes. Everything else is shared and lives
here: the sheet's orientation, the choice of crops, and turning what was read into tokens
(models/ocr_text.py).

Many sheets are landscape: their labels run up the page, and recognisers only read text running left
to right. Detection is the expensive step, so a sheet is detected once: in the frame where its text
should run left to right (turned a quarter for landscape sheets, per the document's hint), and the
remaining 180° question is settled by recognising a handful of crops both ways (cheap). Without a hint,
an engine whose detector finds text whichever way it runs (PP-OCR's DB) detects the sheet upright and
tries the sample crops in all four turns; only a sheet found turned a quarter is detected again, in the
frame where it reads (DB finds more there: 260 signs of the sample ZIPs instead of 228). EasyOCR's
CRAFT must see text upright, so it detects upright first and turns the sheet when nothing reads well.

Boxes come back in the coordinates of the image as given (x right, y down, full resolution).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image

from core.errors import ModelUnavailable
from core.settings import OcrSettings
from core.types import Box, OcrToken
from models.ocr_easy import EasyOcrEngine
from models.ocr_rapid import RapidOcrEngine
from models.ocr_text import Read, orientation_score, parse_reads

REFERENCE_DPI = 300  # scales are relative to a 300-dpi sheet; images that state another dpi are rescaled
SAMPLE_BOXES = 8  # crops recognised in each candidate turn to settle the orientation (16 decided no better)
SAMPLE_SHAPE = (1.0, 5.0)  # ... shaped like numerals or FIG labels: a line of text costs up to ten numerals
CONFIDENT = 2.0  # orientation score above which an upright reading is accepted without trying a turn
FLIP_MARGIN = (1.5, 0.5)  # another turn must beat the usual one by factor and offset


class OcrEngine(Protocol):
    """What the reader needs from an OCR engine. Boxes are (x_min, x_max, y_min, y_max) in pixels."""

    name: str
    rotation_tolerant: bool  # whether detection finds text running any of the four ways
    min_conf: float  # the engine's default confidence floor for a read to count
    det_scale: float  # the engine's default detection scale (of a 300-dpi sheet)
    rec_scale: float | None  # the scale crops are recognised at; None: the detection scale

    def load(self) -> None: ...

    def detect(self, img: np.ndarray) -> list[list[int]]: ...

    def recognize(self, img: np.ndarray, boxes: list[list[int]]) -> list[tuple[str, float]]: ...


ENGINES = {"rapidocr": RapidOcrEngine, "easyocr": EasyOcrEngine}


def make_engine(settings: OcrSettings) -> OcrEngine:
    """The engine the settings name, not yet loaded."""
    try:
        cls = ENGINES[settings.engine]
    except KeyError:
        raise ModelUnavailable(f"unknown OCR engine {settings.engine!r}: one of {', '.join(ENGINES)}") from None
    return cls(threads=settings.threads, models=settings.model_dir)


@dataclass
class OcrResult:
    """What OCR read on one sheet."""

    rotation: int  # 0, 90, 180 or 270: degrees the sheet was turned (PIL rotate, counter-clockwise) to read it
    tokens: list[OcrToken] = field(default_factory=list)  # boxes in original image coordinates
    seconds: float = 0.0


# ---------------------------------------------------------------- geometry


def rotate_box(box: tuple[float, float, float, float], k: int, w: float, h: float) -> tuple[float, ...]:
    """Map a box (x0, y0, x1, y1) of a w×h image into that image turned k quarter-turns counter-clockwise.

    Matches PIL `Image.rotate(90 * k, expand=True)` and `np.rot90(a, k)`: a quarter turn sends (x, y)
    to (y, w - x).
    """
    x0, y0, x1, y1 = box
    pts = [(x0, y0), (x1, y1)]
    for _ in range(k % 4):
        pts = [(y, w - x) for x, y in pts]
        w, h = h, w
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def unrotate_box(box: tuple[float, float, float, float], k: int, w: float, h: float) -> tuple[float, ...]:
    """Inverse of `rotate_box`: w×h are the size of the image before it was turned."""
    rw, rh = (h, w) if k % 2 else (w, h)
    return rotate_box(box, (4 - k % 4) % 4, rw, rh)


def mostly_vertical(boxes: list[list[int]]) -> bool:
    """Whether most elongated text boxes (x_min, x_max, y_min, y_max) are taller than wide."""
    tall = wide = 0
    for x0, x1, y0, y1 in boxes:
        w, h = x1 - x0, y1 - y0
        if h >= 1.5 * w:
            tall += 1
        elif w >= 1.5 * h:
            wide += 1
    return tall > wide


def _to_gray(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("L")
    return image.convert("L")


def _resized(gray: Image.Image, scale: float) -> np.ndarray:
    if scale == 1.0:
        return np.asarray(gray)
    size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
    return np.asarray(gray.resize(size, Image.Resampling.LANCZOS))


@dataclass
class _Frame:
    """The sheet turned k quarters counter-clockwise, as recognised, and its text boxes there."""

    k: int
    img: np.ndarray  # the recognition image, turned
    boxes: list[list[int]]  # x_min, x_max, y_min, y_max in `img`

    def turned(self, j: int) -> _Frame:
        """The same frame turned j more quarters (boxes follow; nothing is detected again)."""
        h, w = self.img.shape
        boxes = []
        for x0, x1, y0, y1 in self.boxes:
            a, b, c, d = rotate_box((x0, y0, x1, y1), j, w, h)
            boxes.append([int(a), int(c), int(b), int(d)])
        return _Frame((self.k + j) % 4, np.ascontiguousarray(np.rot90(self.img, j)), boxes)


@dataclass
class _Choice:
    """An orientation and the sample crops read in it (reused in the full read)."""

    frame: _Frame
    score: float
    reads: dict[int, Read]  # box index → read


class NumeralReader:
    """Reads reference numerals and FIG labels on drawing sheets with the OCR engine the settings name."""

    def __init__(self, settings: OcrSettings | None = None, engine: OcrEngine | None = None):
        self.settings = settings or OcrSettings()
        self.engine = engine or make_engine(self.settings)
        self.name = self.engine.name
        self.min_conf = self.engine.min_conf if self.settings.min_conf is None else self.settings.min_conf

    def load(self) -> NumeralReader:
        """Load the engine's models now rather than on the first sheet (raises ModelUnavailable)."""
        self.engine.load()
        return self

    def work_scale(self, image: Image.Image, scale: float | None = None) -> float:
        """The factor the sheet is resized by for detection (or `scale`), corrected for a stated dpi."""
        scale = scale or self.settings.scale or self.engine.det_scale
        dpi = image.info.get("dpi")
        if dpi and float(dpi[0]) > 0:
            scale *= REFERENCE_DPI / float(dpi[0])
        return min(1.0, max(0.05, scale))

    # -- steps

    def _detect(self, det: np.ndarray, rec: np.ndarray, k: int) -> _Frame:
        """Detect text on the detection image turned k quarters; boxes in the turned recognition image."""
        img = np.ascontiguousarray(np.rot90(det, k))
        target = np.ascontiguousarray(np.rot90(rec, k))
        ink = np.nonzero(img < 160)
        if len(ink[0]) == 0:
            return _Frame(k, target, [])
        pad = 10
        y0, y1 = max(0, int(ink[0].min()) - pad), min(img.shape[0], int(ink[0].max()) + pad + 1)
        x0, x1 = max(0, int(ink[1].min()) - pad), min(img.shape[1], int(ink[1].max()) + pad + 1)
        found = self.engine.detect(np.ascontiguousarray(img[y0:y1, x0:x1]))
        fx, fy = target.shape[1] / img.shape[1], target.shape[0] / img.shape[0]
        boxes = [
            [int((b[0] + x0) * fx), round((b[1] + x0) * fx), int((b[2] + y0) * fy), round((b[3] + y0) * fy)]
            for b in found
        ]
        return _Frame(k, target, [b for b in boxes if b[1] > b[0] and b[3] > b[2]])

    def _recognize(self, frame: _Frame, indices: list[int]) -> list[Read]:
        """Recognise the boxes of a frame with these indices (one read per box, in order)."""
        boxes = [frame.boxes[i] for i in indices]
        texts = self.engine.recognize(frame.img, boxes) if boxes else []
        return [
            Read((float(b[0]), float(b[2]), float(b[1]), float(b[3])), text, conf)
            for b, (text, conf) in zip(boxes, texts, strict=True)
        ]

    @staticmethod
    def _sample(boxes: list[list[int]], either_way: bool) -> list[int]:
        """Indices of the crops that best tell one orientation from another and cost little to recognise:
        those shaped like a numeral or a FIG label (SAMPLE_SHAPE times as wide as high, or either way round
        when the text may run up or down), the most elongated first."""

        def shape(b: list[int]) -> float:
            ratio = (b[1] - b[0]) / max(1, b[3] - b[2])
            return max(ratio, 1 / max(ratio, 1e-6)) if either_way else ratio

        low, high = SAMPLE_SHAPE
        fit = [i for i, b in enumerate(boxes) if low <= shape(b) <= high]
        return sorted(fit, key=lambda i: shape(boxes[i]), reverse=True)[:SAMPLE_BOXES]

    def _settle(self, frame: _Frame, turns: tuple[int, ...], known: Collection[str]) -> _Choice:
        """Keep a frame or turn it (180°, or any quarter): whichever reads sample crops clearly better.

        The frame itself wins unless a turn scores FLIP_MARGIN better, because the frame tried first is
        the usual one.
        """
        sample = self._sample(frame.boxes, either_way=len(turns) > 2)
        choices = []
        for j in turns:
            f = frame.turned(j) if j else frame
            reads = self._recognize(f, sample)
            score = orientation_score(parse_reads(reads, self.min_conf, known), known)
            choices.append(_Choice(f, score, dict(zip(sample, reads, strict=True))))
        if len(choices) == 1:
            return choices[0]
        usual, other = choices[0], max(choices[1:], key=lambda c: c.score)
        factor, offset = FLIP_MARGIN
        return other if other.score > factor * usual.score + offset else usual

    def read(
        self, image: Image.Image, landscape: bool | None = None, known: Collection[str] | None = None
    ) -> OcrResult:
        """Read numerals and FIG labels on a sheet.

        landscape: the document's hint (USPTO XML says orientation="landscape"); True reads the sheet
        turned a quarter (270° unless 90° reads clearly better), False reads it upright (or upside down
        if that reads clearly better), None finds the orientation from the sheet alone.
        known: the document's reference signs, when the caller has them. They weigh in the choice of
        orientation and let all-stroke readings such as "III" count as "111"; tokens are not filtered.
        """
        t0 = time.perf_counter()
        known = set(known or ())
        self.engine.load()
        gray = _to_gray(image)
        width, height = gray.size
        det_scale = self.work_scale(image)
        rec_scale = self.work_scale(image, self.engine.rec_scale) if self.engine.rec_scale else det_scale
        det = _resized(gray, det_scale)
        rec = det if rec_scale == det_scale else _resized(gray, rec_scale)

        best = self._choose(det, rec, landscape, known)
        frame = best.frame
        rest = [i for i in range(len(frame.boxes)) if i not in best.reads]
        reads = list(best.reads.values()) + self._recognize(frame, rest)
        tokens = self._tokens(reads, frame.k, rec, (width, height), known)
        return OcrResult(rotation=90 * frame.k, tokens=tokens, seconds=time.perf_counter() - t0)

    def _choose(self, det: np.ndarray, rec: np.ndarray, landscape: bool | None, known: Collection[str]) -> _Choice:
        """Detect text in the frame where it should read, and settle the turn on sample crops.

        Landscape sheets are detected turned 270° (text running up the page, the USPTO habit). Without a
        hint, a detector that finds text whichever way it runs looks upright and tries the sample in all
        four turns, and detects again only when the text runs up or down (it finds more where it reads);
        EasyOCR looks upright first and turns the sheet when nothing upright reads well.
        """
        if landscape is None and self.engine.rotation_tolerant:
            best = self._settle(self._detect(det, rec, 0), (0, 1, 2, 3), known)
            if best.frame.k % 2:
                best = self._settle(self._detect(det, rec, best.frame.k), (0,), known)
            return best
        frames = [3] if landscape else [0] if landscape is False else [0, 3]
        best = None
        for k in frames:
            detected = self._detect(det, rec, k)
            choice = self._settle(detected, (0, 2), known)
            if best is None or choice.score > best.score:
                best = choice
            # without a hint, an upright frame whose words mostly run vertically is worth a turn anyway
            if best.score >= CONFIDENT and not (landscape is None and k == 0 and mostly_vertical(detected.boxes)):
                break
        assert best is not None
        return best

    def _tokens(
        self, reads: list[Read], k: int, rec: np.ndarray, size: tuple[int, int], known: Collection[str]
    ) -> list[OcrToken]:
        """Numeral and FIG-label tokens with boxes turned back and scaled to the image as given."""
        width, height = size
        h, w = rec.shape
        sx, sy = width / w, height / h
        tokens = []
        for t in parse_reads(reads, self.min_conf, known):
            if t.kind == "word":
                continue
            x0, y0, x1, y1 = unrotate_box(t.box, k, w, h)
            box = Box(
                x0=max(0.0, x0 * sx),
                y0=max(0.0, y0 * sy),
                x1=min(float(width), x1 * sx),
                y1=min(float(height), y1 * sy),
            )
            tokens.append(OcrToken(text=t.text, box=box, conf=round(t.conf, 3), kind=t.kind))
        return tokens
