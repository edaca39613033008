"""Patent publication PDFs (US, EP, WO): bibliographic data, text, figures, reference signs and drawing pages.

PDF library: pypdfium2 (Apache-2.0 / BSD-3-Clause, Google's PDFium): fast rendering and per-character boxes
under a permissive licence; PyMuPDF is AGPL-3.0, which would bind patfig's own licence, so it is not used.

Modules, in the order a PDF goes through them:

- ``layout``: a page's characters → line segments → columns → lines in reading order.
- ``ocrfix``: the slips of a scanned page's OCR layer, undone.
- ``pages``: what each page is (front page, text, drawing sheet, search report).
- ``inid``: the front page's INID-coded sections; numbers, dates and classification symbols in them.
- ``frontpage``: title, abstract, dates, classes, applicants and priorities.
- ``body``: description paragraphs, claims, the figure list, the language.
- ``reader``: :func:`~ingest.pdf.reader.read_pdf`, the Document of a PDF.
"""
