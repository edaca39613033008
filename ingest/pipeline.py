"""Ingest: documents → sheets with OCR-linked components → vectors → the index.

Each document is a pure map from a file to index rows, done completely or not at all (see
store/index.py on consistency). Running ingest twice adds nothing twice: a source whose content
signature is already indexed is skipped.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from core.errors import ModelUnavailable, ReadError
from core.types import Patent, Sheet
from ingest.base import Document
from ingest.figures import sheet_view_kind
from ingest.ocr_link import assign_figs, figs_on_sheet, link_sheet
from ingest.read import read_document
from runtime.services import Services
from store.index import EncoderId, Passage

log = logging.getLogger(__name__)

PASSAGE_WORDS = 160  # description paragraphs are merged into passages of about this many words
MAX_PASSAGES = 400


@dataclass
class DocResult:
    """What happened to one input."""

    source: str
    status: str  # "indexed", "skipped", "failed"
    patent_id: str = ""
    sheets: int = 0
    message: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # read, ocr, encode, store


@dataclass
class IngestReport:
    """The outcome of a run: per-document results and where the time went."""

    results: list[DocResult] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # half-indexed patents cleaned up first
    problems: list[str] = field(default_factory=list)  # inputs that named no documents

    @property
    def failed(self) -> list[DocResult]:
        return [r for r in self.results if r.status == "failed"]

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.results:
            for k, v in r.seconds.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def summary(self) -> dict:
        t = self.totals()
        sheets = sum(r.sheets for r in self.results if r.status == "indexed")
        busy = sum(t.values())
        return {
            "indexed": sum(1 for r in self.results if r.status == "indexed"),
            "skipped": sum(1 for r in self.results if r.status == "skipped"),
            "failed": len(self.failed),
            "sheets": sheets,
            "seconds": round(busy, 1),
            "sheets_per_minute": round(sheets / busy * 60, 1) if busy and sheets else 0.0,
            "share": {k: round(v / busy, 3) for k, v in t.items()} if busy else {},
            "recovered": self.recovered,
            "problems": self.problems,
            "failures": [{"source": r.source, "error": r.message} for r in self.failed],
        }


def source_signature(path: Path) -> str:
    """A content signature: sha1 of a file, or of the names, sizes and bytes of a folder's files."""
    h = hashlib.sha1()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def make_passages(patent: Patent) -> list[Passage]:
    """Abstract, each claim, and description paragraphs merged to ~PASSAGE_WORDS words."""
    out: list[Passage] = []
    if patent.abstract:
        out.append(Passage("abstract", patent.abstract))
    out.extend(Passage("claims", c, f"claim {i + 1}") for i, c in enumerate(patent.claims) if c.strip())
    buf: list[str] = []
    first_pid = ""
    for para in patent.description:
        if not buf:
            first_pid = para.pid
        buf.append(para.text)
        if sum(len(t.split()) for t in buf) >= PASSAGE_WORDS:
            out.append(Passage("description", " ".join(buf), first_pid))
            buf = []
    if buf:
        out.append(Passage("description", " ".join(buf), first_pid))
    return out[:MAX_PASSAGES]


def build_sheets(
    services: Services, doc: Document, images: Sequence[Image.Image], use_ocr: bool
) -> tuple[list[Sheet], float]:
    """OCR every sheet, assign FIG numbers, link numerals to reference signs. Returns sheets and OCR time."""
    patent = doc.patent
    ocr_seconds = 0.0
    results = []
    for src, img in zip(patent.sheets, images, strict=True):
        if use_ocr:
            t0 = time.perf_counter()
            results.append(services.ocr.read(img, landscape=src.landscape, known=set(patent.refsigns)))
            ocr_seconds += time.perf_counter() - t0
        else:
            results.append(None)
    ocr_figs = [figs_on_sheet(r.tokens, patent) if r else [] for r in results]
    assigned = assign_figs(ocr_figs, patent)
    sheets = []
    for src, img, res, (figs, figs_from) in zip(patent.sheets, images, results, assigned, strict=True):
        tokens = res.tokens if res else []
        components, sentences = link_sheet(tokens, patent)
        descs = [d for d in (patent.figure(f) for f in figs) if d is not None]
        view, kind = sheet_view_kind(descs)
        figure_id = f"{patent.patent_id}-S{src.sheet_no}"
        sheets.append(
            Sheet(
                figure_id=figure_id,
                patent_id=patent.patent_id,
                sheet_no=src.sheet_no,
                image_path=f"sheets/{figure_id}.png",
                width=img.width,
                height=img.height,
                rotation=res.rotation if res else 0,
                figs=figs,
                figs_from=figs_from,
                description=" ".join(d.text for d in descs),
                view=view,
                kind=kind,
                tokens=tokens,
                components=components,
                linked_sentences=sentences,
            )
        )
    return sheets, ocr_seconds


