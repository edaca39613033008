"""A PDF page's text layer with its geometry: characters → line segments → columns → lines in reading order.

Characters become segments (same-line runs without a large gap), a page's column gutter is found from the
segments, margin and gutter line numbers are dropped, and lines are put in reading order (left column, then
right; lines running across both columns cut the page into bands) before any parsing.
"""

from __future__ import annotations

import ctypes
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw


@dataclass
class Line:
    """One line of text in reading order, with its box in PDF points (y grows upwards)."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    col_x0: float  # the column it stands in
    col_x1: float

    @property
    def height(self) -> float:
        return self.top - self.bottom


def geom(ln: Line) -> tuple[float, float, float, float, float, float]:
    """A line's box and column, to build a line with other text at the same place: ``Line(text, *geom(ln))``."""
    return ln.x0, ln.x1, ln.top, ln.bottom, ln.col_x0, ln.col_x1


def join_lines(lines: list[str]) -> str:
    """Lines joined into one paragraph: words hyphenated across a line break are joined again."""
    out = ""
    for t in lines:
        t = t.strip()
        if not t:
            continue
        if out.endswith("\u00ad"):
            out = out[:-1] + t
        elif out.endswith("-") and t[:1].islower() and not out.endswith(" -"):
            out += t
        else:
            out = f"{out} {t}" if out else t
    return re.sub(r"\s+", " ", out.replace("\u00ad", "")).strip()


@dataclass
class _Seg:
    """A run of characters on one line without a large gap; xs holds each character's (left, right)."""

    chars: list[str] = field(default_factory=list)
    xs: list[tuple[float, float]] = field(default_factory=list)
    x0: float = math.inf
    x1: float = -math.inf
    top: float = -math.inf
    bottom: float = math.inf
    h: float = 0.0

    @property
    def yc(self) -> float:
        return (self.top + self.bottom) / 2

    def add(self, ch: str, box: tuple[float, float, float, float] | None) -> None:
        self.chars.append(ch)
        if box is None:  # a space: no box of its own
            self.xs.append((self.x1, self.x1))
            return
        left, right, bottom, top = box
        self.xs.append((left, right))
        if left < self.x0:
            self.x0 = left
        if right > self.x1:
            self.x1 = right
        if top > self.top:
            self.top = top
        if bottom < self.bottom:
            self.bottom = bottom
        if top - bottom > self.h:
            self.h = top - bottom

    def part(self, lo: int, hi: int) -> _Seg:
        """The characters lo..hi-1 as a segment of their own."""
        seg = _Seg(top=self.top, bottom=self.bottom, h=self.h)
        for ch, (a, b) in zip(self.chars[lo:hi], self.xs[lo:hi], strict=True):
            seg.chars.append(ch)
            seg.xs.append((a, b))
            if ch != " ":
                seg.x0, seg.x1 = min(seg.x0, a), max(seg.x1, b)
        return seg

    @property
    def text(self) -> str:
        return "".join(self.chars)


# ------------------------------------------------------------------ characters → segments


def _page_text(textpage: pdfium.PdfTextPage) -> str:
    """Every character of the page, one string character per PDF character."""
    tp = textpage.raw
    n = pdfium_raw.FPDFText_CountChars(tp)
    text = textpage.get_text_range()
    if len(text) != n:  # surrogate pairs: fall back to one call per character
        text = "".join(
            chr(c) if 0 < (c := pdfium_raw.FPDFText_GetUnicode(tp, k)) < 0x110000 else "\n" for k in range(n)
        )
    return text


def _breaks_segment(cur: _Seg, box: tuple[float, float, float, float]) -> bool:
    """Whether a character with this box starts a new segment: another line, a step back or a large gap."""
    ref_h = max(box[3] - box[2], cur.h, 1.0)
    return (
        abs((box[2] + box[3]) / 2 - cur.yc) > 0.6 * ref_h
        or box[0] < cur.x1 - max(ref_h, 3.0)
        or box[0] - cur.x1 > max(1.5 * ref_h, 10.0)
    )


