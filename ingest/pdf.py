"""Patent publication PDFs (US, EP, WO): bibliographic data, text, figures, reference signs and drawing pages.

PDF library: pypdfium2 (Apache-2.0 / BSD-3-Clause, Google's PDFium): fast rendering and per-character boxes
under a permissive licence; PyMuPDF is AGPL-3.0, which would bind patfig's own licence, so it is not used.

The text layer is read with its geometry: characters become line segments, a page's column gutter is found
from the segments, and lines are put in reading order (left column, then right) before any parsing. Scanned
US and WO publications carry a noisy OCR layer, so every pattern below tolerates spacing and OCR slips.
"""

from __future__ import annotations

import ctypes
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import ReadError
from core.patnum import normalize_number
from core.types import FigureDesc, Paragraph, Patent, SheetSource
from ingest import refsigns
from ingest.base import PDF_DPI, Document
from ingest.figures import _START as FIG_SENTENCE_START
from ingest.figures import parse_figure_descriptions


def _pdfium():  # noqa: ANN202
    try:
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_raw
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise ImportError("reading PDFs needs pypdfium2: pip install pypdfium2") from e
    return pdfium, pdfium_raw


# ------------------------------------------------------------------ layout


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


def _char_segments(textpage, raw) -> list[_Seg]:  # noqa: ANN001
    """Split the page's characters into same-line runs without large gaps."""
    tp = textpage.raw
    n = raw.FPDFText_CountChars(tp)
    text = textpage.get_text_range()
    if len(text) != n:  # surrogate pairs: fall back to one call per character
        text = "".join(chr(c) if 0 < (c := raw.FPDFText_GetUnicode(tp, k)) < 0x110000 else "\n" for k in range(n))
    segs: list[_Seg] = []
    cur: _Seg | None = None
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    refs = (ctypes.byref(left), ctypes.byref(right), ctypes.byref(bottom), ctypes.byref(top))
    get_box = raw.FPDFText_GetCharBox
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
        if cur is not None and cur.x1 > -math.inf:
            ref_h = max(box[3] - box[2], cur.h, 1.0)
            if (
                abs((box[2] + box[3]) / 2 - cur.yc) > 0.6 * ref_h
                or box[0] < cur.x1 - max(ref_h, 3.0)
                or box[0] - cur.x1 > max(1.5 * ref_h, 10.0)
            ):
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


_LINE_NO = re.compile(r"\d{1,3}")


def _is_line_number(s: _Seg, width: float, gutter: float | None) -> bool:
    """Line numbers ('5', '10', ... '55') in the margins or in the gutter between two columns."""
    if not _LINE_NO.fullmatch(s.text.strip()):
        return False
    xc = (s.x0 + s.x1) / 2
    near_gutter = gutter is not None and abs(xc - gutter) < 0.04 * width
    return xc < 0.14 * width or xc > 0.86 * width or near_gutter or abs(xc - width / 2) < 0.03 * width


def _find_gutter(segs: list[_Seg], width: float, strict: bool = False) -> float | None:
    """x of the gap between two text columns, or None for a one-column page.

    Lines are grouped into rows; the gutter is the x at which the most rows have text on both sides and
    nothing across. Titles, drawing labels and OCR lines that run across the gap only lower the count.
    ``strict`` (body pages, whose columns are justified) also wants most of those rows to reach close to
    the gap from both sides, so that aligned word gaps in one-column text are not taken for a gutter.
    """
    rows: list[list[_Seg]] = []
    for sg in sorted((sg for sg in segs if not _LINE_NO.fullmatch(sg.text.strip())), key=lambda sg: -sg.yc):
        if rows and abs(sg.yc - rows[-1][0].yc) <= 0.5 * max(sg.h, rows[-1][0].h, 1.0):
            rows[-1].append(sg)
        else:
            rows.append([sg])
    if len(rows) < 8:
        return None
    xs = np.arange(0.3 * width, 0.7 * width + 0.01, 2.0)
    gapped = np.zeros(len(xs), dtype=int)  # rows with text on both sides and no line across
    crossed = np.zeros(len(xs), dtype=int)  # rows with a long segment across
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


def page_lines(textpage, raw, width: float, height: float, strict: bool = False) -> tuple[list[Line], int]:  # noqa: ANN001
    """The page's text lines in reading order, line numbers removed, and how many line numbers there were."""
    segs = _char_segments(textpage, raw)
    gutter = _find_gutter(segs, width, strict)
    if gutter is not None:
        segs = [_strip_gutter_numbers(p, gutter, width) for sg in segs for p in _split_at(sg, gutter)]
        segs = [sg for sg in segs if sg.text.strip()]
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
    body = [sg for sg in segs if id(sg) not in dropped]
    return _layout(body, width, gutter), line_numbers


def _layout(segs: list[_Seg], width: float, gutter: float | None) -> list[Line]:
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
    # column segments on the same line as a full-width segment belong to that line ("(54)" + title)
    on_span: set[int] = set()
    span_lines: list[list[_Seg]] = []
    for cut in spans:
        group = [cut]
        for sg in lefts + rights:
            if id(sg) not in on_span and abs(sg.yc - cut.yc) <= 0.5 * max(sg.h, cut.h, 1.0):
                group.append(sg)
                on_span.add(id(sg))
        span_lines.append(group)
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


# ------------------------------------------------------------------ pages


