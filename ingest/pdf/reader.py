"""Read a patent publication PDF (US, EP, WO) into a :class:`~ingest.base.Document`.

Pages are read and classified (:mod:`ingest.pdf.pages`); the front page gives the bibliographic fields
(:mod:`ingest.pdf.frontpage`), the text pages the description, claims and figure list
(:mod:`ingest.pdf.body`), and the drawing pages become the sheets, rendered at 200 dpi on demand.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from core.errors import ReadError
from core.types import Patent, SheetSource
from ingest import refsigns
from ingest.base import PDF_DPI, Document
from ingest.pdf.body import description_and_claims, figure_descriptions, language
from ingest.pdf.frontpage import front_page
from ingest.pdf.inid import Sections, inid_sections, publication
from ingest.pdf.pages import PageInfo, analyse_page, classify_pages


class _PdfImages:
    """Renders PDF pages at 200 dpi, grayscale."""

    def __init__(self, pdf: pdfium.PdfDocument, name: str) -> None:
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


def read_pdf(path: Path, data: bytes | None = None) -> Document:
    """Read a patent publication PDF into a Document; from `data` when given (`path` then only names it).

    Raises ReadError for an encrypted, corrupt or empty PDF, or one without a patent front page.
    """
    path = Path(path)
    try:
        pdf = pdfium.PdfDocument(data if data is not None else str(path))
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower() or "security" in msg.lower():
            raise ReadError(f"encrypted PDF {path.name}: it needs a password ({msg})") from e
        raise ReadError(f"corrupt PDF {path.name}: {msg}") from e
    try:
        patent = _parse(pdf, path)
    except Exception:
        pdf.close()
        raise
    return Document(patent=patent, images=_PdfImages(pdf, path.name))


def _read_pages(pdf: pdfium.PdfDocument, path: Path) -> list[PageInfo]:
    n = len(pdf)
    if n == 0:
        raise ReadError(f"not a patent document: {path.name} has no pages")
    try:
        return [analyse_page(pdf, i) for i in range(n)]
    except pdfium.PdfiumError as e:
        raise ReadError(f"corrupt PDF {path.name}: {e}") from e


def _add_continued_front_pages(pages: list[PageInfo], sections: Sections) -> None:
    """The INID sections of the front page's continuation pages, added to the first page's."""
    for p in pages[1:]:
        if p.kind == "front":
            for code, secs in inid_sections(p.lines).items():
                sections.setdefault(code, []).extend(secs)


def _parse(pdf: pdfium.PdfDocument, path: Path) -> Patent:
    pages = _read_pages(pdf, path)
    front = pages[0]
    sections = inid_sections(front.lines)
    office, number, kind = publication(front.text, sections, path.stem)
    if not number or len(sections) < 2:
        what = "publication number" if not number else "INID codes (bibliographic front page)"
        raise ReadError(f"not a patent document: no {what} found in {path.name}")
    classify_pages(pages, office)
    _add_continued_front_pages(pages, sections)

    description, claims = description_and_claims([ln for p in pages if p.kind == "text" for ln in p.lines])
    drawings = [p for p in pages if p.kind == "drawing"]
    fp = front_page(sections, office, kind, "\n".join(p.text for p in pages if p.kind == "front"), front.lines)
    return Patent(
        patent_id=f"{office}{number}",
        office=office,
        number=number,
        kind=kind,
        doc_type="design" if kind.startswith("S") else "utility",
        pub_date=fp.pub_date,
        filing_date=fp.filing_date,
        priority_numbers=fp.priority_numbers,
        title=fp.title,
        abstract=fp.abstract,
        claims=claims,
        description=description,
        cpc=fp.cpc,
        ipc=fp.ipc,
        applicants=fp.applicants,
        figures=figure_descriptions(description, single_figure=len(drawings) == 1),
        # scanned US grants print line numbers between the columns, and OCR mixes some into the text
        refsigns=refsigns.from_plain_text(description, line_numbers=office == "US" and kind.startswith("B")),
        sheets=[SheetSource(sheet_no=k + 1, member=f"page:{p.index}") for k, p in enumerate(drawings)],
        source=str(path),
        lang=language(" ".join(p.text for p in description[:40])),
    )