def _char_segments(textpage: pdfium.PdfTextPage) -> list[_Seg]:
    """Split the page's characters into same-line runs without large gaps."""
    tp = textpage.raw
    text = _page_text(textpage)
    segs: list[_Seg] = []
    cur: _Seg | None = None
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    refs = (ctypes.byref(left), ctypes.byref(right), ctypes.byref(bottom), ctypes.byref(top))
    get_box = pdfium_raw.FPDFText_GetCharBox
    for k, ch in enumerate(text):
        if ch in "\r\n":
            cur = None
            continue
        if ch.isspace():
            if cur is not None:
                cur.add(" ", None)
            continue
        get_box(tp, k, *refs)
        box = (left.value, right.value, bottom.value, top.value)
        if cur is not None and cur.x1 > -math.inf and _breaks_segment(cur, box):
            cur = None
        if cur is None:
            cur = _Seg()
            segs.append(cur)
        cur.add(ch, box)
    out = []
    for sg in segs:
        while sg.chars and sg.chars[-1] == " ":
            sg.chars.pop()
            sg.xs.pop()
        if sg.x1 > -math.inf and sg.text.strip():
            out.append(sg)
    return out


# ------------------------------------------------------------------ columns

_LINE_NO = re.compile(r"\d{1,3}")


def _is_line_number(s: _Seg, width: float, gutter: float | None) -> bool:
    """Line numbers ('5', '10', ... '55') in the margins or in the gutter between two columns."""
    if not _LINE_NO.fullmatch(s.text.strip()):
        return False
    xc = (s.x0 + s.x1) / 2
    near_gutter = gutter is not None and abs(xc - gutter) < 0.04 * width
    return xc < 0.14 * width or xc > 0.86 * width or near_gutter or abs(xc - width / 2) < 0.03 * width


def _rows(segs: list[_Seg]) -> list[list[_Seg]]:
    """Segments (line numbers left out) grouped into rows, top to bottom."""
    rows: list[list[_Seg]] = []
    for sg in sorted((sg for sg in segs if not _LINE_NO.fullmatch(sg.text.strip())), key=lambda sg: -sg.yc):
        if rows and abs(sg.yc - rows[-1][0].yc) <= 0.5 * max(sg.h, rows[-1][0].h, 1.0):
            rows[-1].append(sg)
        else:
            rows.append([sg])
    return rows