def ingest_document(services: Services, path: Path, *, use_ocr: bool = True, force: bool = False) -> DocResult:
    """Read, OCR, encode and index one document. Never raises for a bad document: it reports it."""
    store = services.store
    source = str(path.resolve())
    times: dict[str, float] = {}
    try:
        sig = source_signature(path)
    except OSError as e:
        return DocResult(source, "failed", message=f"cannot read: {e}")
    done = store.source_done(source, sig)
    if done and not force:
        return DocResult(source, "skipped", done, message="already indexed")
    t0 = time.perf_counter()
    doc: Document | None = None
    try:
        doc = read_document(path)
        patent = doc.patent
        if not force and store.patent_status(patent.patent_id) == "complete":
            other = store.db.execute("SELECT source FROM patents WHERE patent_id=?", (patent.patent_id,)).fetchone()[0]
            if other != source:
                store.record_source(source, sig, patent.patent_id, "complete")
                return DocResult(source, "skipped", patent.patent_id, message=f"already indexed from {other}")
        max_px = services.settings.max_image_pixels
        images = [doc.sheet_image(s, max_px) for s in patent.sheets]
        times["read"] = time.perf_counter() - t0
        sheets, times["ocr"] = build_sheets(services, doc, images, use_ocr)
        t1 = time.perf_counter()
        visual_vecs = services.visual.embed_images(images) if images else []
        texts = [s.linked_text() or patent.title for s in sheets]
        text_vecs = services.text.embed_texts(texts) if texts else []
        passages = make_passages(patent)
        passage_vecs = services.text.embed_texts([p.text for p in passages]) if passages else []
        times["encode"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        for sheet, img in zip(sheets, images, strict=True):
            img.save(store.root / sheet.image_path, optimize=True)
        store.add_patent(patent, sheets, visual_vecs, text_vecs, passages, passage_vecs, source_sig=sig)
        store.record_source(source, sig, patent.patent_id, "complete")
        times["store"] = time.perf_counter() - t2
        return DocResult(source, "indexed", patent.patent_id, len(sheets), seconds=times)
    except ReadError as e:
        store.record_source(source, sig, None, "failed", str(e))
        return DocResult(source, "failed", message=str(e), seconds=times)
    except ModelUnavailable:
        raise
    except Exception as e:  # a bad document must not stop the run: report it and go on
        log.debug("failed on %s", source, exc_info=True)
        msg = f"{type(e).__name__}: {e}"
        store.record_source(source, sig, None, "failed", msg)
        return DocResult(source, "failed", message=msg, seconds=times)
    finally:
        if doc is not None:
            doc.close()


def ingest_paths(
    services: Services,
    paths: Sequence[Path],
    *,
    use_ocr: bool = True,
    force: bool = False,
    progress: Callable[[DocResult], None] | None = None,
) -> IngestReport:
    """Ingest many documents: clean up after an interrupted run, then index each one in turn."""
    report = IngestReport()
    store = services.store
    report.recovered = store.recover()
    if report.recovered:
        log.warning(
            "removed %d half-indexed patent(s) from an interrupted run: %s",
            len(report.recovered),
            ", ".join(report.recovered),
        )
    store.bind_encoders(
        EncoderId(services.visual.name, services.visual.dim), EncoderId(services.text.name, services.text.dim)
    )
    for path in paths:
        result = ingest_document(services, Path(path), use_ocr=use_ocr, force=force)
        report.results.append(result)
        if progress:
            progress(result)
    return report
