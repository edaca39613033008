"""Region and sketch queries against an index, before and after spatial verification (tools/verify.py).

Queries, each made from a unit of the index (seeded; half A / half B of the patents by a hash of the id,
A used to fit the verified curve and choose the weight, B held out):

- ``sheet crop``: a box of 30–70% of a sheet's drawing area (its ink bounds) in width and height, as a
  user clicks two corners; relevant: any unit of that sheet (P@1 of the crop's own sheet);
- ``figure crop``: the same within one figure's region of a sheet split into figures; relevant: that unit;
- each also at half resolution and turned by 90°;
- ``sketch``: a whole figure with its OCR-read numerals painted out, strokes thickened (odd queries) or
  thinned (even), and jittered (turned by up to ±3°, scaled by up to ±6%); relevant: that unit.
  Lead lines stay (nothing finds them).
- ``drawn part``: a box around something drawn on a sheet, as a user draws one (`drawn_part`: 30–50% of the
  drawing's width and height around an ink pixel, tightened to its ink, at least 30 keypoints; a seeded stream
  of its own), also at half resolution; relevant: any unit of that sheet. The crops above are placed anywhere
  in the drawing's bounds and some hold a single line at the edge of a sheet, which no keypoint describes.

Each query runs once through `tools.search.search_image` with k = the most candidates verified (the global
descriptor's `tools.verify.TOP`, ORB's visual words' `tools.regions.TOP` and SIFT's `DETAILS_TOP`):
the hits then hold every verified candidate with its visual and verified scores, so "before" (the fused
visual ranking, P@1 = its first hit) and "after" with any weight are both read from the same breakdowns.
The pixels' agreement (`tools.verify.EXACT`: the candidate search found to be the query's very picture among
copies of its drawing) is read as search found it, not chosen again.

    python bench/region_verify.py --index /tmp/copy_of_index [--per-kind 40] [--seed 11] [--fit]
        [--pairs /tmp/pairs.json] [--out region_verify_words.txt]

`--seed` draws another set of queries from the same units (the tables are seed 11).

Writes bench/results/OUT (`--pairs FILE`: every query's candidates as JSON); `--fit` prints the logistic
curves of p(own unit | inliers) and of p(own unit or a family member's copy | share of lines that coincide)
fitted on half A, to put in tools/verify.py (the tables always use the product's curves). Besides P@1
strictly, it reports P@1 with a family member's same drawing counted as found (a unit of a patent sharing a
priority number with the query's, showing one of the same FIG numbers, or on the same sheet number when neither
has FIG numbers: the same drawing published again), and the recall of the verified candidates (the own unit
among them).
An index without the vocabularies of visual words is given them first (`tools.regions.build`, timed).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.calibration import feature, sigmoid  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.types import Sheet  # noqa: E402
from models import keypoints, visual_words  # noqa: E402
from models.linedraw import ink_bounds  # noqa: E402
from patfig.wiring import build_services  # noqa: E402
from tools import regions, verify, views  # noqa: E402
from tools.calibrate import fit_logistic  # noqa: E402
from tools.evaluate import families  # noqa: E402
from tools.fusion import ODDS_CLIP, clipped_logit  # noqa: E402
from tools.search import search_image  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
SEED = 11


def half(patent_id: str) -> str:
    return "A" if int(hashlib.md5(patent_id.encode()).hexdigest(), 16) % 2 == 0 else "B"


def picture(services, unit: Sheet) -> Image.Image:
    with Image.open(services.store.image_path(unit)) as im:
        img = im.convert("L")
    if unit.box is not None:
        b = unit.box
        img = img.crop((int(b.x0), int(b.y0), int(b.x1 + 1), int(b.y1 + 1)))
    return img


def region(img: Image.Image, rng: random.Random) -> Image.Image | None:
    """30–70% of the drawing's width and height, placed at random within its ink bounds."""
    bounds = ink_bounds(img)
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    w, h = (x1 - x0) * rng.uniform(0.3, 0.7), (y1 - y0) * rng.uniform(0.3, 0.7)
    if w < 40 or h < 40:
        return None
    cx, cy = x0 + rng.uniform(0, x1 - x0 - w), y0 + rng.uniform(0, y1 - y0 - h)
    cut = img.crop((int(cx), int(cy), int(cx + w), int(cy + h)))
    return cut if (np.asarray(cut) < 128).mean() > 0.004 else None


