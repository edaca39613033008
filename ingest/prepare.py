"""The worker side of ingest: one document → everything the index needs, with no access to the index.

`prepare_document` is a pure map from a file to a `Prepared` record: the parsed patent, its sheets with
OCR-linked components, the sheet images as PNG bytes, and every vector. It runs in the ingest process or
in worker processes; only the single writer (`ingest.pipeline`) touches the index.
"""

from __future__ import annotations

import io
import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from PIL import Image

from core.errors import ModelUnavailable, ReadError
from core.figure_text import FigurePassage, figure_passages
from core.patnum import figure_id
from core.settings import Settings
from core.types import Box, OcrToken, Patent, Sheet
from ingest.base import Document
from ingest.figures import sheet_view_kind
from ingest.ocr_link import assign_figs, figs_on_sheet, link_sheet
from ingest.read import Blob, read_document, source_name
from ingest.segment import figure_crop, split_sheet
from models import keypoints, lines
from models.base import TextEncoder, VisualEncoder
from models.ocr import NumeralReader
from store.index import EncoderId, Passage

log = logging.getLogger(__name__)

PASSAGE_WORDS = 160  # description paragraphs are merged into passages of about this many words
MAX_PASSAGES = 400


class Parts(Protocol):
    """What preparing a document needs: settings, the two encoders and the OCR reader (built lazily)."""

    settings: Settings

    @property
    def visual(self) -> VisualEncoder: ...

    @property
    def text(self) -> TextEncoder: ...

    @property
    def ocr(self) -> NumeralReader: ...


# Builds the parts inside a worker process from settings; a top-level function, so it can be pickled.
PartsFactory = Callable[[Settings], Parts]


@dataclass
class Prepared:
    """One document, read, OCRed and encoded, ready for the writer; or the reason it could not be."""

    source: str
    sig: str
    patent: Patent | None = None
    sheets: list[Sheet] = field(default_factory=list)
    pngs: dict[str, bytes] = field(default_factory=dict)  # sheet image path → PNG (a sheet's figures share it)
    visual_vectors: list[list[float]] = field(default_factory=list)
    text_vectors: list[list[float]] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    passage_vectors: list[list[float]] = field(default_factory=list)
    figure_passages: list[FigurePassage] = field(default_factory=list)  # per-figure text (core.figure_text)
    figure_passage_vectors: list[list[float]] = field(default_factory=list)
    local_features: dict[str, bytes] = field(default_factory=dict)  # figure id → packed `models.keypoints` (ORB)
    details: dict[str, bytes] = field(default_factory=dict)  # figure id → packed `models.keypoints` (SIFT)
    unit_lines: dict[str, bytes] = field(default_factory=dict)  # figure id → packed `models.lines`
    encoders: tuple[EncoderId, EncoderId] | None = None  # (visual, text) that made the vectors
    seconds: dict[str, float] = field(default_factory=dict)  # read, ocr, encode
    error: str = ""  # set when the document failed
    fatal: bool = False  # a model could not be loaded: the run stops
    worker: int = 0  # pid of the process that prepared it
    node: str = ""  # the cluster node it was prepared on (ingest on Ray), else ""
    peak_rss_mb: float = 0.0  # that process's peak resident memory so far


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
    parts: Parts, doc: Document, images: Sequence[Image.Image], use_ocr: bool
) -> tuple[list[Sheet], float]:
    """OCR every sheet, assign FIG numbers, split sheets that show several figures into one unit per figure,
    link numerals to reference signs. Returns the figures (a sheet's, in reading order) and the OCR time."""
    patent = doc.patent
    ocr_seconds = 0.0
    results = []
    for src, img in zip(patent.sheets, images, strict=True):
        if use_ocr:
            t0 = time.perf_counter()
            results.append(parts.ocr.read(img, landscape=src.landscape, known=set(patent.refsigns)))
            ocr_seconds += time.perf_counter() - t0
        else:
            results.append(None)
    ocr_figs = [figs_on_sheet(r.tokens, patent) if r else [] for r in results]
    assigned = assign_figs(ocr_figs, patent)
    units = []
    for src, img, res, (figs, figs_from) in zip(patent.sheets, images, results, assigned, strict=True):
        tokens = res.tokens if res else []
        base = Sheet(figure_id=figure_id(patent.patent_id, src.sheet_no), patent_id=patent.patent_id,
                     sheet_no=src.sheet_no, image_path=f"sheets/{patent.patent_id}-S{src.sheet_no}.png",
                     width=img.width, height=img.height, rotation=res.rotation if res else 0, figs_from=figs_from)
        split = res is not None and len(figs) > 1 and parts.settings.split_figures
        regions = split_sheet(img, tokens, figs) if split else []
        if len(regions) <= 1:
            units.append(_figure(base, patent, figs, tokens))
            continue
        ids: set[str] = set()
        for i, region in enumerate(regions, 1):
            fid = figure_id(patent.patent_id, src.sheet_no, region.fig, i)
            if fid in ids:  # the same label read twice: the region keeps its number instead
                fid = figure_id(patent.patent_id, src.sheet_no, None, i)
            ids.add(fid)
            unit = base.model_copy(update={"figure_id": fid, "box": region.box, "box_from": region.source})
            units.append(_figure(unit, patent, [region.fig] if region.fig else [],
                                 [t for t in tokens if _inside(t.box, region.box)]))
    return units, ocr_seconds


