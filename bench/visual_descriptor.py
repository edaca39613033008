"""Choose the weight-free line-drawing descriptor by measurement (DeepPatent re-identification protocol).

Every drawing sheet of the sample set queries all the others; the relevant items are the other sheets of
the same patent. Reported per descriptor: mAP (over the full ranking), P@1, MRR@10, and ms per sheet.
Crop test: a seeded random region of 40% of a sheet's drawing area queries the whole collection; the hit
is its source sheet (P@1, MRR@10). "rot-crop" turns that crop by 90°, as when a landscape sheet (printed
rotated on the page) is queried with an upright figure; "half-crop" halves its resolution, as a
screenshot would.

Run:  python -m bench.visual_descriptor [--data /work/shared/data/patents] [--descriptors hog ahdh ...]

Sample set: 9 USPTO ZIPs (TIFF sheets D00001.., 300 dpi) and 33 US/EP/WO PDFs whose drawing pages are
picked from the text layer and rendered at 200 dpi, as ingest renders them (``--reader ingest`` uses
patfig's own readers instead). The results table is kept in the docstring of models/linedraw.py; the
best by mAP is the default descriptor there.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models.linedraw import descriptor_fn, ink_bounds, ink_box

DEFAULT_DATA = Path("/work/shared/data/patents")
SHEET_OF = re.compile(r"Sheet\s+\d+\s+of\s+\d+")
EP_LINE_NUMBERS = re.compile(r"\b5\s+10\s+15\s+20\b")  # margin line numbers of EP text and table pages
# Image-only search-report pages after the drawings (no text layer tells them apart), found by inspection.
SEARCH_REPORT_PAGES = {
    ("EP1577413", "page:26"), ("EP1577413", "page:27"), ("EP2316980", "page:14"),
    ("EP2316980", "page:15"), ("EP2439302", "page:23"), ("EP2679695", "page:20"),
}


@dataclass
class SampleSheet:
    """One drawing sheet of the sample set."""

    patent_id: str
    label: str  # "D00003" or "page:12"
    image: Image.Image


def _zip_sheets(path: Path) -> list[SampleSheet]:
    patent_id = re.sub(r"[A-Z]\d?$", "", path.name.split("-")[0])  # drop a kind code (A1)
    out = []
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            m = re.search(r"-(D\d{5})\.TIF$", name, re.IGNORECASE)
            if m and m.group(1) != "D00000":  # D00000 repeats the front-page drawing
                image = Image.open(io.BytesIO(zf.read(name)))
                image.load()
                out.append(SampleSheet(patent_id, m.group(1), image))
    return out


def is_drawing_page(office: str, page_no: int, text: str) -> bool:
    """Heuristic from the text layer: US pages say "Sheet n of m"; EP/WO drawing pages carry almost no text."""
    if page_no == 0:
        return False
    if office == "US":  # a few drawing pages lack the header text; short claim pages are not drawings
        return bool(SHEET_OF.search(text)) or (len(text.strip()) < 200 and "claim" not in text.lower())
    compact = " ".join(text.split())
    if len(compact) >= 200 or "Form PCT" in compact or EP_LINE_NUMBERS.search(compact):
        return False
    return True


def _pdf_sheets(path: Path, dpi: int) -> list[SampleSheet]:
    import pypdfium2 as pdfium

    patent_id = re.sub(r"[A-Z]\d?$", "", path.stem)
    office = patent_id[:2]
    out = []
    doc = pdfium.PdfDocument(str(path))
    try:
        for i in range(len(doc)):
            page = doc[i]
            text = page.get_textpage().get_text_range()
            if is_drawing_page(office, i, text) and (patent_id, f"page:{i}") not in SEARCH_REPORT_PAGES:
                image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
                out.append(SampleSheet(patent_id, f"page:{i}", image))
    finally:
        doc.close()
    return out


def load_sample_sheets(root: Path = DEFAULT_DATA, pdf_dpi: int = 200) -> list[SampleSheet]:
    """All drawing sheets of the sample set, USPTO ZIPs first, then PDFs, in file order."""
    sheets: list[SampleSheet] = []
    for path in sorted((root / "uspto").glob("*.ZIP")):
        sheets += _zip_sheets(path)
    for path in sorted((root / "pdf").glob("*.pdf")):
        sheets += _pdf_sheets(path, pdf_dpi)
    return sheets


def load_with_ingest(root: Path = DEFAULT_DATA) -> list[SampleSheet]:
    """The same sample set read by patfig's own readers (ingest.read.read_document; PDFs at 200 dpi)."""
    from ingest.read import read_document

    sheets: list[SampleSheet] = []
    paths = sorted((root / "uspto").glob("*.ZIP")) + sorted((root / "pdf").glob("*.pdf"))
    for path in paths:
        with read_document(path) as doc:
            pid = doc.patent.patent_id
            for src in doc.patent.sheets:
                label = src.member if src.member.startswith("page:") else src.member.rsplit("-", 1)[-1][:6]
                if (pid, label) not in SEARCH_REPORT_PAGES:
                    sheets.append(SampleSheet(pid, label, doc.sheet_image(src, 120_000_000)))
    return sheets