def drawn_part(img: Image.Image, rng: random.Random) -> Image.Image | None:
    """A box around something drawn, as a user draws one: a box of 30–50% of the drawing's width and height
    centred on an ink pixel, tightened to the ink it holds, with a 12-pixel margin; None when it holds too little
    to describe (under 30 keypoints)."""
    bounds = ink_bounds(img)
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    ink = np.asarray(img) < 128
    ys, xs = np.nonzero(ink[y0:y1, x0:x1])
    if len(xs) < 100:
        return None
    i = rng.randrange(len(xs))
    cx, cy = x0 + xs[i], y0 + ys[i]
    w, h = (x1 - x0) * rng.uniform(0.3, 0.5), (y1 - y0) * rng.uniform(0.3, 0.5)
    bx0, by0 = max(0, int(cx - w / 2)), max(0, int(cy - h / 2))
    bx1, by1 = min(img.width, int(cx + w / 2)), min(img.height, int(cy + h / 2))
    ys, xs = np.nonzero(ink[by0:by1, bx0:bx1])
    if len(xs) < 100:
        return None
    cut = img.crop((max(0, bx0 + int(xs.min()) - 12), max(0, by0 + int(ys.min()) - 12),
                    min(img.width, bx0 + int(xs.max()) + 13), min(img.height, by0 + int(ys.max()) + 13)))
    # counted over the unit's pyramid, as when these queries were first chosen: the set stays the one measured before
    picture = keypoints.query_picture(cut)
    return cut if len(keypoints.describe_scaled(picture, keypoints.QUERY_FEATURES, keypoints.UNIT_PYRAMID)) >= 30 \
        else None


def sketch(unit: Sheet, img: Image.Image, rng: random.Random, thick: bool) -> Image.Image:
    """Numerals painted out, strokes thickened or thinned, turned and scaled a little."""
    img = img.copy()
    ox, oy = (unit.box.x0, unit.box.y0) if unit.box is not None else (0, 0)
    for t in unit.tokens:
        img.paste(255, (int(t.box.x0 - ox) - 2, int(t.box.y0 - oy) - 2, int(t.box.x1 - ox) + 3,
                        int(t.box.y1 - oy) + 3))
    img = img.filter(ImageFilter.MinFilter(5) if thick else ImageFilter.MaxFilter(3))
    s = rng.uniform(0.94, 1.06)
    img = img.resize((max(1, int(img.width * s)), max(1, int(img.height * s))), Image.Resampling.BILINEAR)
    return img.rotate(rng.uniform(-3, 3), resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255)