def _figure(unit: Sheet, patent: Patent, figs: list[str], tokens: list[OcrToken]) -> Sheet:
    """A figure unit with its FIGs' descriptions, view and kind, and the OCR tokens and components inside it."""
    components, sentences = link_sheet(tokens, patent)
    descs = [d for d in (patent.figure(f) for f in figs) if d is not None]
    view, kind = sheet_view_kind(descs)
    description = " ".join(d.text for d in descs)
    if patent.doc_type == "design" and patent.title and patent.title.lower() not in description.lower():
        # "FIG. 2 is a side view thereof": a design's views name the article only in its title
        description = f"{description} ({patent.title})" if description else patent.title
    return unit.model_copy(update={
        "figs": figs, "description": description, "view": view, "kind": kind,
        "tokens": tokens, "components": components,
        "linked_sentences": sentences})


def _inside(box: Box, region: Box) -> bool:
    """Whether a token's centre lies in a figure's region."""
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    return region.x0 <= cx <= region.x1 and region.y0 <= cy <= region.y1


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _encode(parts: Parts, prep: Prepared, images: Sequence[Image.Image]) -> None:
    """Fill in the three kinds of vectors and the identity of the encoders that made them."""
    patent = prep.patent
    assert patent is not None
    visual, text = parts.visual, parts.text
    prep.visual_vectors = visual.embed_images(images) if images else []  # one picture per figure
    texts = [s.linked_text() or patent.title for s in prep.sheets]
    prep.passages = make_passages(patent)
    prep.figure_passages = figure_passages(patent, prep.sheets)
    vectors = text.embed_texts(texts + [p.text for p in prep.passages] + [p.text for p in prep.figure_passages])
    n, m = len(texts), len(prep.passages)
    prep.text_vectors, prep.passage_vectors = vectors[:n], vectors[n:n + m]
    prep.figure_passage_vectors = vectors[n + m:]
    prep.encoders = (EncoderId(visual.name, visual.dim), EncoderId(text.name, text.dim))


def _fill(parts: Parts, prep: Prepared, path: Path | Blob, use_ocr: bool) -> None:
    t0 = time.perf_counter()
    with read_document(path) as doc:
        prep.patent = doc.patent
        images = [doc.sheet_image(s, parts.settings.max_image_pixels) for s in doc.patent.sheets]
        prep.seconds["read"] = time.perf_counter() - t0
        prep.sheets, prep.seconds["ocr"] = build_sheets(parts, doc, images, use_ocr)
    by_no = {src.sheet_no: img for src, img in zip(prep.patent.sheets, images, strict=True)}
    t1 = time.perf_counter()
    crops = [figure_crop(by_no[f.sheet_no], f.box) for f in prep.sheets]
    _encode(parts, prep, crops)
    prep.seconds["encode"] = time.perf_counter() - t1
    t3 = time.perf_counter()
    prep.local_features, prep.details, prep.unit_lines = local_features(prep.sheets, crops)
    prep.seconds["features"] = time.perf_counter() - t3
    t2 = time.perf_counter()
    paths = {f.sheet_no: f.image_path for f in prep.sheets}
    prep.pngs = {paths[src.sheet_no]: _png(img) for src, img in zip(prep.patent.sheets, images, strict=True)}
    prep.seconds["read"] += time.perf_counter() - t2  # rendering the PNGs counts as reading the sheets


def local_features(units: Sequence[Sheet], crops: Sequence[Image.Image]) -> tuple[dict[str, bytes], dict[str, bytes],
                                                                                 dict[str, bytes]]:
    """Each unit's packed local features: ORB's for the visual words of region queries and SIFT's for spatial
    verification (`models.keypoints`, `tools.regions`, `tools.verify`), and its lines at their scale
    (`models.lines`), all by figure id."""
    feats, details, drawn = {}, {}, {}
    for u, c in zip(units, crops, strict=True):
        arr = keypoints.unit_scaled(c, u.width, u.height)
        feats[u.figure_id] = keypoints.pack(keypoints.describe_scaled(arr))
        details[u.figure_id] = keypoints.pack(keypoints.describe_sift(arr))
        drawn[u.figure_id] = lines.pack(arr)
    return feats, details, drawn


def prepare_document(parts: Parts, path: Path | Blob, sig: str, use_ocr: bool) -> Prepared:
    """Read, OCR and encode one document. Never raises for a bad document: the error is in the result."""
    prep = Prepared(source=source_name(path), sig=sig, worker=os.getpid())
    try:
        _fill(parts, prep, path, use_ocr)
    except ReadError as e:
        prep.error = str(e)
    except ModelUnavailable as e:
        prep.error, prep.fatal = str(e), True
    except Exception as e:  # a bad document must not stop the run: report it and go on
        log.debug("failed on %s", prep.source, exc_info=True)
        prep.error = f"{type(e).__name__}: {e}"
    prep.peak_rss_mb = peak_rss_mb()
    return prep


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


# ---------------------------------------------------------------- worker processes

_WORKER_PARTS: Parts | None = None


def init_worker(factory: PartsFactory, settings: Settings, threads: int) -> None:
    """Runs once in each worker process: cap its threads, then build its models (lazily)."""
    global _WORKER_PARTS
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch  # a declared dependency; imported here so that importing this module stays light

    torch.set_num_threads(threads)
    if settings.text.threads == 0:  # ONNX Runtime ignores OMP_NUM_THREADS: the text model gets the same cap
        settings = settings.model_copy(update={"text": settings.text.model_copy(update={"threads": threads})})
    _WORKER_PARTS = factory(settings)


def prepare_in_worker(path: Path | Blob, sig: str, use_ocr: bool) -> Prepared:
    """`prepare_document` with the parts this worker process built at start-up."""
    assert _WORKER_PARTS is not None, "init_worker did not run"
    return prepare_document(_WORKER_PARTS, path, sig, use_ocr)