@dataclass
class PageInfo:
    """What the reader knows about one page."""

    index: int
    width: float
    height: float
    lines: list[Line]  # body lines (header and footer dropped)
    text: str  # every line, header and footer included
    letters: int  # letters in the body lines
    image_cover: float  # fraction of the page covered by image objects
    paths: int  # vector path objects
    line_numbers: int  # margin line numbers 5, 10, ... 55 (EP text pages have them, drawing pages do not)
    full_scans: int = 0  # images that are a whole scanned A4 sheet shrunk onto the page (attached reports)
    kind: str = "text"  # "front", "text", "drawing", "search"


_SEARCH_REPORT = re.compile(
    r"EUROPEAN SEARCH REPORT|INTERNATIONAL SEARCH REPORT|ANNEX TO THE (?:EUROPEAN|INTERNATIONAL) SEARCH"
    r"|PCT/ISA/2[12]0|PARTIAL EUROPEAN SEARCH|EPO FORM 1503|REFERENCES CITED IN THE DESCRIPTION"
    r"|ОТЧЕТ О МЕЖДУНАРОДНОМ ПОИСКЕ|INFORMATION ON PATENT FAMILY MEMBERS|CLASSIFICATION OF SUBJECT MATTER"
    r"|FIELDS SEARCHED|DOCUMENTS CONSIDERED TO BE RELEVANT|Form PCT/ISA"
)
_FRONT_MORE = re.compile(
    r"\(\s*84\s*\)\s*Designated|Published:|Declarations under Rule|References Cited|FOREIGN PATENT DOCUMENTS"
    r"|OTHER PUBLICATIONS|Опубликована|\(\s*56\s*\)"
)
_NEXT_PAGE = re.compile(r"Cont(?:inued|\.)? (?:on )?next page|продолжение на следующей", re.I)
_SHEET_MARK = re.compile(r"Sh[ec]{2}t\s*(\d{1,3})\s*o[fr]\s*(\d{1,3})", re.I)
_PARA_MARK = re.compile(r"\[\s*\d{3,5}\s*\]")


def _is_full_page_scan(px_w: int, px_h: int, shown_w: float) -> bool:
    """An A4 sheet scanned whole at ~300 dpi and shrunk into a page frame: how EP publications attach the
    international search report. Drawing sheets are cropped to the drawing, so they are smaller."""
    if px_w < 2050 or px_h < 3150 or shown_w <= 0:
        return False
    return 1.3 <= px_h / px_w <= 1.6 and px_w / (shown_w / 72.0) > 330


def _clean_ocr(text: str) -> str:
    """Undo OCR spacing: '( 54 )' -> '(54)', 'FIG . 1' -> 'FIG. 1', 'magnetic - resonance' -> 'magnetic-resonance'."""
    text = text.replace("\ufffe", "\u00ad").replace("\x02", "\u00ad")
    text = re.sub(r"(\d) , (\d{3})\b", r"\1,\2", text)
    text = re.sub(r"\s+([,.;:)\]])", r"\1", text)
    text = re.sub(r"([(\[])\s+", r"\1", text)
    text = re.sub(r"(\w) - (\w)", r"\1-\2", text)
    text = re.sub(r"(\d) / (\d)", r"\1/\2", text)
    text = re.sub(r"\b(FIGS?\.?|Figs?\.)\s*[Il](?=[\s.,;:])", r"\g<1> 1", text)
    return text


def _page_objects(page, raw, width: float, height: float) -> tuple[float, int, int]:  # noqa: ANN001
    """(share of the page covered by images, number of vector paths, number of whole-sheet scans)."""
    cover, paths, full_scans = 0.0, 0, 0
    x0, y0, x1, y1 = (ctypes.c_float() for _ in range(4))
    px_w, px_h = ctypes.c_uint(), ctypes.c_uint()
    for k in range(raw.FPDFPage_CountObjects(page)):  # top-level objects, read through the raw API: fast
        obj = raw.FPDFPage_GetObject(page, k)
        kind = raw.FPDFPageObj_GetType(obj)
        if kind == raw.FPDF_PAGEOBJ_PATH:
            paths += 1
        elif kind == raw.FPDF_PAGEOBJ_IMAGE and raw.FPDFPageObj_GetBounds(
            obj, ctypes.byref(x0), ctypes.byref(y0), ctypes.byref(x1), ctypes.byref(y1)
        ):
            w = max(0.0, min(x1.value, width) - max(x0.value, 0.0))
            h = max(0.0, min(y1.value, height) - max(y0.value, 0.0))
            cover += w * h / (width * height)
            if raw.FPDFImageObj_GetImagePixelSize(obj, ctypes.byref(px_w), ctypes.byref(px_h)):
                full_scans += _is_full_page_scan(px_w.value, px_h.value, w)
    return min(cover, 1.0), paths, full_scans


def _analyse_page(doc, raw, i: int) -> PageInfo:  # noqa: ANN001
    page = doc[i]
    try:
        width, height = page.get_size()
        tp = page.get_textpage()
        try:
            lines, line_numbers = page_lines(tp, raw, width, height, strict=i >= 3)
        finally:
            tp.close()
        cover, paths, full_scans = _page_objects(page.raw, raw, width, height)
    finally:
        page.close()
    for ln in lines:
        ln.text = _clean_ocr(ln.text)
    text = "\n".join(ln.text for ln in lines)
    body = [
        ln
        for ln in lines
        if not (
            (ln.bottom > 0.925 * height or ln.top < 0.05 * height)
            and len(ln.text) < 90
            and not _PARA_MARK.match(ln.text)
        )
        and not re.fullmatch(r"[\d\s\-–]{1,8}", ln.text)
    ]
    letters = sum(ch.isalpha() for ln in body for ch in ln.text)
    return PageInfo(i, width, height, body, text, letters, cover, paths, line_numbers, full_scans)