def queries(services, per_kind: int, seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    units = services.store.sheets()
    by_sheet: dict[tuple[str, int], list[Sheet]] = {}
    for u in units:
        by_sheet.setdefault((u.patent_id, u.sheet_no), []).append(u)
    sheets = [us for us in by_sheet.values()]
    split = [u for us in sheets if len(us) > 1 for u in us]
    sheet_of = {k: {u.figure_id for u in us} for k, us in by_sheet.items()}
    rng.shuffle(sheets)
    rng.shuffle(split)
    out: list[dict] = []

    def add(kind: str, img: Image.Image, relevant: set[str], pid: str, sheet: set[str]) -> None:
        out.append({"kind": kind, "image": img, "relevant": relevant, "half": half(pid), "sheet": sheet})
        if kind != "sketch":
            out.append({"kind": kind + " half-res", "image": img.resize(
                (max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.BOX),
                "relevant": relevant, "half": half(pid), "sheet": sheet})
            out.append({"kind": kind + " turned 90°", "image": img.transpose(Image.Transpose.ROTATE_90),
                        "relevant": relevant, "half": half(pid), "sheet": sheet})

    n = 0
    for us in sheets:
        if n >= per_kind:
            break
        whole = us[0].model_copy(update={"box": None})
        cut = region(picture(services, whole), rng)
        if cut is not None:
            add("sheet crop", cut, {u.figure_id for u in us}, us[0].patent_id, {u.figure_id for u in us})
            n += 1
    n = 0
    for u in split:
        if n >= per_kind:
            break
        cut = region(picture(services, u), rng)
        if cut is not None:
            add("figure crop", cut, {u.figure_id}, u.patent_id, sheet_of[(u.patent_id, u.sheet_no)])
            n += 1
    n = 0
    for u in units:
        if n >= per_kind or not u.tokens or rng.random() < 0.5:
            continue
        out.append({"kind": "sketch", "image": sketch(u, picture(services, u), rng, n % 2 == 1),
                    "relevant": {u.figure_id}, "half": half(u.patent_id),
                    "sheet": sheet_of[(u.patent_id, u.sheet_no)]})
        n += 1
    parts = random.Random(seed + 1)  # a stream of its own: the kinds above stay the queries they were
    order = list(sheets)
    parts.shuffle(order)
    n = 0
    for us in order:
        if n >= per_kind:
            break
        cut = drawn_part(picture(services, us[0].model_copy(update={"box": None})), parts)
        if cut is not None:
            relevant, pid = {u.figure_id for u in us}, us[0].patent_id
            out.append({"kind": "drawn part", "image": cut, "relevant": relevant, "half": half(pid), "sheet": relevant})
            out.append({"kind": "drawn part half-res", "image": cut.resize(
                (max(1, cut.width // 2), max(1, cut.height // 2)), Image.Resampling.BOX),
                "relevant": relevant, "half": half(pid), "sheet": relevant})
            n += 1
    return out


def same_drawing(services) -> dict[str, set[str]]:
    """Each unit's copies in its family members: units of a patent sharing a priority number with its own that
    show one of its FIG numbers (or, neither having FIG numbers, sit on the same sheet number)."""
    units = services.store.sheets()
    fam_of = {p: set(f) for f in families(services) for p in f}
    by_patent: dict[str, list[Sheet]] = {}
    for u in units:
        by_patent.setdefault(u.patent_id, []).append(u)
    out: dict[str, set[str]] = {}
    for u in units:
        out[u.figure_id] = {o.figure_id for p in fam_of.get(u.patent_id, set()) - {u.patent_id}
                            for o in by_patent.get(p, [])
                            if (set(o.figs) & set(u.figs)) or (not o.figs and not u.figs and o.sheet_no == u.sheet_no)}
    return out


def run(services, qs: list[dict], words_top: int, details_top: int) -> list[dict]:
    rows = []
    copies = same_drawing(services)
    laying, spent, laid = verify.overlaid, [], {}

    def timed(*args, **kwargs):  # the time laying lines over takes, and every share of lines, per query
        t = time.perf_counter()
        try:
            out = laying(*args, **kwargs)
            laid.update(out)
            return out
        finally:
            spent.append(time.perf_counter() - t)

    verify.overlaid = timed
    comparing, compared = verify.exact, {}

    def recorded(*args, **kwargs):  # the pixels' agreements search compared, per query
        compared.update(comparing(*args, **kwargs))
        return compared

    verify.exact = recorded
    for i, q in enumerate(qs):
        family = {c for r in q["relevant"] for c in copies.get(r, set())}
        t0 = time.perf_counter()
        spent.clear()
        compared.clear()
        laid.clear()
        hits = search_image(services, q["image"], k=verify.TOP + max(words_top, regions.TOP) + details_top,
                            words_top=words_top, details_top=details_top)
        total = time.perf_counter() - t0
        cands = [{"id": h.figure_id, "rel": h.figure_id in q["relevant"], "fam": h.figure_id in family,
                  "sheet": h.figure_id in q["sheet"],
                  "vis": (h.breakdown.modalities["visual"].calibrated or 0.0) if "visual" in h.breakdown.modalities
                  else 0.0,
                  "vis_raw": h.breakdown.modalities["visual"].raw if "visual" in h.breakdown.modalities else 0.0,
                  "views": (h.breakdown.modalities["views"].calibrated or 0.0) if "views" in h.breakdown.modalities
                  else None,
                  "inl": h.breakdown.modalities["verified"].raw if "verified" in h.breakdown.modalities else None,
                  "ovl": laid.get(h.figure_id),  # also where none coincides, and search fused no lines
                  "exact": h.breakdown.modalities[verify.EXACT].raw if verify.EXACT in h.breakdown.modalities
                  else None}
                 for h in hits]
        note = str(hits[0].breakdown.query.get("verified", "")) if hits else ""
        rows.append({"kind": q["kind"], "half": q["half"], "seconds": total, "part": "a part of a drawing" in note,
                     "copy": "a copy of a drawing" in note, "lines_ms": round(sum(spent) * 1000), "cands": cands,
                     "pixels": {i: round(a, 5) for i, a in compared.items()}})
        if i % 20 == 0:
            print(f"{i}/{len(qs)} {q['kind']} {total:.2f} s", flush=True)
    verify.overlaid, verify.exact = laying, comparing
    return rows


def p_at_1(row: dict, share: float | None, slope: float, bias: float, beta: float = views.BETA,
           family: bool = False, lines_share: float = 0.0, curve: tuple[float, float] = (0.0, 0.0),
           gate: float | None = None, lines_top: int | None = None, floor: float = ODDS_CLIP,
           exact_share: float = 0.0, same: bool = False) -> float:
    """P@1 of one query: `share` None = the visual ranking alone (the product before); else visual with the
    patent's best view (`beta`) and the verified count at `share` of the drawing's weight, and the share of lines
    that coincide at `lines_share` of that (its curve's slope and bias `curve`) for the first `lines_top` (None:
    all the run laid over) when one is likely the query's drawing (one coincides at least `gate`), as search
    fuses, the verified count's log-odds held at `floor`, and the pixels' agreement of the candidate search found
    to be the query's very picture at `exact_share` of all that (`verify.EXACT`, as search found it: the rule
    picking it is not replayed). `family`: a family member's copy of the drawing first counts as found; `same`: a
    unit whose pixels agreed with the query's as the own unit's did (`verify.same_pictures`, of those search
    compared: one picture indexed twice) counts as found."""
    cands = row["cands"]
    if not cands:
        return 0.0
    alike = set(verify.same_pictures(row.get("pixels", {}))) if same else set()
    if not any(c["rel"] and c["id"] in alike for c in cands):
        alike = set()

    def found(c: dict) -> float:
        return float(c["rel"] or (family and c.get("fam", False)) or c["id"] in alike)

    if share is None:
        return found(max(cands, key=lambda c: c["vis_raw"]))

    def drawing(c: dict) -> float:
        pver = sigmoid(slope * feature("log1p", c["inl"]) + bias) if c["inl"] is not None else 0.0
        v = c["views"] if c["views"] is not None else c["vis"]
        return ((1 - share) * ((1 - beta) * clipped_logit(c["vis"]) + beta * clipped_logit(v))
                + share * clipped_logit(pver, floor))

    gate = -curve[1] / curve[0] if gate is None and curve[0] else gate  # default: where the curve says p = 0.5
    order = sorted((c for c in cands if c.get("ovl") is not None), key=drawing, reverse=True)
    laid = order[:lines_top]
    if lines_top is not None and gate is not None and sum(c["ovl"] >= gate for c in laid) >= verify.TWINS:
        laid = order[:max(lines_top, verify.LINES_MORE)]  # a repeated drawing: search lays more over
    ovl = {id(c): c["ovl"] for c in laid}
    if not ovl or gate is None or max(ovl.values()) < gate:  # none likely the query's drawing: the lines count 0
        lines_share = 0.0

    def score(c: dict) -> float:
        pov = sigmoid(curve[0] * ovl[id(c)] + curve[1]) if id(c) in ovl else 0.0
        fused = (1 - lines_share) * drawing(c) + lines_share * clipped_logit(pov)
        if not exact_share or not any(x.get("exact") is not None for x in cands):
            return fused
        pex = verify.EXACT_CURVE(c["exact"]) if c.get("exact") is not None else 0.0
        return (1 - exact_share) * fused + exact_share * clipped_logit(pex, verify.EXACT_FLOOR)

    return found(max(cands, key=score))


def product_share(row: dict) -> float:
    """The verified count's share of the drawing's weight that search gave this query (`tools.verify`): a part or
    a copy of a drawing weighs it more."""
    return verify.PART_SHARE if row.get("part") or row.get("copy") else verify.SHARE


def product_floor(row: dict) -> float:
    """The floor search held the verified count's log-odds at for this query: `verify.PART_FLOOR` for a part of a
    drawing, else the common clip."""
    return verify.PART_FLOOR if row.get("part") else ODDS_CLIP


def recall(row: dict) -> float:
    """Whether the own unit was among the verified candidates."""
    return float(any(c["rel"] and c["inl"] is not None for c in row["cands"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--per-kind", type=int, default=40)
    ap.add_argument("--seed", type=int, default=SEED,
                    help=f"another set of queries, cut from the same units (default {SEED}, the tables' set)")
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--pairs", type=Path, help="also write every query's candidates (JSON, ~1 MB) here")
    ap.add_argument("--out", default="region_verify_words.txt", help="the results file's name in bench/results")
    ap.add_argument("--no-words", action="store_true", help="verify the global descriptor's candidates only (before)")
    ap.add_argument("--words-top", type=int, default=regions.TOP, help="candidates by shared visual words (ORB's)")
    ap.add_argument("--details-top", type=int, default=regions.DETAILS_TOP, help="candidates by SIFT's visual words")
    ap.add_argument("--lines-top", type=int, default=verify.LINES_TOP,
                    help="lay this many verified candidates over each query (more than the product, to compare)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    services = build_services(Settings(index_dir=args.index))
    product_top, verify.LINES_TOP = verify.LINES_TOP, args.lines_top
    units = services.store.sheets()
    t0 = time.perf_counter()
    _, described, _ = verify.unit_features(services, [u.figure_id for u in units], float("inf"))
    verify.unit_lines(services, [u.figure_id for u in units])  # an index made before they were kept at ingest
    backfill = time.perf_counter() - t0
    t0 = time.perf_counter()
    worded = regions.build(services)
    words_s = time.perf_counter() - t0
    stats = verify.feature_store(services).stats()
    # the ingest cost: describing a unit's picture (already in memory at ingest)
    pics = [(u, picture(services, u)) for u in units[:: max(1, len(units) // 30)]]
    t1 = time.perf_counter()
    for u, p in pics:
        keypoints.describe_unit(p, u.width or p.width, u.height or p.height)
    describe_ms = (time.perf_counter() - t1) / len(pics) * 1000
    scaled = [keypoints.unit_scaled(p, u.width or p.width, u.height or p.height) for u, p in pics]
    t1 = time.perf_counter()
    for arr in scaled:
        keypoints.describe_sift(arr)
    sift_ms = (time.perf_counter() - t1) / len(pics) * 1000
    words_ms = {}  # assigning a unit's words, by kind
    for kind in regions.KINDS:
        if (vocab := regions.load_vocabulary(verify.feature_store(services), kind.table)) is not None:
            feats = [keypoints.describe_unit(p, u.width or p.width, u.height or p.height) if kind is regions.ORB
                     else keypoints.describe_sift(a) for (u, p), a in zip(pics, scaled, strict=True)]
            t1 = time.perf_counter()
            for f in feats:
                visual_words.words(vocab, f)
            words_ms[kind.table] = (time.perf_counter() - t1) / len(feats) * 1000
    qs = queries(services, args.per_kind, args.seed)
    print(f"{len(units)} units; {described} described in {backfill:.1f} s; {worded} given words in {words_s:.1f} s; "
          f"{len(qs)} queries", flush=True)
    indexes = [(k, i) for k in regions.KINDS if (i := regions.word_index(services, k.table)) is not None]
    search_image(services, qs[0]["image"], k=5)  # warm the models and tables
    words_top, details_top = (0, 0) if args.no_words else (args.words_top, args.details_top)
    rows = run(services, qs, words_top, details_top)
    slope, bias = verify.CURVE.slope, verify.CURVE.bias
    if args.fit:
        xs = [feature("log1p", c["inl"]) for r in rows if r["half"] == "A" for c in r["cands"] if c["inl"] is not None]
        ys = [c["rel"] for r in rows if r["half"] == "A" for c in r["cands"] if c["inl"] is not None]
        a, b, ll = fit_logistic(xs, ys)
        print(f"fitted on half A: slope {a:.4f} bias {b:.4f} (mean log-lik {ll:.4f}, {len(ys)} pairs, "
              f"{sum(ys)} relevant); p = 0.5 at {np.expm1(-b / a):.1f} inliers (the tables use the product's)",
              flush=True)
        xs = [c["ovl"] for r in rows if r["half"] == "A" for c in r["cands"] if c.get("ovl") is not None]
        ys = [c["rel"] or c["fam"] for r in rows if r["half"] == "A" for c in r["cands"] if c.get("ovl") is not None]
        if xs:
            a, b, ll = fit_logistic(xs, ys)
            print(f"lines curve fitted on half A: slope {a:.4f} bias {b:.4f} (mean log-lik {ll:.4f}, {len(ys)} pairs, "
                  f"{sum(ys)} the drawing or a family member's copy); p = 0.5 at {-b / a:.3f}", flush=True)
    ovl = (verify.LINES_CURVE.slope, verify.LINES_CURVE.bias)
    shares = (0.0, 0.3, 0.5, 0.7, 0.9)
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    lines = [__doc__.splitlines()[0],
             f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}; machine: {os.cpu_count()} cores, "
             f"{platform.processor() or platform.machine()}, shared, load average {os.getloadavg()[0]:.2f}",
             f"queries: seed {args.seed}, {args.per_kind} per kind; "
             f"index: {len(units)} units of {len({u.patent_id for u in units})} patents; local features "
             f"{keypoints.NAME}: {stats['mean_bytes']:.0f} bytes per unit, {describe_ms:.0f} ms per unit to describe; "
             f"{keypoints.SIFT_NAME}: {stats['details_mean_bytes']:.0f} bytes per unit, {sift_ms:.0f} ms",
             f"visual words: {worded} units given words in {words_s:.1f} s (vocabulary learned if none); "
             + ("; ".join(f"{index.vocabulary.name}, in-memory index {index.nbytes() / len(index.ids):.0f} bytes per "
                          f"unit, {words_ms.get(k.table, 0):.0f} ms per unit to assign" for k, index in indexes)
                or "no vocabulary"),
             f"verified curve: slope {slope:.4f} bias {bias:.4f} on log(1 + inliers); top {verify.TOP} verified",
             f"lines curve: slope {ovl[0]:.4f} bias {ovl[1]:.4f} on the share of lines that coincide; the first "
             f"{product_top} verified candidates laid over (the run laid {args.lines_top} over)",
             "", "P@1 of the query's own sheet / figure; before = the visual ranking alone; after s = with the "
             f"patent's best view (weight {views.BETA}) and verification at share s of the drawing's weight "
             f"(s 0: views only), the lines at {verify.LINES_SHARE} of that; no lines: verification at "
             f"{verify.SHARE} without them (the product before the lines)", "",
             f"product: verification at {verify.PART_SHARE} of the drawing's weight where the query is a part of "
             f"its best match (covers less than {verify.PART_FOOTPRINT:.0%} of it) or a copy of one (a candidate has "
             f"{verify.COPY_INLIERS} inliers or more), else {verify.SHARE}, as search does; word candidates: "
             f"{words_top} by ORB's words, {details_top} by SIFT's (and {details_top} by SIFT's at the sheet's "
             f"scale for a query described {keypoints.COARSE_STEP} times larger or more, also matched at that "
             "scale); the verified count's log-odds held at "
             f"{verify.PART_FLOOR} for a part, else {ODDS_CLIP}; family: P@1 with a family member's copy of the "
             "drawing counted, before → product; same picture: product P@1 with a unit whose pixels agreed with "
             "the query's as the own unit's did counted (one picture indexed twice; of those search compared); "
             "recall: the own unit among the verified candidates", "",
             "query | half | n | before | no lines | " + " | ".join(f"after {s}" for s in shares)
             + " | product | family | same picture | recall"]
    table = {}
    for kind in kinds:
        for h in ("A", "B"):
            sel = [r for r in rows if r["kind"] == kind and r["half"] == h]
            if not sel:
                continue
            vals = [np.mean([p_at_1(r, None, slope, bias) for r in sel]),
                    np.mean([p_at_1(r, verify.SHARE, slope, bias) for r in sel])]
            vals += [np.mean([p_at_1(r, s, slope, bias, lines_share=verify.LINES_SHARE, curve=ovl,
                                     lines_top=product_top, floor=product_floor(r)) for r in sel])
                     for s in shares]
            vals.append(np.mean([p_at_1(r, product_share(r), slope, bias, lines_share=verify.LINES_SHARE, curve=ovl,
                                        lines_top=product_top, floor=product_floor(r),
                                        exact_share=verify.EXACT_SHARE) for r in sel]))
            fam = [np.mean([p_at_1(r, None, slope, bias, family=True) for r in sel]),
                   np.mean([p_at_1(r, product_share(r), slope, bias, family=True, lines_share=verify.LINES_SHARE,
                                   curve=ovl, lines_top=product_top, floor=product_floor(r),
                                   exact_share=verify.EXACT_SHARE)
                            for r in sel])]
            same = np.mean([p_at_1(r, product_share(r), slope, bias, lines_share=verify.LINES_SHARE, curve=ovl,
                                   lines_top=product_top, floor=product_floor(r), exact_share=verify.EXACT_SHARE,
                                   same=True) for r in sel])
            rec = np.mean([recall(r) for r in sel])
            table[f"{kind}|{h}"] = vals + fam + [same, rec]
            lines.append(f"{kind} | {h} | {len(sel)} | " + " | ".join(f"{v:.3f}" for v in vals)
                         + f" | {fam[0]:.3f} → {fam[1]:.3f} | {same:.3f} | {rec:.3f}")
    lines.append("mean of the kinds, product: " + " / ".join(
        f"{h} {np.mean([v[-5] for k, v in table.items() if k.endswith('|' + h)]):.3f}" for h in ("A", "B")))
    if args.lines_top > product_top:  # how many to lay over: mean P@1 over the kinds, each half
        lines += ["", f"lines laid over the first n verified candidates (share {verify.SHARE}): mean P@1 of the "
                  "kinds, half A / half B"]
        for n in sorted({product_top, 20, 40, args.lines_top}):
            means = [np.mean([np.mean([p_at_1(r, verify.SHARE, slope, bias, lines_share=verify.LINES_SHARE,
                                              curve=ovl, lines_top=n)
                                       for r in rows if r["kind"] == kind and r["half"] == h]) for kind in kinds])
                     for h in ("A", "B")]
            lines.append(f"  n = {n}: {means[0]:.3f} / {means[1]:.3f}")
    timing = []  # warm k=10 queries: the product before, with views, with verification, and with the lines laid over
    laid = product_top
    for kw in ({"views_weight": 0.0, "verify_top": 0}, {"verify_top": 0},
               {"words_top": words_top, "details_top": details_top, "lines": 0},
               {"words_top": words_top, "details_top": details_top}):
        kw = dict(kw)
        verify.LINES_TOP = kw.pop("lines", laid)
        ts = []
        for q in qs[: 3 * 20: 3]:  # sheet crops
            t = time.perf_counter()
            search_image(services, q["image"], k=10, **kw)
            ts.append(time.perf_counter() - t)
        timing.append(({**kw, "lines_top": verify.LINES_TOP}, float(np.median(ts)), float(np.percentile(ts, 95))))
    verify.LINES_TOP = laid
    ms = np.array([r["lines_ms"] for r in rows])
    secs = np.array([r["seconds"] for r in rows])
    lines += ["", (f"the lines laid over added per query: mean {ms.mean():.0f} ms, p95 {np.percentile(ms, 95):.0f} ms; "
                   if ms.any() else "") +
              f"whole image query (k={verify.TOP + regions.TOP + details_top}): mean {secs.mean():.2f} s, "
              f"p95 {np.percentile(secs, 95):.2f} s", "",
              "warm image query, k=10, 20 region queries: median / p95 seconds"]
    lines += [f"  {kw or 'default (views + verification)'}: {med:.3f} / {p95:.3f}" for kw, med, p95 in timing]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(text)
    if args.pairs:
        args.pairs.write_text(json.dumps({"table": table, "rows": rows}))
    services.close()


if __name__ == "__main__":
    main()