def _gap_counts(rows: list[list[_Seg]], xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate x: rows with text on both sides and no line across, and rows with a long segment across."""
    gapped = np.zeros(len(xs), dtype=int)
    crossed = np.zeros(len(xs), dtype=int)
    for row in rows:
        words = [sg for sg in row if len(sg.chars) >= 3]
        if not words:
            continue
        across = np.zeros(len(xs), dtype=bool)
        for sg in row:
            if len(sg.chars) >= 12:
                across |= (sg.x0 < xs - 1) & (sg.x1 > xs + 1)
        left = xs - 1 >= min(sg.x1 for sg in words)
        right = xs + 1 <= max(sg.x0 for sg in words)
        gapped += left & right & ~across
        crossed += across
    return gapped, crossed


def _find_gutter(segs: list[_Seg], width: float, strict: bool = False) -> float | None:
    """x of the gap between two text columns, or None for a one-column page.

    Lines are grouped into rows; the gutter is the x at which the most rows have text on both sides and
    nothing across. Titles, drawing labels and OCR lines that run across the gap only lower the count.
    ``strict`` (body pages, whose columns are justified) also wants most of those rows to reach close to
    the gap from both sides, so that aligned word gaps in one-column text are not taken for a gutter.
    """
    rows = _rows(segs)
    if len(rows) < 8:
        return None
    xs = np.arange(0.3 * width, 0.7 * width + 0.01, 2.0)
    gapped, crossed = _gap_counts(rows, xs)
    best = int(gapped.max())
    if best < 5 or best < 0.15 * len(rows):
        return None
    k = int(np.argmax(gapped))
    # one-column text with a few aligned word gaps: most lines run across the candidate
    if best < 0.6 * crossed[k]:
        return None
    scores = list(zip(gapped.tolist(), xs.tolist(), strict=True))
    tied = [x for n, x in scores if n == best]
    # the centre of the first run of best positions
    run = [tied[0]]
    for x in tied[1:]:
        if x - run[-1] > 2.5:
            break
        run.append(x)
    gutter = (run[0] + run[-1]) / 2
    if strict:
        # two justified columns: most rows are split, and the empty strip is several points wide
        wide = sum(1 for n, x in scores if abs(x - gutter) <= 10 and n >= 0.9 * best)
        if best < 0.4 * len(rows) or wide < 4:
            return None
    return gutter


def _split_at(sg: _Seg, gutter: float) -> list[_Seg]:
    """Split a segment that runs across the gutter at a gap there (OCR joins lines of both columns)."""
    if not (sg.x0 < gutter < sg.x1):
        return [sg]
    straddles = any(ch != " " and a < gutter - 0.5 < b - 1.0 for ch, (a, b) in zip(sg.chars, sg.xs, strict=True))
    if straddles:
        return [sg]  # a real full-width line (header, title)
    cut = next(
        (i for i, (ch, (a, b)) in enumerate(zip(sg.chars, sg.xs, strict=True)) if ch != " " and a + b >= 2 * gutter),
        None,
    )
    if not cut:
        return [sg]
    # only a wide gap is a gutter (a line number in it does not count); a word space means a full-width line
    left_end = max(
        (
            b
            for ch, (_, b) in zip(sg.chars[:cut], sg.xs[:cut], strict=True)
            if ch != " " and not (ch.isdigit() and abs(b - gutter) < 25)
        ),
        default=sg.x0,
    )
    right_start = min(
        (
            a
            for ch, (a, _) in zip(sg.chars[cut:], sg.xs[cut:], strict=True)
            if ch != " " and not (ch.isdigit() and abs(a - gutter) < 25)
        ),
        default=sg.x1,
    )
    if right_start - left_end < max(1.2 * sg.h, 8.0):
        return [sg]
    return [p for p in (sg.part(0, cut), sg.part(cut, len(sg.chars))) if p.text.strip()]


def _strip_gutter_numbers(sg: _Seg, gutter: float, width: float) -> _Seg:
    """Drop a line number glued to the start or end of a segment next to the gutter ('35 more dimensions')."""
    text = sg.text
    m = re.match(r"(\d{1,2})\s+(?![.,:)\]])", text)
    if m and int(m.group(1)) % 5 == 0 and abs(sg.xs[0][0] - gutter) < 0.05 * width:
        return sg.part(m.end(), len(sg.chars))
    m = re.search(r"\s+(\d{1,2})$", text)
    if m and int(m.group(1)) % 5 == 0 and abs(sg.xs[-1][1] - gutter) < 0.05 * width:
        return sg.part(0, m.start())
    return sg


# ------------------------------------------------------------------ lines in reading order


def _merge_lines(segs: list[_Seg], col_x0: float, col_x1: float) -> list[Line]:
    """Group a column's segments into lines (top to bottom, left to right)."""
    segs = sorted(segs, key=lambda s: (-s.yc, s.x0))
    groups: list[list[_Seg]] = []
    for sg in segs:
        if groups and abs(sg.yc - groups[-1][0].yc) <= 0.5 * max(groups[-1][0].h, sg.h, 1.0):
            groups[-1].append(sg)
        else:
            groups.append([sg])
    lines = []
    for g in groups:
        g.sort(key=lambda s: s.x0)
        parts = []
        for i, sg in enumerate(g):
            if i and sg.x0 - g[i - 1].x1 > 0.15 * max(sg.h, 1.0):
                parts.append(" ")
            parts.append(sg.text)
        text = re.sub(r"\s+", " ", "".join(parts)).strip()
        lines.append(
            Line(
                text=text,
                x0=min(sg.x0 for sg in g),
                x1=max(sg.x1 for sg in g),
                top=max(sg.top for sg in g),
                bottom=min(sg.bottom for sg in g),
                col_x0=col_x0,
                col_x1=col_x1,
            )
        )
    return lines


def _drop_line_numbers(segs: list[_Seg], width: float, gutter: float | None) -> tuple[list[_Seg], int]:
    """The segments without line numbers, and how many margin line numbers (5, 10 ... 65) there were."""
    numbers = [sg for sg in segs if _is_line_number(sg, width, gutter)]
    # a number followed on its line by ". A method" is a claim or paragraph number, not a line number
    keep = {
        id(m)
        for m in numbers
        for sg in segs
        if sg is not m
        and abs(sg.yc - m.yc) < 0.5 * max(sg.h, m.h, 1.0)
        and m.x1 <= sg.x0 <= m.x1 + 3 * max(m.h, 4.0)
        and sg.text.lstrip()[:1] in ".):,"
    }
    dropped = {id(m) for m in numbers if id(m) not in keep}
    values = {int(m.text) for m in numbers if id(m) in dropped}
    line_numbers = sum(1 for v in values if v % 5 == 0 and 5 <= v <= 65)
    return [sg for sg in segs if id(sg) not in dropped], line_numbers


def page_lines(textpage: pdfium.PdfTextPage, width: float, strict: bool = False) -> tuple[list[Line], int]:
    """The page's text lines in reading order, line numbers removed, and how many line numbers there were."""
    segs = _char_segments(textpage)
    gutter = _find_gutter(segs, width, strict)
    if gutter is not None:
        segs = [_strip_gutter_numbers(p, gutter, width) for sg in segs for p in _split_at(sg, gutter)]
        segs = [sg for sg in segs if sg.text.strip()]
    body, line_numbers = _drop_line_numbers(segs, width, gutter)
    return _layout(body, width, gutter), line_numbers


def _attach_to_spans(spans: list[_Seg], cols: list[_Seg]) -> tuple[list[list[_Seg]], set[int]]:
    """Each full-width segment with the column segments on its line ("(54)" + title), and the ids taken."""
    on_span: set[int] = set()
    span_lines: list[list[_Seg]] = []
    for cut in spans:
        group = [cut]
        for sg in cols:
            if id(sg) not in on_span and abs(sg.yc - cut.yc) <= 0.5 * max(sg.h, cut.h, 1.0):
                group.append(sg)
                on_span.add(id(sg))
        span_lines.append(group)
    return span_lines, on_span


def _layout(segs: list[_Seg], width: float, gutter: float | None) -> list[Line]:
    """Lines in reading order: left column then right, band by band between lines that run across both."""
    if not segs:
        return []
    if gutter is None:
        return _merge_lines(segs, min(sg.x0 for sg in segs), max(sg.x1 for sg in segs))
    spans = sorted((sg for sg in segs if sg.x0 < gutter - 1 and sg.x1 > gutter + 1), key=lambda sg: -sg.yc)
    span_ids = {id(sg) for sg in spans}
    lefts = [sg for sg in segs if id(sg) not in span_ids and (sg.x0 + sg.x1) / 2 < gutter]
    rights = [sg for sg in segs if id(sg) not in span_ids and (sg.x0 + sg.x1) / 2 >= gutter]
    lx0 = min((sg.x0 for sg in lefts), default=0.0)
    rx1 = max((sg.x1 for sg in rights), default=width)
    span_lines, on_span = _attach_to_spans(spans, lefts + rights)
    lefts = [sg for sg in lefts if id(sg) not in on_span]
    rights = [sg for sg in rights if id(sg) not in on_span]
    out: list[Line] = []
    upper = math.inf
    for cut, group in [*zip(spans, span_lines, strict=True), (None, [])]:
        lower = cut.yc if cut is not None else -math.inf
        out += _merge_lines([sg for sg in lefts if lower < sg.yc <= upper], lx0, gutter)
        out += _merge_lines([sg for sg in rights if lower < sg.yc <= upper], gutter, rx1)
        if group:
            out += _merge_lines(group, lx0, rx1)
        upper = lower
    return out
