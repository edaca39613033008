"""What OCR read, as text: reference numerals, "FIG. n" labels and other words (engine-independent).

Recognised crops (`Read`, in the frame where their text runs left to right) become numeral, FIG-label
and word tokens; header lines ("Sheet 1 of 5", dates, publication numbers) are dropped. The score of
a reading settles a sheet's orientation.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Collection
from dataclasses import dataclass

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
class Read:
    """One recognised crop in the frame where its text runs left to right."""

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
class Token:
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


def _split_words(r: Read) -> list[tuple[str, tuple[float, float, float, float]]]:
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


def parse_reads(reads: list[Read], min_conf: float, known: Collection[str] = ()) -> list[Token]:
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
    tokens: list[Token] = []
    for r in reads:
        if r.conf < min_conf or not r.text.strip():
            continue
        if r.height > 1.5 * r.width and r.height > 2.5 * line_h:
            continue
        if any(_same_line(r.box, hb) for hb in header_boxes):
            continue
        fig = fig_number(r.text)
        if fig is not None:
            tokens.append(Token("fig_label", fig, r.conf, r.box))
            continue
        for word, box in _split_words(r):
            num = clean_numeral(word, known)
            if num is not None:
                tokens.append(Token("numeral", num, r.conf, box))
            elif word.strip(_STRIP):
                tokens.append(Token("word", word.strip(_STRIP), r.conf, box))
    tokens = _join_fig_words(tokens)
    tokens.sort(key=lambda t: (round(t.box[1] / max(line_h, 1.0)), t.box[0]))
    return tokens


def _join_fig_words(tokens: list[Token]) -> list[Token]:
    """Make "FIG." + "1A" read as separate crops into one fig_label token."""
    used: set[int] = set()
    out: list[Token] = []
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
            out.append(Token("fig_label", fig_number("FIG " + u.text) or "", min(t.conf, u.conf), box))
            used.update((i, best))
    out.extend(t for k, t in enumerate(tokens) if k not in used)
    return out


def orientation_score(tokens: list[Token], known: Collection[str] = ()) -> float:
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
