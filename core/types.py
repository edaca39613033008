"""Domain types shared by every layer: what a patent, a drawing sheet and a search hit are.

These are plain pydantic models so that they serialise to JSON for the CLI, the agent's
tool artifacts and the UI's export without extra code.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Paragraph(BaseModel):
    """One paragraph of a patent's description, with the heading it stands under."""

    pid: str = ""  # "p-0023" in USPTO XML, "[0023]" or running number elsewhere
    heading: str = ""
    text: str


class RefSign(BaseModel):
    """A reference sign of a document: numeral → what the text calls it and where."""

    numeral: str  # "104", "12a", "110'"
    labels: list[str] = Field(default_factory=list)  # most frequent first: ["permanent magnet motor", ...]
    sentences: list[str] = Field(default_factory=list)  # sentences that mention the numeral
    paragraphs: list[str] = Field(default_factory=list)  # pids of those paragraphs

    @property
    def label(self) -> str:
        return self.labels[0] if self.labels else ""


class FigureDesc(BaseModel):
    """One FIG from the brief description of the drawings."""

    fig: str  # "1", "1A", "12B"; "1.1" for a Hague design's reproduction
    text: str  # "FIG. 1A is a top view of an unmanned aerial vehicle ..."
    view: str = "unknown"  # one of VIEWS
    kind: str = "unknown"  # one of KINDS


class SheetSource(BaseModel):
    """Where a drawing sheet's image comes from, before ingest renders it."""

    sheet_no: int  # 1-based, in document order
    member: str  # file name inside the ZIP/folder, or "page:N" (0-based) for a PDF
    landscape: bool | None = None  # the document's own hint, when it gives one (USPTO XML does)


class Patent(BaseModel):
    """A parsed patent document: bibliographic data, text, figures and reference signs."""

    patent_id: str  # office + number, no kind code: "US12448135", "EP1577413", "WO2013173195"
    office: str  # "US", "EP", "WO"
    number: str  # "12448135"
    kind: str = ""  # "B2", "A1", "S1"
    doc_type: str = "utility"  # "utility", "design", "plant", "reissue"
    pub_date: int | None = None  # yyyymmdd
    filing_date: int | None = None
    priority_numbers: list[str] = Field(default_factory=list)  # for patent families
    title: str = ""
    abstract: str = ""
    claims: list[str] = Field(default_factory=list)
    description: list[Paragraph] = Field(default_factory=list)
    cpc: list[str] = Field(default_factory=list)  # "B64D27/353"
    ipc: list[str] = Field(default_factory=list)
    locarno: str = ""  # design patents: the Locarno class, "28-03" (class 28, subclass 03)
    applicants: list[str] = Field(default_factory=list)
    figures: list[FigureDesc] = Field(default_factory=list)
    refsigns: dict[str, RefSign] = Field(default_factory=dict)  # numeral → sign
    sheets: list[SheetSource] = Field(default_factory=list)
    source: str = ""  # the file or folder it was read from
    lang: str = "en"

    def figure(self, fig: str) -> FigureDesc | None:
        for f in self.figures:
            if f.fig.upper() == fig.upper():
                return f
        return None


class Box(BaseModel):
    """An axis-aligned box in the coordinates of the stored (unrotated) sheet image."""

    x0: float
    y0: float
    x1: float
    y1: float


FIGURE_MARGIN = 0.006  # of the sheet's longest side: a figure's picture keeps a thin white border, not its neighbours


