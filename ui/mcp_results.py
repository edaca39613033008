"""What the MCP tools take and return: typed argument and result models, query images from a client, and the
PNG of a figure cut from its sheet. No search logic: hits come from the plain tool functions in tools/.

Every figure a tool returns carries an image reference: `image_uri` (``patfig://figure/<id>``, read through
the MCP server's resource handler as a PNG) and `image_path` (the stored sheet on the server's disk). Query
images come from a client as base64 data, or as a path inside the folders the user allowed
(`McpSettings.allowed_dirs`); any other path is refused before it is opened.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Any

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from core.errors import ToolError
from core.types import Box, Breakdown, Hit
from ingest.segment import figure_crop
from runtime.services import Services
from tools.refsigns import RefSignLookup
from tools.relevance import strength_note

FIGURE_URI = "patfig://figure/{figure_id}"
MAX_IMAGE_BYTES = 25 * 1024 * 1024  # a base64 query image larger than this (decoded) is refused
MAX_DESCRIPTION = 400  # characters of a figure's description in a result (the full text: explain_hit)
KEPT_RESULT_SETS = 200  # result sets a server remembers for explain_hit, the oldest forgotten first


def figure_uri(figure_id: str) -> str:
    return FIGURE_URI.format(figure_id=figure_id)


class SearchFilters(BaseModel):
    """Optional facet filters; every list is 'any of these'. Values the index does not hold are refused with
    the valid ones."""

    kinds: list[str] = Field(default_factory=list, description="Figure kinds, e.g. ['drawing', 'flowchart'].")
    views: list[str] = Field(default_factory=list, description="Views, e.g. ['perspective', 'sectional'].")
    cpc: list[str] = Field(default_factory=list, description="CPC prefixes: section 'B', class 'B64', subclass 'B64D'.")
    offices: list[str] = Field(default_factory=list, description="Patent offices, e.g. ['US', 'EP', 'WO'].")
    published_after: str | None = Field(None, description="On or after this date: '2018' or '2018-05-01'.")
    published_before: str | None = Field(None, description="On or before this date.")


class FigureHit(BaseModel):
    """One ranked figure with its score breakdown and where to get its picture."""

    rank: int
    figure_id: str = Field(description="Pass to more_like_figure, figure_image or explain_hit.")
    patent_id: str
    sheet_no: int
    figs: list[str] = Field(description="The FIG numbers this figure shows.")
    kind: str
    view: str
    office: str
    pub_date: int | None = Field(description="Publication date as YYYYMMDD.")
    cpc: list[str]
    title: str
    description: str = Field(description="The figure's description from the patent (shortened).")
    score: float = Field(description="Calibrated relevance 0-1, comparable across queries; below 0.1 is weak.")
    breakdown: Breakdown = Field(description="Per modality: raw score, calibrated score and rank; the fusion "
                                 "method and weights; the matched words and components; the filters.")
    box: Box | None = Field(description="The figure's region on its sheet in pixels (null: the whole sheet).")
    image_uri: str = Field(description="MCP resource with the figure's PNG (or call figure_image).")
    image_path: str = Field(description="The stored sheet image on the server's disk.")


class SearchResult(BaseModel):
    """The ranked figures of one search, kept under `result_set` for explain_hit."""

    result_set: str = Field(description="Id of these results, for explain_hit.")
    query: dict[str, Any] = Field(description="What was searched.")
    count: int
    strength: str = Field(description="How well the best hits match, in words ('' when they match well).")
    hits: list[FigureHit]


class Explanation(BaseModel):
    """Why a hit scored what it did, built only from its breakdown and the indexed documents."""

    result_set: str
    rank: int
    figure_id: str
    compared_with_rank: int | None = None
    text: str
    facts: dict[str, Any] = Field(description="Every number the text quotes.")


class SignFigure(BaseModel):
    """A figure on which OCR found the reference sign."""

    figure_id: str
    sheet_no: int
    figs: list[str]
    boxes: list[Box] = Field(description="Where the numeral is drawn on the sheet, in pixels.")
    image_uri: str


class SignResult(BaseModel):
    """One reference sign of one patent: its names, the sentences that use it, and the figures that show it."""

    patent_id: str
    numeral: str
    labels: list[str]
    sentences: list[str]
    described_figs: list[str] = Field(description="FIGs whose description mentions the sign.")
    figures: list[SignFigure]
    summary: str


def figure_hit(hit: Hit) -> FigureHit:
    desc = hit.description if len(hit.description) <= MAX_DESCRIPTION else hit.description[:MAX_DESCRIPTION] + "…"
    return FigureHit(rank=hit.rank, figure_id=hit.figure_id, patent_id=hit.patent_id, sheet_no=hit.sheet_no,
                     figs=hit.figs, kind=hit.kind, view=hit.view, office=hit.office, pub_date=hit.pub_date,
                     cpc=hit.cpc, title=hit.title, description=desc, score=round(hit.score, 4),
                     breakdown=hit.breakdown, box=hit.box, image_uri=figure_uri(hit.figure_id),
                     image_path=hit.image_path)


def sign_result(found: RefSignLookup) -> SignResult:
    figures = [SignFigure(figure_id=s.figure_id, sheet_no=s.sheet_no, figs=s.figs, boxes=s.boxes,
                          image_uri=figure_uri(s.figure_id)) for s in found.sheets]
    return SignResult(patent_id=found.patent_id, numeral=found.numeral, labels=found.labels,
                      sentences=found.sentences, described_figs=found.described_figs, figures=figures,
                      summary=found.summary())


class ResultSets:
    """The hits of recent searches by id ("r1", "r2", ...), so that explain_hit can name them. Shared by every
    client of one server (ids are never reused); the oldest are forgotten beyond `KEPT_RESULT_SETS`."""

    def __init__(self, keep: int = KEPT_RESULT_SETS) -> None:
        self._sets: OrderedDict[str, list[Hit]] = OrderedDict()
        self._next = 1
        self._keep = keep
        self._lock = Lock()

    def add(self, hits: list[Hit], query: dict[str, Any]) -> SearchResult:
        with self._lock:
            set_id = f"r{self._next}"
            self._next += 1
            self._sets[set_id] = hits
            while len(self._sets) > self._keep:
                self._sets.popitem(last=False)
        return SearchResult(result_set=set_id, query=query, count=len(hits), strength=strength_note(hits),
                            hits=[figure_hit(h) for h in hits])

    def get(self, set_id: str) -> list[Hit]:
        with self._lock:
            hits = self._sets.get(set_id.strip())
        if hits is None:
            raise ToolError(f"no result set {set_id!r}: run a search first and pass its result_set (sets are kept "
                            f"for the life of the server, the last {self._keep})")
        return hits


# ---------------------------------------------------------------- query images


def allowed_path(path: str, allowed: Sequence[Path]) -> Path:
    """The file at `path` if it lies inside one of the allowed folders (symbolic links resolved), else a ToolError
    that says how to allow a folder. Nothing about the file is revealed before it passes."""
    if not allowed:
        raise ToolError(
            "this server reads no image files: no folder is allowed (none is by default). Send the image as "
            "image_base64, or have the user start the server with --allow-dir DIR (or set "
            "PATFIG_MCP__ALLOWED_DIRS)")
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        raise ToolError(f"image_path {path!r} is not a usable path") from None
    roots = [Path(d).expanduser().resolve() for d in allowed]
    if not any(resolved.is_relative_to(r) for r in roots):
        raise ToolError(f"image_path {path!r} is outside the folders this server may read "
                        f"({', '.join(map(str, roots))}); send the image as image_base64 instead")
    if not resolved.is_file():
        raise ToolError(f"no image file at {path!r}")
    return resolved


def decoded_image(data: str, max_pixels: int) -> Image.Image:
    """A query image sent as base64 (a bare string or a ``data:image/...;base64,`` URL), opened lazily and
    checked for size; its pixels are read when it is searched."""
    text = data.strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if len(text) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise ToolError(f"image_base64 is over {MAX_IMAGE_BYTES // (1024 * 1024)} MB; send a smaller image")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ToolError("image_base64 is not valid base64 data") from None
    if not raw:
        raise ToolError("image_base64 is empty")
    try:
        img = Image.open(io.BytesIO(raw))
        w, h = img.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as e:
        raise ToolError(f"image_base64 is not a readable image ({type(e).__name__}); send a PNG or JPEG") from None
    if w * h > max_pixels:
        raise ToolError(f"the image is {w}x{h} pixels; the limit is {max_pixels:,} pixels")
    try:
        img.load()
    except (OSError, Image.DecompressionBombError, ValueError) as e:
        raise ToolError(f"image_base64 is not a readable image ({type(e).__name__}); send a PNG or JPEG") from None
    return img


# ---------------------------------------------------------------- figure pictures


def figure_png(services: Services, figure_id: str, max_side: int) -> tuple[bytes, str]:
    """The PNG of an indexed figure, cut from its sheet and no larger than `max_side`, and a caption."""
    fid = figure_id.strip()
    sheet = services.store.sheet(fid)
    if sheet is None:
        raise ToolError(f"no figure {figure_id!r} in the index; figure ids look like 'US12448135-S1' or "
                        "'US12448135-S3-F2A' (take them from a search)")
    path = services.store.image_path(sheet)
    try:
        with Image.open(path) as im:
            img = figure_crop(im.convert("RGB"), sheet.box)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        raise ToolError(f"the stored image of {fid} cannot be read; re-ingest patent {sheet.patent_id}") from None
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.convert("L").save(buf, format="PNG", optimize=True)
    figs = ", ".join(sheet.figs) or "?"
    caption = (f"{fid}: patent {sheet.patent_id}, sheet {sheet.sheet_no}, FIG {figs} ({sheet.kind}, {sheet.view}), "
               f"{img.width}x{img.height} PNG")
    return buf.getvalue(), caption