def reid_metrics(vectors: np.ndarray, groups: list[str]) -> dict[str, float]:
    """mAP, P@1 and MRR@10 of every item querying all others; relevant = same group, queries with ≥1."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    labels = np.array(groups)
    aps, p1, mrr = [], [], []
    for q in range(len(labels)):
        rel = labels == labels[q]
        rel[q] = False
        if not rel.any():
            continue
        order = np.argsort(-sims[q], kind="stable")[:-1]  # drop the query itself (ranked last)
        hits = rel[order]
        ranks = np.flatnonzero(hits) + 1
        aps.append(float(np.mean(np.arange(1, ranks.size + 1) / ranks)))
        p1.append(float(hits[0]))
        mrr.append(1.0 / ranks[0] if ranks[0] <= 10 else 0.0)
    return {"mAP": float(np.mean(aps)), "P@1": float(np.mean(p1)), "MRR@10": float(np.mean(mrr)),
            "queries": len(aps)}


def random_crop(image: Image.Image, rng: random.Random, area: float = 0.4) -> Image.Image:
    """A random region covering ``area`` of the drawing's ink box, aspect between 1:2 and 2:1.

    """
    x0, y0, x1, y1 = ink_bounds(image) or (0, 0, image.width, image.height)
    w, h = x1 - x0, y1 - y0
    cw = min(w, max(1, round(np.sqrt(area * w * h * rng.uniform(0.5, 2.0)))))
    ch = min(h, max(1, round(area * w * h / cw)))
    x = x0 + rng.randint(0, w - cw)
    y = y0 + rng.randint(0, h - ch)
    return image.crop((x, y, x + cw, y + ch))


def crop_metrics(fn, crop_masks: list[np.ndarray], db: np.ndarray) -> dict[str, float]:
    """P@1 and MRR@10 of finding each crop's source sheet (crop i comes from sheet i)."""
    p1, mrr = [], []
    for i, mask in enumerate(crop_masks):
        sims = db @ fn(mask)
        rank = int((sims > sims[i]).sum()) + 1
        p1.append(float(rank == 1))
        mrr.append(1.0 / rank if rank <= 10 else 0.0)
    return {"P@1": float(np.mean(p1)), "MRR@10": float(np.mean(mrr))}


def run(sheets: list[SampleSheet], descriptors: list[str], seed: int = 7) -> list[dict[str, object]]:
    """Evaluate each descriptor on the sheets; one result row per descriptor."""
    t0 = time.perf_counter()
    masks = [ink_box(s.image) for s in sheets]
    prep_ms = 1000 * (time.perf_counter() - t0) / len(sheets)
    rng = random.Random(seed)
    crops = [random_crop(s.image, rng) for s in sheets]
    crop_masks = [ink_box(c) for c in crops]
    turned = [np.rot90(m) for m in crop_masks]  # the same as preprocessing the crop turned by 90°
    halved = [ink_box(c.resize((max(1, c.width // 2), max(1, c.height // 2)), Image.Resampling.BOX))
              for c in crops]  # a screenshot at half the resolution
    groups = [s.patent_id for s in sheets]
    rows = []
    for name in descriptors:
        fn = descriptor_fn(name)
        t0 = time.perf_counter()
        db = np.stack([fn(m) for m in masks])
        desc_ms = 1000 * (time.perf_counter() - t0) / len(sheets)
        row: dict[str, object] = {"descriptor": name, "dim": db.shape[1]}
        row.update(reid_metrics(db, groups))
        crop = crop_metrics(fn, crop_masks, db)
        row.update({"crop P@1": crop["P@1"], "crop MRR@10": crop["MRR@10"],
                    "rot-crop P@1": crop_metrics(fn, turned, db)["P@1"],
                    "half-crop P@1": crop_metrics(fn, halved, db)["P@1"], "ms/sheet": prep_ms + desc_ms})
        rows.append(row)
    return rows


def _print(rows: list[dict[str, object]]) -> None:
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols))


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--pdf-dpi", type=int, default=200)  # as ingest renders them
    ap.add_argument("--reader", choices=["bench", "ingest"], default="bench",
                    help="bench: this module's own page selection; ingest: patfig's readers")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--descriptors", nargs="+",
                    default=["lbp", "hog", "ahdh", "hog+ahdh", "lbp+hog", "hog-r4", "ahdh-r4"])
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.reader == "ingest":
        sheets = load_with_ingest(args.data)
    else:
        sheets = load_sample_sheets(args.data, args.pdf_dpi)
    n_pat = len({s.patent_id for s in sheets})
    print(f"{len(sheets)} sheets of {n_pat} patents loaded in {time.perf_counter() - t0:.1f} s")
    _print(run(sheets, args.descriptors, args.seed))


if __name__ == "__main__":
    main()