def figure_bounds(box: Box | None, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixels (x0, y0, x1, y1) of a sheet image of this size that a figure's picture holds: its box with a
    thin margin (`FIGURE_MARGIN`), or the whole sheet (no box, or one under 8 pixels). What ingest describes and
    encodes for a figure, and what the gallery shows of it."""
    if box is None:
        return 0, 0, width, height
    margin = FIGURE_MARGIN * max(width, height)
    x0, y0 = max(0, int(box.x0 - margin)), max(0, int(box.y0 - margin))
    x1, y1 = min(width, int(box.x1 + margin + 0.5)), min(height, int(box.y1 + margin + 0.5))
    return (0, 0, width, height) if x1 - x0 < 8 or y1 - y0 < 8 else (x0, y0, x1, y1)


class OcrToken(BaseModel):
    """A piece of text OCR found on a sheet: a numeral or a "FIG. n" label."""

    text: str
    box: Box
    conf: float
    kind: str = "numeral"  # "numeral" or "fig_label"


class Component(BaseModel):
    """A reference sign found on a sheet by OCR, linked to the document's sign."""

    numeral: str
    label: str
    boxes: list[Box] = Field(default_factory=list)


class Sheet(BaseModel):
    """A figure after ingest, the unit that is indexed and searched: a whole drawing sheet, or one figure of a
    sheet that shows several (then `box` is its region on the sheet, and the sheet's other figures are units of
    their own with the same `image_path`)."""

    figure_id: str  # "US12448135-S1" (the sheet is the figure), "US12448135-S3-F2A" (FIG. 2A of sheet 3)
    patent_id: str
    sheet_no: int
    image_path: str  # the stored PNG, relative to the index folder
    width: int = 0
    height: int = 0
    rotation: int = 0  # degrees the sheet was turned (counter-clockwise) to read its labels
    figs: list[str] = Field(default_factory=list)  # FIG numbers shown, e.g. ["1A", "1B"]
    figs_from: str = "order"  # "ocr", "order" or "none": how figs were found
    description: str = ""  # joined descriptions of its figs
    view: str = "unknown"
    kind: str = "unknown"
    tokens: list[OcrToken] = Field(default_factory=list)
    components: list[Component] = Field(default_factory=list)
    linked_sentences: list[str] = Field(default_factory=list)
    box: Box | None = None  # the figure's region on the sheet image; None: the figure is the whole sheet
    box_from: str = ""  # how the region was found (ingest.segment), "" for a whole sheet

    @property
    def sheet_id(self) -> str:
        """The id of the drawing sheet this figure is on ("US12448135-S3")."""
        return f"{self.patent_id}-S{self.sheet_no}"

    def linked_text(self) -> str:
        """The text that stands for the sheet in text search: description, components, sentences."""
        parts = [self.description]
        if self.components:
            parts.append("Components: " + "; ".join(f"{c.numeral} {c.label}" for c in self.components))
        parts.extend(self.linked_sentences)
        return "\n".join(p for p in parts if p)


# ---------------------------------------------------------------- search results


class ModalityScore(BaseModel):
    """One modality's contribution to a hit."""

    raw: float  # similarity as the modality computed it (cosine, bm25, ...)
    norm: float  # after per-list min-max normalisation to [0, 1] (what the "minmax" fusion combines)
    calibrated: float | None = None  # probability of relevance on the index's fixed scale (core.calibration)
    rank: int  # 1-based rank within that modality's list
    path: str = ""  # what produced it: "clip_text", "linked_text", "visual", "lexical", ...


class Breakdown(BaseModel):
    """Why a hit scored what it scored. Explanations are built from this and nothing else."""

    modalities: dict[str, ModalityScore] = Field(default_factory=dict)  # "visual", "text", ...
    fused: float = 0.0
    method: str = "single"  # "odds", "avg", "max", "rrf", "minmax" or "single"
    weights: dict[str, float] = Field(default_factory=dict)
    matched_terms: list[str] = Field(default_factory=list)
    matched_components: list[Component] = Field(default_factory=list)
    matched_in: dict[str, str] = Field(default_factory=dict)  # query word → where in the figure it was found
    passage: str = ""  # the figure's passage closest to the query words
    passage_kind: str = ""  # "description", "component", "title" or "linked text"
    filters: dict[str, object] = Field(default_factory=dict)
    query: dict[str, object] = Field(default_factory=dict)  # what was asked: text, image, crop, mode


class Hit(BaseModel):
    """One ranked figure (sheet) in a result set."""

    rank: int
    figure_id: str
    patent_id: str
    sheet_no: int
    figs: list[str] = Field(default_factory=list)
    kind: str = "unknown"
    view: str = "unknown"
    office: str = ""
    pub_date: int | None = None
    cpc: list[str] = Field(default_factory=list)
    title: str = ""
    description: str = ""
    image_path: str = ""  # absolute path of the stored sheet image
    box: Box | None = None  # the figure's region on that sheet (None: the whole sheet)
    score: float = 0.0
    breakdown: Breakdown = Field(default_factory=Breakdown)
    passages: list[str] = Field(default_factory=list)  # matched passages, for passage/lexical search


class ResultSet(BaseModel):
    """A numbered set of hits within a conversation, with how it came to be."""

    set_id: int
    hits: list[Hit]
    origin: str  # human summary: "text 'gripping unit', fused avg, w_text=0.5"
    parent: int | None = None  # the set it refined, if any
