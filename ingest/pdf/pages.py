"""What each page of a publication PDF is: front page, text, drawing sheet or search report.

A page is read once (:func:`analyse_page`): its lines in reading order, how much of it is image or vector
drawing, and how many margin line numbers it has. :func:`classify_pages` then decides from those numbers
and a few printed marks ("Sheet 3 of 7", "EUROPEAN SEARCH REPORT") which pages are drawing sheets.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw

from ingest.pdf.layout import Line, page_lines
from ingest.pdf.ocrfix import clean_ocr


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


def _page_objects(page: pdfium_raw.FPDF_PAGE, width: float, height: float) -> tuple[float, int, int]:
    """(share of the page covered by images, number of vector paths, number of whole-sheet scans)."""
    raw = pdfium_raw
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


def analyse_page(doc: pdfium.PdfDocument, i: int) -> PageInfo:
    """Read page i: its lines (OCR spacing undone), its body lines without header and footer, its objects."""
    page = doc[i]
    try:
        width, height = page.get_size()
        tp = page.get_textpage()
        try:
            lines, line_numbers = page_lines(tp, width, strict=i >= 3)
        finally:
            tp.close()
        cover, paths, full_scans = _page_objects(page.raw, width, height)
    finally:
        page.close()
    for ln in lines:
        ln.text = clean_ocr(ln.text)
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


def _mark_front_pages(pages: list[PageInfo]) -> None:
    """Page 1 is the front page; up to three more continue it ("Continued on next page", "(56) References")."""
    pages[0].kind = "front"
    for i in range(1, min(4, len(pages))):
        prev = pages[i - 1]
        if prev.kind != "front":
            break
        if _NEXT_PAGE.search(prev.text) or (_FRONT_MORE.search(pages[i].text) and not _PARA_MARK.search(pages[i].text)):
            pages[i].kind = "front"


def _mark_us_sheets(pages: list[PageInfo], marked: list[PageInfo]) -> None:
    """US publications print "Sheet 3 of 7" on drawing sheets: the sheets run from the first mark to the last."""
    first, last = marked[0].index, marked[-1].index
    total = max(int(m.group(2)) for p in marked for m in _SHEET_MARK.finditer(p.text))
    last = max(last, min(first + total - 1, len(pages) - 1))
    for p in pages[first : last + 1]:
        if p.kind == "text" and (p in marked or p.letters < 2500):
            p.kind = "drawing"


def _mark_drawings(pages: list[PageInfo]) -> None:
    """Pages with little text and some images or vector paths, and no line or paragraph numbers, are sheets."""
    for p in pages:
        if p.kind != "text" or p.line_numbers >= 4 or _PARA_MARK.search(p.text):
            continue
        if p.letters <= 150 and (p.image_cover >= 0.05 or p.paths >= 15):
            p.kind = "drawing"
        elif p.letters <= 600 and p.image_cover >= 0.5 and re.search(r"\bF[Il1]G", p.text, re.I):
            p.kind = "drawing"


def _mark_tail_report(pages: list[PageInfo]) -> None:
    """A scanned search report at the end of the document looks like a drawing page to the text layer."""
    tail = len(pages)
    while tail > 0 and pages[tail - 1].kind in ("drawing", "search"):
        tail -= 1
    in_report = False
    for p in pages[tail:]:
        in_report = in_report or p.kind == "search" or p.full_scans > 0
        if in_report:
            p.kind = "search"


def classify_pages(pages: list[PageInfo], office: str) -> None:
    """Mark each page as front, search (search report), drawing or text."""
    for p in pages:
        if _SEARCH_REPORT.search(p.text):
            p.kind = "search"
    _mark_front_pages(pages)
    marked = [p for p in pages if p.kind == "text" and _SHEET_MARK.search(p.text)]
    if office == "US" and marked:
        _mark_us_sheets(pages, marked)
        return
    _mark_drawings(pages)
    _mark_tail_report(pages)