def classify_pages(pages: list[PageInfo], office: str) -> None:
    """Mark each page as front, search (search report), drawing or text."""
    for p in pages:
        if _SEARCH_REPORT.search(p.text):
            p.kind = "search"
    pages[0].kind = "front"
    for i in range(1, min(4, len(pages))):
        prev = pages[i - 1]
        if prev.kind != "front":
            break
        if _NEXT_PAGE.search(prev.text) or (_FRONT_MORE.search(pages[i].text) and not _PARA_MARK.search(pages[i].text)):
            pages[i].kind = "front"
    marked = [p for p in pages if p.kind == "text" and _SHEET_MARK.search(p.text)]
    if office == "US" and marked:
        first, last = marked[0].index, marked[-1].index
        total = max(int(m.group(2)) for p in marked for m in _SHEET_MARK.finditer(p.text))
        last = max(last, min(first + total - 1, len(pages) - 1))
        for p in pages[first : last + 1]:
            if p.kind == "text" and (p in marked or p.letters < 2500):
                p.kind = "drawing"
        return
    for p in pages:
        if p.kind != "text" or p.line_numbers >= 4 or _PARA_MARK.search(p.text):
            continue
        if p.letters <= 150 and (p.image_cover >= 0.05 or p.paths >= 15):
            p.kind = "drawing"
        elif p.letters <= 600 and p.image_cover >= 0.5 and re.search(r"\bF[Il1]G", p.text, re.I):
            p.kind = "drawing"
    # a scanned search report at the end of the document looks like a drawing page to the text layer
    tail = len(pages)
    while tail > 0 and pages[tail - 1].kind in ("drawing", "search"):
        tail -= 1
    in_report = False
    for p in pages[tail:]:
        in_report = in_report or p.kind == "search" or p.full_scans > 0
        if in_report:
            p.kind = "search"


# ------------------------------------------------------------------ front page (INID codes)

_INID = re.compile(r"(?:^|(?<=\s))\((\d{2})\)|^\(\*\)")
_CYR = str.maketrans("АВСЕНКМОРТХУаеорсухІ", "ABCEHKMOPTXYaeopcyxI")
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            "jan january janvier januar января",
            "feb february fevrier februar февраля",
            "mar march mars marz марта",
            "apr april avril апреля",
            "may mai мая",
            "jun june juin juni июня",
            "jul july juillet juli июля",
            "aug august aout августа",
            "sep sept september septembre сентября",
            "oct october octobre oktober октября",
            "nov november novembre ноября",
            "dec december decembre dezember декабря",
        ]
    )
    for m in names.split()
}


def inid_sections(lines: list[Line]) -> dict[str, list[list[Line]]]:
    """Front-page lines grouped by the INID code that starts them: {'54': [[lines...]], ...}."""
    out: dict[str, list[list[Line]]] = {}
    cur: list[Line] | None = None
    for ln in lines:
        m = _INID.search(ln.text)
        if m and m.start() < 4:
            code = m.group(1) or "*"
            rest = ln.text[m.end() :].strip()
            cur = [Line(rest, ln.x0, ln.x1, ln.top, ln.bottom, ln.col_x0, ln.col_x1)]
            out.setdefault(code, []).append(cur)
            # a second INID code later on the same line (jumbled columns) starts its own section
            m2 = _INID.search(rest, 2)
            if m2 and m2.group(1):
                cur[0].text = rest[: m2.start()].strip()
                cur = [Line(rest[m2.end() :].strip(), ln.x0, ln.x1, ln.top, ln.bottom, ln.col_x0, ln.col_x1)]
                out.setdefault(m2.group(1), []).append(cur)
        elif cur is not None:
            cur.append(ln)
    return out


def _joined(sec: list[Line] | None) -> str:
    return " ".join(ln.text for ln in sec or []).strip()


