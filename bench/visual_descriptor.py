"""Choose the weight-free line-drawing descriptor by measurement (DeepPatent re-identification protocol).

Every drawing sheet of the sample set queries all the others; the relevant items are the other sheets of
the same patent. Reported per descriptor: mAP (over the full ranking), P@1, MRR@10, and ms per sheet.
Crop test: a seeded random region of 40% of a sheet's drawing area queries the whole collection; the hit
is its source sheet (P@1, MRR@10). "rot-crop" turns that crop by 90°, as when a landscape sheet (printed
rotated on the page) is queried with an upright figure; "half-crop" halves its resolution, as a
screenshot would.

Run:  python -m bench.visual_descriptor [--data /work/shared/data/patents] [--descriptors hog ahdh ...]
      python -m bench.visual_descriptor --learned --protocol design|utility --sides 256 [--sheet-turns]
      python -m bench.visual_descriptor --protocol design --time-encoders 30
      python -m bench.visual_descriptor --learned --protocol design|utility --sides 256 --hybrid

``--hybrid`` scores the crop queries as a new image (an upload or a crop) could be scored: a x the cosine of
the lbp parts + (1 - a) x the default's whitened cosine (with and without αQE), per half A/B of the patents;
"upload re-ID" is the same scoring for a whole sheet uploaded as a new image (re-identification). Results:
bench/results/visual_descriptor_crop_hybrid.txt.

``--learned`` evaluates lbp joined with the CRAFT backbone's GeM features (models/craft_features.py) at
several weights, PCA whitening learned on the gallery (dims, eigenvalue power) and αQE, per CRAFT input
side; CRAFT vectors are cached in /tmp/patfig_visual_descriptor. ``--protocol design`` uses the design
patents (USD* folders: each sheet queries all, the other views of its design are relevant). Results:
bench/results/visual_descriptor_{design,utility,timing,e2e}.txt; the choice is explained in models/lbp_craft.py.

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


def load_design_sheets(root: Path = DEFAULT_DATA) -> list[SampleSheet]:
    """The drawing sheets of the design-patent folders (USD*/), without D00000.

    D00000 is the front-page drawing: a copy of FIG. 1 at another scale (looked at: USD0907292), so it
    would be an easy duplicate of the first sheet.
    """
    sheets: list[SampleSheet] = []
    for folder in sorted(p for p in (root / "uspto").glob("USD*") if p.is_dir()):
        patent_id = folder.name.split("-")[0]
        for path in sorted(folder.glob("*-D0*.TIF")):
            label = path.stem.rsplit("-", 1)[-1]
            if label != "D00000":
                image = Image.open(path)
                image.load()
                sheets.append(SampleSheet(patent_id, label, image))
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


# ---------------------------------------------------------------- learned: CRAFT features, whitening, αQE

CACHE = Path("/tmp/patfig_visual_descriptor")  # CRAFT GeM vectors per (protocol, image set, side)
GEM_PS = (1.0, 2.0, 3.0, 4.0, 8.0)


@dataclass(frozen=True)
class Variant:
    """One learned-descriptor configuration: lbp and CRAFT GeM concatenated, then whitening and αQE."""

    name: str
    w: float = 0.0  # CRAFT's share in the concatenation: 0 = lbp alone, 1 = CRAFT alone
    sides: tuple[int, ...] = (512,)  # several: the GeM vectors of each scale summed (multi-scale)
    layer: str = "relu4_3"
    p: float = 3.0
    white_dims: int = 0  # 0: no whitening
    white_power: float = 1.0
    qe_k: int = 0  # 0: no query expansion
    qe_alpha: float = 3.0


def craft_gem(images: list[Image.Image], side: int, key: str, cache: Path) -> tuple[dict[str, np.ndarray], float]:
    """GeM vectors (keys "relu4_3/p3.0", ...) of each image at ``side``, and the ms per image, cached on disk."""
    from models.craft_features import CraftBackbone, gem

    path = cache / f"{key}-{side}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files if k != "ms"}, float(z["ms"])
    import torch

    torch.set_num_threads(1)  # a shared 2-core machine; ms/sheet is for one thread
    net = CraftBackbone()
    net.feature_maps(images[0], side, ("relu4_3",))  # load outside the timing
    out: dict[str, list[np.ndarray]] = {}
    t0 = time.perf_counter()
    for i, im in enumerate(images):
        maps = net.feature_maps(im, side, ("relu4_3", "relu5_3"))
        for layer, fmap in maps.items():
            for p in GEM_PS:
                out.setdefault(f"{layer}/p{p}", []).append(gem(fmap, p))
        if (i + 1) % 100 == 0:
            print(f"  {key} @{side}: {i + 1}/{len(images)}", flush=True)
    ms = 1000 * (time.perf_counter() - t0) / len(images)
    arrays = {k: np.stack(v).astype(np.float32) for k, v in out.items()}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, ms=np.array(ms), **arrays)
    return arrays, ms


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def qd_metrics(q: np.ndarray, db: np.ndarray, groups: list[str]) -> dict[str, float]:
    """Like :func:`reid_metrics`, with query vectors ``q[i]`` (for item i) ranked against ``db`` (item i left out).

    Also reported over two halves of the queries: "A" the items of the 1st, 3rd, 5th... patent (in sorted
    order), "B" the others; variants are chosen on A and B is the check.
    """
    return sims_metrics(q @ db.T, groups)


def sims_metrics(sims: np.ndarray, groups: list[str]) -> dict[str, float]:
    """:func:`qd_metrics` from the similarity matrix itself (row i: item i's query against the gallery)."""
    sims = sims.copy()
    np.fill_diagonal(sims, -np.inf)
    labels = np.array(groups)
    half = {g: "A" if i % 2 == 0 else "B" for i, g in enumerate(sorted(set(groups)))}
    aps: dict[str, list[float]] = {"": [], "A": [], "B": []}
    p1: dict[str, list[float]] = {"": [], "A": [], "B": []}
    for i in range(len(labels)):
        rel = labels == labels[i]
        rel[i] = False
        if not rel.any():
            continue
        hits = rel[np.argsort(-sims[i], kind="stable")[:-1]]
        ranks = np.flatnonzero(hits) + 1
        for key in ("", half[groups[i]]):
            aps[key].append(float(np.mean(np.arange(1, ranks.size + 1) / ranks)))
            p1[key].append(float(hits[0]))
    out = {"mAP": float(np.mean(aps[""])), "P@1": float(np.mean(p1[""]))}
    for key in ("A", "B"):
        out[f"mAP {key}"] = float(np.mean(aps[key]))
        out[f"P@1 {key}"] = float(np.mean(p1[key]))
    out["queries"] = len(aps[""])
    return out


def source_p1(q: np.ndarray, db: np.ndarray) -> float:
    """P@1 of crop i finding its source sheet i."""
    sims = q @ db.T
    return float(np.mean(sims.argmax(axis=1) == np.arange(len(q))))


class LearnedBench:
    """Everything one protocol's variants need, computed once: lbp vectors, CRAFT GeM vectors, crops."""

    def __init__(self, protocol: str, sheets: list[SampleSheet], sides: list[int], crops: bool, seed: int,
                 cache: Path = CACHE, crop_sides: list[int] | None = None, sheet_turns: bool = False):
        self.protocol, self.groups = protocol, [s.patent_id for s in sheets]
        lbp = descriptor_fn("lbp")
        t0 = time.perf_counter()
        self.lbp = {"sheet": np.stack([lbp(ink_box(s.image)) for s in sheets]).astype(np.float32)}
        self.lbp_ms = 1000 * (time.perf_counter() - t0) / len(sheets)
        self.craft: dict[tuple[str, int], dict[str, np.ndarray]] = {}
        self.craft_ms: dict[int, float] = {}
        for side in sides:
            self.craft[("sheet", side)], self.craft_ms[side] = craft_gem(
                [s.image for s in sheets], side, f"{protocol}-sheet", cache)
        self.turned_sheets = sheet_turns
        if sheet_turns:  # every sheet turned by 90, 180, 270°, for the rot-max query (first side only)
            for name, turn in (("r90", Image.Transpose.ROTATE_90), ("r180", Image.Transpose.ROTATE_180),
                               ("r270", Image.Transpose.ROTATE_270)):
                self.lbp[f"sheet-{name}"] = self.lbp["sheet"]  # lbp is turn invariant
                self.craft[(f"sheet-{name}", sides[0])], _ = craft_gem(
                    [s.image.transpose(turn) for s in sheets], sides[0], f"{protocol}-sheet-{name}", cache)
        self.crop_kinds: list[str] = []
        if crops:
            rng = random.Random(seed)
            cut = [random_crop(s.image, rng) for s in sheets]  # the same crops as `run` draws
            sets = {"crop": cut, "rot-crop": [c.transpose(Image.Transpose.ROTATE_90) for c in cut],
                    "half-crop": [c.resize((max(1, c.width // 2), max(1, c.height // 2)), Image.Resampling.BOX)
                                  for c in cut],
                    "crop-r180": [c.transpose(Image.Transpose.ROTATE_180) for c in cut],
                    "crop-r270": [c.transpose(Image.Transpose.ROTATE_270) for c in cut]}
            for name, turn in (("r90", Image.Transpose.ROTATE_90), ("r180", Image.Transpose.ROTATE_180),
                               ("r270", Image.Transpose.ROTATE_270)):  # for the rot-max half-crop query
                sets[f"half-crop-{name}"] = [c.transpose(turn) for c in sets["half-crop"]]
            for kind, images in sets.items():
                self.lbp[kind] = np.stack([lbp(ink_box(c)) for c in images]).astype(np.float32)
                for side in crop_sides or sides:
                    self.craft[(kind, side)], _ = craft_gem(images, side, f"{protocol}-{kind}-s{seed}", cache)
            self.crop_kinds = ["crop", "rot-crop", "half-crop"]  # the turned sets serve the rot-max queries
            self.halves = _halves(self.groups)

    def vectors(self, v: Variant, kind: str) -> np.ndarray | None:
        """The concatenated unit vectors of one image set (before whitening); None if not extracted."""
        if v.w == 0:
            return self.lbp[kind]
        if any((kind, side) not in self.craft for side in v.sides):
            return None
        craft = _unit_rows(sum(self.craft[(kind, side)][f"{v.layer}/p{v.p}"] for side in v.sides))
        if v.w == 1:
            return craft
        return _unit_rows(np.hstack([(1 - v.w) * self.lbp[kind], v.w * craft]))

    def _turned_queries(self, v: Variant, kind: str, db: np.ndarray, white: object) -> np.ndarray | None:
        t = self.vectors(v, kind)
        if t is None:
            return None
        t = white.apply(t) if white is not None else t  # type: ignore[union-attr]
        if v.qe_k:
            from core.whitening import alpha_qe

            t = alpha_qe(t, db, v.qe_k, v.qe_alpha, exclude=np.arange(len(db)))
        return t

    def _rot_max_p1(self, v: Variant, db: np.ndarray, white: object) -> float | None:
        """Crop P@1 when the query is tried at 0/90/180/270° and the turn whose best match is best is kept
        (the same for the upright and the turned crop: the four turns of both are the same images)."""
        turns = [self.vectors(v, k) for k in ("crop", "rot-crop", "crop-r180", "crop-r270")]
        if any(t is None for t in turns):
            return None
        turns = [white.apply(t) if white is not None else t for t in turns]  # type: ignore[union-attr]
        if v.qe_k:  # as the store does to each turn's query (tools/search.py _image_vector)
            from core.whitening import alpha_qe

            turns = [alpha_qe(t, db, v.qe_k, v.qe_alpha) for t in turns]
        return source_p1(best_rotation(turns, db), db)

    def evaluate(self, v: Variant) -> dict[str, object]:
        """One result row: re-ID mAP/P@1, crop P@1s, dims and ms/sheet."""
        db = self.vectors(v, "sheet")
        assert db is not None
        white = None
        if v.white_dims:
            from core.whitening import fit_whitening

            white = fit_whitening(db, v.white_dims, v.white_power)
            db = white.apply(db)
        q = db
        if v.qe_k:
            from core.whitening import alpha_qe

            q = alpha_qe(db, db, v.qe_k, v.qe_alpha, exclude=np.arange(len(db)))
        ms = self.lbp_ms + (sum(self.craft_ms[s] for s in v.sides) if v.w > 0 else 0.0)
        row: dict[str, object] = {"variant": v.name, "dim": db.shape[1]}
        row.update(qd_metrics(q, db, self.groups))
        if self.turned_sheets:
            turns = [q] + [self._turned_queries(v, k, db, white) for k in ("sheet-r90", "sheet-r180", "sheet-r270")]
            if all(t is not None for t in turns):
                best = _best_turn_loo(turns, db)  # type: ignore[arg-type]
                rot = qd_metrics(best, db, self.groups)
                row.update({"rot-max mAP": rot["mAP"], "rot-max P@1": rot["P@1"]})
        if self.crop_kinds:
            row["rot-max crop P@1"] = self._rot_max_p1(v, db, white)
        for kind in self.crop_kinds:
            cq = self.vectors(v, kind)
            if cq is None:
                row[f"{kind} P@1"] = None
                continue
            if white is not None:
                cq = white.apply(cq)
            if v.qe_k:
                from core.whitening import alpha_qe

                cq = alpha_qe(cq, db, v.qe_k, v.qe_alpha)
            row[f"{kind} P@1"] = source_p1(cq, db)
        row["ms/sheet"] = ms
        return row


    def crop_hybrid(self, h: Hybrid) -> dict[str, object]:
        """One crop-query row of a hybrid score (:class:`Hybrid`): P@1 of each crop set and of the rot-max
        queries (the four turns of the crop, and of the half-resolution crop), overall and per half A/B."""
        v = h.base
        db_raw = self.vectors(v, "sheet")
        assert db_raw is not None
        lbp_db = _unit_rows(db_raw[:, :LBP_DIMS])  # the lbp part of the stored vector, as the store keeps it
        white = None
        db = db_raw
        if v.white_dims:
            from core.whitening import fit_whitening

            white = fit_whitening(db_raw, v.white_dims, v.white_power)
            db = white.apply(db_raw)

        def sims(kind: str) -> np.ndarray | None:
            x = self.vectors(v, kind)
            if x is None:
                return None
            lq = _unit_rows(x[:, :LBP_DIMS])
            w = white.apply(x) if white is not None else x
            if h.qe:
                from core.whitening import alpha_qe

                w = alpha_qe(w, db, v.qe_k, v.qe_alpha)
            return h.a * (lq @ lbp_db.T) + (1 - h.a) * (w @ db.T)

        row: dict[str, object] = {"variant": h.name, "a": h.a, "qe": h.qe}
        # a whole sheet uploaded as a new image (re-identification, its own row left out of the expansion)
        wq = db
        if h.qe:
            from core.whitening import alpha_qe

            wq = alpha_qe(db, db, v.qe_k, v.qe_alpha, exclude=np.arange(len(db)))
        reid = sims_metrics(h.a * (lbp_db @ lbp_db.T) + (1 - h.a) * (wq @ db.T), self.groups)
        row.update({f"upload re-ID {k}": reid[k] for k in ("mAP", "mAP A", "mAP B", "P@1")})
        sets = {"rot-max crop": ["crop", "rot-crop", "crop-r180", "crop-r270"],
                "crop": ["crop"], "rot-crop": ["rot-crop"], "half-crop": ["half-crop"],
                "rot-max half-crop": ["half-crop", "half-crop-r90", "half-crop-r180", "half-crop-r270"]}
        for label, kinds in sets.items():
            mats = [sims(k) for k in kinds]
            if any(m is None for m in mats):
                continue
            best = np.stack([m.max(axis=1) for m in mats]).argmax(axis=0)  # type: ignore[union-attr]
            chosen = np.stack([mats[t][i] for i, t in enumerate(best)])  # type: ignore[index]
            hit = chosen.argmax(axis=1) == np.arange(len(chosen))
            row[f"{label} P@1"] = float(hit.mean())
            for half in ("A", "B"):
                row[f"{label} P@1 {half}"] = float(hit[self.halves == half].mean())
        return row


@dataclass(frozen=True)
class Hybrid:
    """A score for a new image (an upload or a crop) against the stored sheets: ``a`` x the cosine of the lbp
    parts (the first 139 dims of the raw vectors, renormalised) + (1 - a) x the cosine of ``base``'s vectors
    (whitened as ``base`` says, the query α-expanded when ``qe``). Stored-vector queries keep ``base``."""

    name: str
    base: Variant
    a: float
    qe: bool


LBP_DIMS = 139  # the lbp part of an lbp+craft vector


def _halves(groups: list[str]) -> np.ndarray:
    """"A" for the items of the 1st, 3rd, 5th... patent in sorted order, "B" for the others (as qd_metrics)."""
    half = {g: "A" if i % 2 == 0 else "B" for i, g in enumerate(sorted(set(groups)))}
    return np.array([half[g] for g in groups])


CHOSEN = Variant("lbp+craft@256 w0.3 +white64^0.5 +qe3 (default)", w=0.3, sides=(256,), white_dims=64,
                 white_power=0.5, qe_k=3)  # models/lbp_craft.py; how it was chosen: the module docstring there


def best_rotation(queries: list[np.ndarray], db: np.ndarray) -> np.ndarray:
    """Per query row, the one of its rotations (``queries[r][i]``) whose nearest gallery vector is nearest."""
    top = np.stack([(q @ db.T).max(axis=1) for q in queries])  # (rotations, n)
    best = top.argmax(axis=0)
    return np.stack([queries[r][i] for i, r in enumerate(best)])


def _best_turn_loo(turns: list[np.ndarray], db: np.ndarray) -> np.ndarray:
    """:func:`best_rotation` for gallery items querying the gallery: each item's own row is left out."""
    tops = []
    for q in turns:
        sims = q @ db.T
        np.fill_diagonal(sims, -np.inf)
        tops.append(sims.max(axis=1))
    best = np.stack(tops).argmax(axis=0)
    return np.stack([turns[r][i] for i, r in enumerate(best)])


def default_variants(sides: list[int]) -> list[Variant]:
    """The grid the results come from: CRAFT layer and GeM p alone, then lbp+craft by weight, whitening dims and
    eigenvalue power, with and without αQE (k=3, α=3), per input side."""
    vs = [Variant("lbp")]
    for d in (32, 64):
        vs.append(Variant(f"lbp +white{d}^0.5 +qe3", white_dims=d, white_power=0.5, qe_k=3))
    for side in sides:
        at = (side,)
        for layer in ("relu4_3", "relu5_3"):
            for p in GEM_PS:
                vs.append(Variant(f"craft@{side} {layer} p{p:g}", w=1.0, sides=at, layer=layer, p=p))
        for w in (0.2, 0.3, 0.4, 0.5):
            vs.append(Variant(f"lbp+craft@{side} w{w:g}", w=w, sides=at))
        for w in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
            for d in (32, 48, 64):
                for power in (0.5, 0.75, 1.0):
                    name = f"lbp+craft@{side} w{w:g} +white{d}^{power:g}"
                    vs.append(Variant(name, w=w, sides=at, white_dims=d, white_power=power))
                    vs.append(Variant(f"{name} +qe3", w=w, sides=at, white_dims=d, white_power=power, qe_k=3))
    if len(sides) > 1:
        both = tuple(sides)
        vs.append(Variant(f"lbp+craft@{'+'.join(map(str, sides))} w0.3 +white64^0.5 +qe3", w=0.3, sides=both,
                          white_dims=64, white_power=0.5, qe_k=3))
    if CHOSEN.sides[0] in sides:
        vs.append(CHOSEN)
    return vs


def hybrid_variants() -> list[Hybrid]:
    """The crop-query grid: the default's whitened vectors mixed with the raw lbp cosine at several shares,
    with and without αQE of the whitened part; a = 1 is lbp alone, a = 0 with αQE the default. Finer steps
    near 1: a first pass at 0.3-0.9 stayed below lbp's crop P@1 on the utility sheets."""
    out = []
    for qe in (True, False):
        for a in (0.0, 0.3, 0.5, 0.7, 0.9, 0.95, 0.97, 0.98, 0.985, 0.99, 0.995, 1.0):
            if a == 1.0 and not qe:
                continue  # the same as a = 1 with αQE: the whitened part has no weight
            name = "lbp" if a == 1.0 else f"hybrid a{a:g} lbp + white64^0.5{' +qe3' if qe else ''}"
            out.append(Hybrid(name, CHOSEN, a, qe))
    return out


def time_encoders(sheets: list[SampleSheet], n: int) -> list[dict[str, object]]:
    """Wall and CPU ms per sheet of the production encoders (lbp; lbp+craft at its configured side), on
    every len/n-th sheet, one torch thread; the CPU time is the one to compare on a busy machine."""
    import os

    import torch

    from models.lbp_craft import LbpCraftEncoder
    from models.linedraw import LineDrawEncoder

    torch.set_num_threads(1)
    picked = sheets[:: max(1, len(sheets) // n)][:n]
    rows = []
    for enc in (LineDrawEncoder("lbp"), LbpCraftEncoder()):
        enc.embed_images([picked[0].image])  # load outside the timing
        wall, cpu = time.perf_counter(), time.process_time()
        enc.embed_images([s.image for s in picked])
        rows.append({"encoder": enc.name, "sheets": len(picked),
                     "wall ms/sheet": 1000 * (time.perf_counter() - wall) / len(picked),
                     "cpu ms/sheet": 1000 * (time.process_time() - cpu) / len(picked),
                     "load avg (1 min)": os.getloadavg()[0]})
        if hasattr(enc, "embed_turns"):  # an image query: the four turns (tools/search.py _image_vector)
            wall, cpu = time.perf_counter(), time.process_time()
            for sheet in picked:
                enc.embed_turns(sheet.image)
            rows.append({"encoder": f"{enc.name} query (4 turns)", "sheets": len(picked),
                         "wall ms/sheet": 1000 * (time.perf_counter() - wall) / len(picked),
                         "cpu ms/sheet": 1000 * (time.process_time() - cpu) / len(picked),
                         "load avg (1 min)": os.getloadavg()[0]})
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
    ap.add_argument("--protocol", choices=["utility", "design"], default="utility",
                    help="utility: the ZIP and PDF sheets; design: the USD* design-patent folders")
    ap.add_argument("--learned", action="store_true",
                    help="evaluate the lbp+CRAFT variants (whitening, αQE) instead of the weight-free descriptors")
    ap.add_argument("--sides", type=int, nargs="+", default=[512], help="CRAFT input sizes (--learned)")
    ap.add_argument("--crop-sides", type=int, nargs="*", default=None,
                    help="CRAFT input sizes for the crop queries (--learned; default: --sides)")
    ap.add_argument("--time-encoders", type=int, default=0, metavar="N",
                    help="only time the production encoders on N sheets (wall and CPU ms/sheet)")
    ap.add_argument("--sheet-turns", action="store_true",
                    help="also query with each sheet's best 90-degree turn (rot-max; --learned, first side)")
    ap.add_argument("--no-crops", action="store_true", help="skip the crop queries (--learned)")
    ap.add_argument("--hybrid", action="store_true",
                    help="only the crop queries, scored by lbp mixed with the default's whitened vectors (--learned)")
    ap.add_argument("--cache", type=Path, default=CACHE, help="where CRAFT GeM vectors are cached")
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here too")
    ap.add_argument("--pdf-dpi", type=int, default=200)  # as ingest renders them
    ap.add_argument("--reader", choices=["bench", "ingest"], default="bench",
                    help="bench: this module's own page selection; ingest: patfig's readers")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--descriptors", nargs="+",
                    default=["lbp", "hog", "ahdh", "hog+ahdh", "lbp+hog", "hog-r4", "ahdh-r4"])
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.protocol == "design":
        sheets = load_design_sheets(args.data)
    elif args.reader == "ingest":
        sheets = load_with_ingest(args.data)
    else:
        sheets = load_sample_sheets(args.data, args.pdf_dpi)
    n_pat = len({s.patent_id for s in sheets})
    print(f"{len(sheets)} sheets of {n_pat} patents loaded in {time.perf_counter() - t0:.1f} s")
    if args.time_encoders:
        rows = time_encoders(sheets, args.time_encoders)
    elif args.learned:
        bench = LearnedBench(args.protocol, sheets, args.sides, not args.no_crops, args.seed, args.cache,
                             args.crop_sides, args.sheet_turns)
        if args.hybrid:
            if args.no_crops or CHOSEN.sides[0] not in args.sides:
                ap.error(f"--hybrid needs the crop queries and --sides {CHOSEN.sides[0]}")
            rows = [bench.crop_hybrid(h) for h in hybrid_variants()]
        else:
            rows = [bench.evaluate(v) for v in default_variants(args.sides)]
    else:
        rows = run(sheets, args.descriptors, args.seed)
    _print(rows)
    if args.out is not None:
        import json

        args.out.write_text(json.dumps({"protocol": args.protocol, "sheets": len(sheets), "patents": n_pat,
                                        "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