def parse_date(text: str) -> int | None:
    """The first date in text as yyyymmdd: '21.09.2005', 'Sep. 15, 2016', '21 November 2013'."""
    m = re.search(r"\b(\d{1,2})\.\s?(\d{1,2})\.\s?((?:19|20)\d\d)\b", text)
    if m:
        return _ymd(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    m = re.search(r"\b([A-Za-zА-Яа-я]{3,9})\.?\s*(\d{1,2})\s*,\s*((?:19|20)\d\d)\b", text)
    if m and m.group(1).lower() in _MONTHS:
        return _ymd(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
    m = re.search(r"\b(\d{1,2})\s+([A-Za-zА-Яа-я]{3,9})\.?\s+((?:19|20)\d\d)\b", text)
    if m and m.group(2).lower() in _MONTHS:
        return _ymd(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
    return None


def _date_after(text: str, label: str) -> int | None:
    """The first date within 150 characters after a label such as 'Publication Date'."""
    for m in re.finditer(label, text, re.I):
        d = parse_date(text[m.end() : m.end() + 150])
        if d:
            return d
    return None


def _ymd(y: int, m: int, d: int) -> int | None:
    return y * 10000 + m * 100 + d if 1 <= m <= 12 and 1 <= d <= 31 else None


def _ocr_digits(s: str) -> str:
    return s.translate(str.maketrans("OoIl|", "00111"))


_PUB_PATTERNS = [
    ("EP", re.compile(r"\bEP\s*(\d)\s*(\d{3})\s*(\d{3})\s*([AB])\s*(\d)")),
    ("WO", re.compile(r"\bW\s?O\s*((?:19|20)\d\d)\s*/\s*([0-9OIl ]{6,8})\s*([AB])\s*([0-9lI]?)")),
    ("US", re.compile(r"\bUS\s*((?:19|20)\d\d)\s*/\s*(\d{7})\s*(A\d)")),
    ("US", re.compile(r"\bUS\s*(\d{1,2}),\s*(\d{3}),\s*(\d{3})\s*(B\d|E|S|P\d)\b")),
    ("US", re.compile(r"\bUS\s*0*(\d{7,11})\s*([AB]\d)\b")),
]
_FILENAME = re.compile(r"^([A-Z]{2})(\d{4,12})([A-Z]\d?)?$")


def _publication(front_text: str, sections: dict[str, list[list[Line]]], stem: str) -> tuple[str, str, str]:
    """(office, number, kind) from the front page, the filename as fallback."""
    text = front_text.translate(_CYR)
    preferred = " ".join(_joined(s) for code in ("11", "10") for s in sections.get(code, []))
    for scope in (preferred.translate(_CYR), text):
        for office, rx in _PUB_PATTERNS:
            m = rx.search(scope)
            if not m:
                continue
            g = m.groups()
            if office == "EP":
                return "EP", "".join(g[:3]), g[3] + g[4]
            if office == "WO":
                return "WO", g[0] + re.sub(r"\s", "", _ocr_digits(g[1]))[-6:], g[2] + _ocr_digits(g[3] or "")
            if len(g) == 3:
                return "US", g[0] + g[1], g[2]
            if len(g) == 4:
                return "US", g[0] + g[1] + g[2], g[3]
            return "US", g[0], g[1]
    m = _FILENAME.match(stem.upper())
    if m:
        return m.group(1), m.group(2), m.group(3) or ""
    return "", "", ""


_CLASS = re.compile(r"\b([A-H])\s?([0-9OIl]{2})\s?([A-Z])\s?([0-9OIl]{1,4})\s?/\s?([0-9OIl]{1,6})\b")


def classification_codes(text: str) -> list[str]:
    """IPC/CPC symbols in OCR text: 'GOIR 33 / 48' -> 'G01R33/48'."""
    out: list[str] = []
    for m in _CLASS.finditer(text):
        sec, cls, sub, grp, sg = m.groups()
        if re.fullmatch(r"\d{4}", grp + sg[:0]) and grp.startswith(("19", "20")) and len(sg) == 2:
            continue  # a version stamp like (2006.01) is not a symbol
        code = f"{sec}{_ocr_digits(cls)}{sub}{_ocr_digits(grp).lstrip('0') or '0'}/{_ocr_digits(sg)}"
        if code not in out:
            out.append(code)
    return out


_COMPANY = re.compile(
    r"^(?:Inc|LLC|L\.L\.C|Ltd|Limited|Corp|Corporation|Co|GmbH|AG|SA|S\.A|SE|NV|N\.V|BV|B\.V|KG|"
    r"PLC|AB|Oy|A/S|ApS|S\.p\.A|SpA|LP|L\.P|KK|K\.K)\b\.?",
    re.I,
)


def _names(text: str, style: str) -> list[str]:
    """Applicant/assignee names from an INID (71)/(73) text."""
    text = re.sub(
        r"^(?:Applicants?|Assignees?|Proprietors?|Inventors?|Заявител\w*)\s*(?:\([^)]*\))?\s*[:;]?\s*",
        "",
        text.strip(),
        flags=re.I,
    )
    names: list[str] = []
    if style == "WO":
        for m in re.finditer(r"([^;\[\]]+?)\s*\[\s*[A-Z]{2}\s*/\s*[A-Z]{2}\s*\]", text.translate(_CYR)):
            name = re.split(r"\([A-Z]{2}\)\.?\s*", m.group(1))[-1]
            name = re.sub(r"^(?:Applicants?|and|;)\s*:?\s*", "", name.strip(" .;:,"), flags=re.I)
            if name:
                names.append(name)
        return names
    for chunk in re.split(r"\(\s*[A-Z]{2}\s*\)\s*[;:,.]?", text):
        parts = [p.strip() for p in chunk.split(",") if p.strip()]
        if not parts:
            continue
        name = parts[0]
        if len(parts) > 1 and _COMPANY.match(parts[1]):
            name = f"{name}, {parts[1]}"
        name = name.strip(" .;:•")
        if len(name) > 2 and not re.search(r"\d", name):
            names.append(name)
    return names


def _ep_names(sec: list[Line]) -> list[str]:
    """EP (71)/(73): bullet-separated entries of name lines followed by address lines."""
    entries: list[list[str]] = [[]]
    for ln in sec:
        t = ln.text.strip()
        if not t:
            continue
        if t.startswith("•") or t.startswith("·"):
            entries.append([t.lstrip("•· ")])
        else:
            entries[-1].append(t)
    names = []
    for e in entries:
        lines = [re.sub(r"^(?:Applicants?|Proprietors?)\s*:\s*", "", x) for x in e]
        name_lines: list[str] = []
        for x in lines:
            if not x:
                continue
            if re.search(r"\d|\([A-Z]{2}\)|c/o", x) and name_lines:
                break
            name_lines.append(x)
        name = " ".join(name_lines).strip(" ,")
        name = re.split(r"\s+\d|\s*\([A-Z]{2}\)", name)[0].strip(" ,")
        if len(name) > 2:
            names.append(name)
    return names


_NON_EN_TITLE = re.compile(
    r"[äöüßéèàçêâ]|\b(?:UND|FÜR|VERFAHREN|ZUR|ZUM|DER|DIE|DAS|POUR|PROCÉDÉ|PROCEDE|ET|DE|DU|DES|"
    r"LA|LE|LES|AVEC|MIT|EIN|EINE|EINES)\b",
    re.I,
)


def _title(sections: dict[str, list[list[Line]]], office: str) -> str:
    candidates = sections.get("54", [])
    for sec in candidates:
        first = sec[0].text if sec else ""
        if re.match(r"Title\s*:", first, re.I) or len(candidates) == 1 or office != "WO":
            kept_lines = [sec[0]]
            caps = _upper_share(sec[0].text) > 0.8
            for ln in sec[1:]:
                gap = kept_lines[-1].bottom - ln.top
                if gap > 1.5 * max(ln.height, 1.0) or re.match(r"FIG", ln.text, re.I) or _INID.match(ln.text):
                    break
                if caps and _upper_share(ln.text) < 0.8:  # an upper-case title goes on in upper case
                    break
                kept_lines.append(ln)
            lines = [ln.text for ln in kept_lines if ln.text.strip()]
            if lines:
                lines[0] = re.sub(r"^Title\s*:\s*", "", lines[0], flags=re.I)
            if office == "EP" and len(lines) > 1:  # EP B: English, German and French titles follow each other
                kept = [lines[0]]
                for ln in lines[1:]:
                    if _NON_EN_TITLE.search(ln) and not _NON_EN_TITLE.search(lines[0]):
                        break
                    kept.append(ln)
                lines = kept
            return re.sub(r"\s+", " ", " ".join(lines)).strip(" .")
    return ""


def _upper_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def _abstract(sections: dict[str, list[list[Line]]]) -> str:
    """The (57) abstract: one paragraph, stopping where lines turn short (drawing labels follow)."""
    secs = sections.get("57", [])
    sec = [ln for ln in secs[0] if ln.text.strip()] if secs else []
    if not sec:
        return ""
    sec[0] = Line(re.sub(r"^(?:ABSTRACT|Abstract)\s*:?\s*", "", sec[0].text), *_geom(sec[0]))
    widths = [ln.x1 - ln.x0 for ln in sec if len(ln.text) > 20]
    full = statistics.median(widths) if widths else 0.0
    out: list[str] = []
    for i, ln in enumerate(sec):
        t = ln.text.strip()
        if not t:
            continue
        if re.match(r"\(\s*Continued\s*\)|FIG\.?\s*\d+$|\[Continued", t, re.I):
            break
        out.append(t)
        if i and ln.x1 - ln.x0 < 0.6 * full and t.endswith((".", ")")):
            break
    return _join_lines(out)


def _abstract_without_code(lines: list[Line]) -> str:
    """US front pages whose OCR lost '(57) ABSTRACT': the paragraph right above 'N Claims, M Drawing Sheets'."""
    for i, ln in enumerate(lines):
        if re.search(r"\d+\s*Claims?,\s*\d+\s*Drawing", ln.text):
            col_w = max(ln.col_x1 - ln.col_x0, 1.0)
            out: list[str] = []
            for prev in reversed(lines[:i]):
                t = prev.text.strip()
                if len(t) <= 2:
                    continue
                if prev.col_x0 != ln.col_x0 or _INID.match(t) or re.match(r"(?:Primary|Assistant) Examiner|\d+\)", t):
                    break
                if out and prev.x1 - prev.x0 < 0.6 * col_w:
                    break
                out.append(t)
            return _join_lines(list(reversed(out)))
    return ""


def _geom(ln: Line) -> tuple[float, float, float, float, float, float]:
    return ln.x0, ln.x1, ln.top, ln.bottom, ln.col_x0, ln.col_x1


def _priority(sections: dict[str, list[list[Line]]], office: str) -> list[str]:
    """Application and priority numbers (own application, priorities, provisionals, PCT) normalised."""
    out: list[str] = []

    def add(country: str, number: str) -> None:
        number = number.strip(" .,;:")
        if len(re.sub(r"\D", "", number)) >= 5:
            out.append(normalize_number(country, number))

    def text_of(code: str) -> str:
        return " ".join(_joined(s) for s in sections.get(code, [])).translate(_CYR)

    pct_rx = re.compile(r"PCT\s*/\s*([A-Z]{2})\s*([0-9OIl ]{4})\s*/\s*([0-9OIl ]{5,8})")
    t21 = text_of("21")
    m = pct_rx.search(t21)
    if m:
        out.append(
            "PCT" + m.group(1) + _ocr_digits(m.group(2).replace(" ", "")) + _ocr_digits(m.group(3).replace(" ", ""))
        )
    else:
        m = re.search(r"(\d{2}[\d/,. ]{4,14}\d)", _ocr_digits(t21))
        if m and office in ("US", "EP"):
            add(office, m.group(1))
    for code in ("86", "22"):
        m = pct_rx.search(text_of(code))
        if m:
            out.append(
                "PCT" + m.group(1) + _ocr_digits(m.group(2).replace(" ", "")) + _ocr_digits(m.group(3).replace(" ", ""))
            )
    t30 = text_of("30")
    for m in re.finditer(r"\d{1,2}\.\d{1,2}\.\d{4}\s+([A-Z]{2})\s+([0-9A-Z][0-9A-Z/.,\- ]{3,20}?\d)(?=\s|$)", t30):
        add(m.group(1), _ocr_digits(m.group(2)))  # EP: 24.12.2002 JP 2002371942
    if not out[1:] or office == "WO":
        for m in re.finditer(
            r"([0-9][0-9OIl/,.\- ]{4,18}[0-9OIl])\s+\d{1,2}\s+\S+\s+\d{4}\s*\([\d. ]+\)\s*([A-Z]{2})?", t30
        ):  # WO: 13/475,396 18 May 2012 (18.05.2012) US -- the office may be lost to OCR
            number = _ocr_digits(m.group(1))
            office_ = m.group(2) or ("US" if re.fullmatch(r"\d{2}/\d{3},\d{3}", number.replace(" ", "")) else "")
            if office_:
                add(office_, number)
        for m in re.finditer(r"\(\s*([A-Z]{2})\s*\)\s*[.\s…]*([0-9][0-9OIl/,. ]{4,16}[0-9OIl])", t30):
            add(m.group(1), _ocr_digits(m.group(2)))  # US: Jul. 15, 2013 (EA) ...... 2013O1064
    for code in ("60", "63", "62"):
        for m in re.finditer(
            r"(?:application|appl\.?)\s*No\.?\s*:?\s*((?:PCT/)?[0-9OIl][0-9OIl/,. ]{4,14}[0-9OIl])", text_of(code), re.I
        ):
            num = m.group(1)
            if num.startswith("PCT"):
                add("WO", num)
            else:
                add("US", _ocr_digits(num))
    seen: set[str] = set()
    return [n for n in out if not (n in seen or seen.add(n))]


# ------------------------------------------------------------------ body text

_HEADING_WORDS = re.compile(
    r"^(?:Description|Claims|Technical Field|Field(?: of the (?:Invention|Disclosure))?|Background(?: Art)?"
    r"|Background of the (?:Invention|Disclosure)|Summary(?: of the (?:Invention|Disclosure))?"
    r"|Disclosure of (?:the )?Invention|Brief Description of (?:the )?(?:Drawings?|Figures?)"
    r"|(?:Detailed )?Description of (?:the )?(?:Preferred )?Embodiments?|Detailed Description.*|Best Mode.*"
    r"|Mode for Carrying Out.*|Modes? for Carrying Out.*|Examples?|Industrial Applicability|Technical Problem"
    r"|Solution to Problem|Advantageous Effects?.*|Reference Signs? List|List of Reference (?:Signs|Numerals)"
    r"|Citation List|Patent Literature|Non[- ]Patent Literature|Prior Art|Problems? to be Solved.*"
    r"|Means for Solving.*|Effects? of the Invention|Embodiments?)\s*:?$",
    re.I,
)
_CLAIMS_START = re.compile(
    r"(?:^|(?<=[\s.]))(?i:What (?:is|are) claimed\b[^:.]{0,90}?\bis|The invention claimed is"
    r"|What I claim is|I claim|We claim|Claimed is)\s*:|(?:^|(?<=[\s.]))(?i:What is claimed is)\b"
    r"|^(?:CLAIMS?|Claims?|Patent claims|ФОРМУЛА(?: ИЗОБРЕТЕНИЯ)?|Формула изобретения)\s*:?\s*$"
)
_CLAIMS_END = re.compile(
    r"^(?:Patentansprüche|Revendications|Amended claims.*|ABSTRACT|Abstract|REFERENCES CITED IN THE DESCRIPTION"
    r"|РЕФЕРАТ|Реферат)\s*:?\s*$|^\*\s*\*\s*\*"
)
# paragraph numbers: "[0012]", OCR'd "[ 0012 ]", "00 12]" (lost bracket), "(001.3]", old US style "0012." / "0012"
_PARA_START = re.compile(
    r"^(?:[\[(|{]\s*(?P<b>\d[0-9OIl .]{1,6})|(?P<h>\d[\d ]{1,6}\d))\s*[\])}|]\s*"
    r"|^(?P<u>\d{4})[.)]?\s+(?=[A-Z(“\"])"
)
_DRAWINGS_HEADING = re.compile(
    r"DESCRIPTION OF (?:THE )?(?:\w+ )?(?:DRAWINGS?|FIGURES?)|EXPLANATION OF (?:THE )?DRAWINGS?"
    r"|DESCRIPTION OF DRAWINGS|ОПИСАНИЕ ЧЕРТЕЖЕЙ|ПЕРЕЧЕНЬ ФИГУР",
    re.I,
)


def _is_heading(t: str) -> bool:
    t = t.strip()
    if not 3 <= len(t) <= 90 or _PARA_START.match(t) or t.endswith((",", ";")):
        return False
    if _HEADING_WORDS.match(t):
        return True
    letters = [c for c in t if c.isalpha()]
    if len(letters) < 4 or t.endswith("."):
        return False
    upper = sum(c.isupper() for c in letters) / len(letters)
    return upper > 0.9 and len(t.split()) <= 12 and not re.search(r"\d{3,}", t)


def _join_lines(lines: list[str]) -> str:
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
class _Block:
    heading: str
    pid: str
    lines: list[str]


def _para_number(m: re.Match[str]) -> int | None:
    digits = _ocr_digits(m.group("b") or m.group("h") or m.group("u") or "").replace(" ", "").replace(".", "")
    return int(digits) if digits.isdigit() else None


def _numbering_in_sequence(lines: list[Line]) -> int:
    """How many paragraph numbers follow their predecessor (1..3 on): real numbering, not stray numerals."""
    nums = [n for ln in lines if (m := _PARA_START.match(ln.text)) and (n := _para_number(m)) is not None]
    return sum(1 for a, b in zip(nums, nums[1:], strict=False) if 0 < b - a <= 3)


def paragraphs_from_lines(lines: list[Line]) -> list[Paragraph]:
    """Paragraphs with headings, split at paragraph numbers ([0012], 0012.) or, without them, at short lines."""
    use_numbers = _numbering_in_sequence(lines) >= 3
    blocks: list[_Block] = []
    heading = ""
    last_num = 0
    prev: Line | None = None
    for ln in lines:
        t = ln.text.strip()
        if not t:
            continue
        if _is_heading(t):
            heading = t.rstrip(":")
            blocks.append(_Block(heading, "", []))
            prev = None
            continue
        m = _PARA_START.match(t)
        start = False
        pid = ""
        if use_numbers and m:
            num = _para_number(m)
            if num is None or last_num < num <= last_num + 8 or m.group("b"):
                start = True
                last_num = num if num is not None else last_num + 1
                pid = f"[{num:04d}]" if num is not None else ""
                t = t[m.end() :].strip()
        elif not use_numbers and prev is not None:
            col_w = max(prev.col_x1 - prev.col_x0, 1.0)
            short = prev.x1 < prev.col_x1 - 0.12 * col_w and prev.text.rstrip().endswith((".", ":", ";"))
            indent = ln.x0 > ln.col_x0 + 0.03 * col_w and ln.x0 - prev.x0 > 0.02 * col_w
            start = short or indent
        if start or not blocks:
            blocks.append(_Block(heading, pid, [t]))
        else:
            blocks[-1].lines.append(t)
        prev = ln
    out: list[Paragraph] = []
    for i, b in enumerate(blocks):
        text = _join_lines(b.lines)
        if text:
            out.append(Paragraph(pid=b.pid or f"p{i + 1}", heading=b.heading, text=text))
    return out


_CANCELED = re.compile(r"\s*1\s?\.\s?[-–]\s?(\d+)\s?\.\s?\((?:canceled|cancelled)\)", re.I)


def _claims_start(lines: list[Line]) -> int | None:
    """Index of the line where the claims begin: 'What is claimed is:', a 'Claims' heading, or else the
    last '1. A ...' line that a later 'claim 1' refers back to."""
    for i, ln in enumerate(lines):
        if _CLAIMS_START.search(ln.text) and (i > len(lines) * 0.3 or ln.text.strip().upper() == "CLAIMS"):
            return i
    first = re.compile(
        r"^1\s?[.,]\s+(?:A|An|The|In|Method|Apparatus|System|Device|Use|Способ|Устройство)\b|^" + _CANCELED.pattern
    )
    for i in range(len(lines) - 1, int(len(lines) * 0.3), -1):
        if first.match(lines[i].text) and any(re.search(r"\bclaims? \d", ln.text) for ln in lines[i + 1 : i + 400]):
            return i
    return None


def split_claims(text: str) -> list[str]:
    """Claims numbered 1., 2., 3. ... in order (numbers out of sequence belong to the text)."""
    text = re.sub(
        r"^\s*(?:CLAIMS?|Claims?|Patent claims|ФОРМУЛА(?: ИЗОБРЕТЕНИЯ)?|Формула изобретения)\s*:?\s*", "", text
    )
    text = _CLAIMS_START.sub(" ", text, count=1).strip()
    starts: list[tuple[int, int]] = []
    expected = 1
    canceled = _CANCELED.match(text)  # "1.-20. (canceled)": the claims go on from 21
    if canceled:
        expected = int(canceled.group(1)) + 1
        text = text[canceled.end() :].strip()
    elif not re.search(r"(?:^|\s)1\s?[.,]\s", text[:40]):  # OCR lost or garbled the "1." of the first claim
        text = "1. " + re.sub(r"^[\s.,:;]*(?:[1Il]\s?[-.,:;]\s?)?", "", text)
        starts.append((0, 3))
        expected = 2
    for m in re.finditer(r"(?:^|(?<=[\s.;]))(\d{1,3})\s?[.,]\s+(?=[A-ZА-Я(“\"])", text):
        if int(m.group(1)) == expected:
            starts.append((m.start(), m.end()))
            expected += 1
    claims = []
    for i, (a, _) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        claim = text[a:end].strip()
        if claim:
            claims.append(claim)
    return claims


def _figure_paragraphs(paras: list[Paragraph]) -> list[str]:
    """The brief description of the drawings: paragraphs under its heading, else the first run of FIG lists."""
    under = [p.text for p in paras if _DRAWINGS_HEADING.search(p.heading)]
    if under and any(FIG_SENTENCE_START.search(t) for t in under):
        return under
    run: list[str] = []
    for p in paras:
        if FIG_SENTENCE_START.match(p.text) or (run == [] and len(FIG_SENTENCE_START.findall(p.text)) >= 2):
            run.append(p.text)
        elif run:
            break
    return run


def _lang(text: str) -> str:
    letters = [c for c in text[:20000] if c.isalpha()]
    if not letters:
        return "en"
    if sum("а" <= c.lower() <= "я" for c in letters) > 0.3 * len(letters):
        return "ru"
    words = re.findall(r"[a-zäöüéèàç]+", text[:20000].lower())
    counts = {
        "en": sum(w in ("the", "and", "of", "is") for w in words),
        "de": sum(w in ("der", "die", "und", "das", "ist") for w in words),
        "fr": sum(w in ("le", "la", "les", "et", "des", "est") for w in words),
    }
    return max(counts, key=counts.get)


# ------------------------------------------------------------------ the document


class _PdfImages:
    """Renders PDF pages at 200 dpi, grayscale."""

    def __init__(self, pdf, name: str) -> None:  # noqa: ANN001
        self.pdf = pdf
        self.name = name

    def image(self, sheet: SheetSource, max_pixels: int) -> Image.Image:
        m = re.fullmatch(r"page:(\d+)", sheet.member)
        if not m or int(m.group(1)) >= len(self.pdf):
            raise ReadError(f"no page {sheet.member} in {self.name}")
        page = self.pdf[int(m.group(1))]
        try:
            w, h = page.get_size()
            scale = PDF_DPI / 72.0
            px_w, px_h = math.ceil(w * scale), math.ceil(h * scale)
            if px_w * px_h > max_pixels:
                raise ReadError(
                    f"image too large in {self.name} {sheet.member}: {px_w}x{px_h} pixels > limit {max_pixels}"
                )
            try:
                bitmap = page.render(scale=scale, grayscale=True)
                img = bitmap.to_pil()
            except Exception as e:  # PdfiumError and ctypes errors
                raise ReadError(f"cannot render {sheet.member} of {self.name}: {e}") from e
        finally:
            page.close()
        return img if img.mode == "L" else img.convert("L")

    def close(self) -> None:
        self.pdf.close()


def read_pdf(path: Path) -> Document:
    """Read a patent publication PDF into a Document."""
    pdfium, raw = _pdfium()
    path = Path(path)
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower() or "security" in msg.lower():
            raise ReadError(f"encrypted PDF {path.name}: it needs a password ({msg})") from e
        raise ReadError(f"corrupt PDF {path.name}: {msg}") from e
    try:
        patent = _parse(pdf, raw, path)
    except Exception:
        pdf.close()
        raise
    return Document(patent=patent, images=_PdfImages(pdf, path.name))


def _parse(pdf, raw, path: Path) -> Patent:  # noqa: ANN001
    pdfium, _ = _pdfium()
    n = len(pdf)
    if n == 0:
        raise ReadError(f"not a patent document: {path.name} has no pages")
    try:
        pages = [_analyse_page(pdf, raw, i) for i in range(n)]
    except pdfium.PdfiumError as e:
        raise ReadError(f"corrupt PDF {path.name}: {e}") from e
    front = pages[0]
    sections = inid_sections(front.lines)
    office, number, kind = _publication(front.text, sections, path.stem)
    if not number or len(sections) < 2:
        what = "publication number" if not number else "INID codes (bibliographic front page)"
        raise ReadError(f"not a patent document: no {what} found in {path.name}")
    classify_pages(pages, office)
    for p in pages[1:]:
        if p.kind == "front":
            for code, secs in inid_sections(p.lines).items():
                sections.setdefault(code, []).extend(secs)

    text_lines = [ln for p in pages if p.kind == "text" for ln in p.lines]
    claim_at = _claims_start(text_lines)
    desc_lines = text_lines[:claim_at] if claim_at is not None else text_lines
    claim_lines: list[str] = []
    if claim_at is not None:
        first = text_lines[claim_at].text
        m = _CLAIMS_START.search(first)
        claim_lines.append(first[m.start() :] if m else first)
        for ln in text_lines[claim_at + 1 :]:
            if _CLAIMS_END.match(ln.text.strip()):
                break
            claim_lines.append(ln.text)
        if m and m.start() > 0:
            desc_lines = [*desc_lines, Line(first[: m.start()], *_geom(text_lines[claim_at]))]
    description = paragraphs_from_lines(desc_lines)
    claims = split_claims(_join_lines(claim_lines))

    fig_paras = _figure_paragraphs(description)
    drawings = [p for p in pages if p.kind == "drawing"]
    figures: list[FigureDesc] = parse_figure_descriptions(fig_paras, single_figure=len(drawings) == 1)
    for f in figures:
        if len(f.text) > 600:
            f.text = f.text[:600].rsplit(" ", 1)[0] + " ..."

    ipc = classification_codes(" ".join(_joined(s) for s in sections.get("51", [])))
    cpc_text = " ".join(_joined(s) for s in sections.get("52", []))
    cpc_text = cpc_text[cpc_text.find("CPC") :] if "CPC" in cpc_text else ""
    cpc = classification_codes(cpc_text) or ipc

    if office == "WO":
        applicants = _names(" ".join(_joined(s) for s in sections.get("71", [])), "WO")
    elif office == "EP":
        applicants = [n for code in ("71", "73") for s in sections.get(code, []) for n in _ep_names(s)]
    else:
        applicants = [n for code in ("71", "73") for s in sections.get(code, []) for n in _names(_joined(s), "US")]

    front_text = "\n".join(p.text for p in pages if p.kind == "front")
    pub_code = "45" if kind.startswith("B") and office != "WO" else "43"
    pub_date = parse_date(" ".join(_joined(s) for s in sections.get(pub_code, [])))
    if pub_date is None:
        pub_date = parse_date(" ".join(_joined(s) for code in ("43", "45", "10", "11") for s in sections.get(code, [])))
    if pub_date is None:
        pub_date = _date_after(front_text, r"Publication Date|Date of publication|Pub\. Date|Date of Patent")
    filing = parse_date(" ".join(_joined(s) for s in sections.get("22", [])))
    if filing is None:
        filing = _date_after(front_text, r"Filing Date|Date of filing|Filed:")

    return Patent(
        patent_id=f"{office}{number}",
        office=office,
        number=number,
        kind=kind,
        doc_type="design" if kind.startswith("S") else "utility",
        pub_date=pub_date,
        filing_date=filing,
        priority_numbers=_priority(sections, office),
        title=_title(sections, office),
        abstract=_abstract(sections) or _abstract_without_code(front.lines),
        claims=claims,
        description=description,
        cpc=cpc,
        ipc=ipc,
        applicants=list(dict.fromkeys(a for a in applicants if a)),
        figures=figures,
        # scanned US grants print line numbers between the columns, and OCR mixes some into the text
        refsigns=refsigns.from_plain_text(description, line_numbers=office == "US" and kind.startswith("B")),
        sheets=[SheetSource(sheet_no=k + 1, member=f"page:{p.index}") for k, p in enumerate(drawings)],
        source=str(path),
        lang=_lang(" ".join(p.text for p in description[:40])),
    )
