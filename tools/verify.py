"""Spatial verification: the top candidates of an image query, re-scored by local features in one arrangement.

A global descriptor confuses the sheets of one patent and similar drawings; a region cut from a sheet shares with
that sheet many small details (line ends, junctions, hatching) *in the same geometry*. For the first `TOP`
candidates of the fused list, and those that share most visual words with the query (`tools.regions`, which finds
a region's sheet that the global descriptor misses, by ORB's visual words), the query's ORB and SIFT features
(`models.keypoints`) are matched with the candidate's stored ones (`store.local_features`; mutual nearest
neighbours, `keypoints.match`), each kind's matches that agree on one similarity transform (RANSAC) are counted,
and the two counts are added up. That count is its own modality, ``verified``, in the hit's breakdown: raw =
inliers, calibrated by `CURVE` (p that the candidate is the drawing the query was cut from, a logistic curve in
log(1 + inliers) fitted on region queries of the sample index, bench/region_verify.py), fused with the other
modalities on the calibrated scale by `tools.fusion`. Candidates past `TOP` are not verified and count 0 there,
as any modality's absent candidates do. Its share of the drawing's weight is `SHARE`, or `PART_SHARE` for a part
of a drawing (`footprint`) or a copy of one (`copied`).

An index made before local features (or SIFT's) were stored has none: candidates are then described from their
stored sheet images, as many as `LAZY_SECONDS` allows per query, and written back so the next query finds them.
Nothing here raises for a picture without features (blank, all black, tiny): the search goes on unverified and
says why in the query's record.

Many units share details in one arrangement with a region: a design's other views, the patent's other sheets,
a sibling. For the first `LINES_TOP` verified candidates of the list fused with the count, the candidate's
picture is laid over the query's by the similarity the inliers agree on and the share of lines that coincide is
counted (`models.lines`): a modality of its own, ``lines``, calibrated by `LINES_CURVE` and fused at
`LINES_SHARE` of the drawing's weight, when one of them is likely the query's drawing (`LINES_FOUND`). The
units' lines are kept at ingest in two tones (~15 KB a unit, 1 ms to read back; an older index reads its sheet
images, 16 ms each, once).

The same drawing indexed twice (another publication's copy of a sheet, a design's repeated view) coincides with a
region as its own does. When `TWINS` of the candidates laid over coincide, the drawing is repeated (a design's
views drawn alike) and more are laid over, up to `LINES_MORE`. The first `EXACT_ANY` laid over and those whose
lines coincide most (`LINES_FOUND`), `EXACT_TOP` in all, are compared pixel by pixel at the query's resolution
(`exact`, `models.pixels`: each sheet read from its image, `EXACT_THREADS` at a time): the one agreeing by
`EXACT_MARGIN` more than every other, and by `EXACT_LEAST` at least, is the picture the region was cut from, a
modality of its own, ``exact``, fused at `EXACT_SHARE` of the weight and neutral for the others. Two that agree
alike (`same_pictures`) are the same picture indexed twice, and nothing in the region tells them apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from core.calibration import Curve, FlooredCurve
from core.patnum import sheet_of_part
from core.types import Sheet, figure_bounds
from models import keypoints, lines, pixels
from runtime.services import Services
from store.index import FigureStore
from store.local_features import DETAILS, FEATURES, LocalFeatureStore
from tools import views

log = logging.getLogger(__name__)

TOP = 40  # candidates of the fused list that are verified
SHARE = 0.5  # the verified count's share of the drawing's weight (0.7 won on regions, lost views: bench/README)
LAZY_SECONDS = 1.5  # an index without stored features: time spent describing candidates from their images
MODALITY, PATH = "verified", "local_features"
# p(the candidate is the drawing the query was cut from | inliers), fitted by bench/region_verify.py on the
# tuning half (A) of the whole sample index's region queries, with the candidates found by shared visual words
# (`tools.regions`) and mutual matches (`keypoints.match`), ORB's and SIFT's inliers added up: 8828 pairs, 167
# relevant; p = 0.5 at 91 inliers (ORB's alone: p = 0.5 at 51)
CURVE = Curve(slope=2.1674, bias=-9.7956, feature="log1p", encoder=keypoints.SIFT_NAME, source="default")
# a query that covers less than `PART_FOOTPRINT` of the unit it matches best (by inliers) is a part of a drawing:
# a global descriptor compares a part with a whole and says little there, so verification weighs `PART_SHARE`
# of the drawing instead of `SHARE` (bench/region_verify.py: crops cover 5–52% of the unit they match best,
# sketches of whole figures 78–112%, 10th–90th percentiles)
PART_FOOTPRINT, PART_SHARE = 0.6, 0.7
# for a part of a drawing, the count's evidence against a candidate is held at this floor in the fused log-odds
# instead of the common clip (`tools.fusion.ODDS_CLIP`, 0.01, which `CURVE` reaches at 10 inliers): clipped there,
# a candidate sharing no detail with the region scored as one sharing 10, and a sheet the global descriptor favours
# (0–3 inliers) came before the region's own figure (6–30 inliers). 0.001 is `CURVE` at 3 inliers, what
# chance gives any pair. bench/region_verify.py, on half A: mean P@1 of the nine kinds 0.905 → 0.916 (B, held
# out: 0.748 → 0.760). Not for a copy of a drawing or a new one: held so for every query, the design views
# through the product fell (bench/design_views.py: mAP@50 0.906 → 0.897; for parts alone, 0.905)
PART_FLOOR = 0.001
# the footprint is read from a best match of at least `FOOTPRINT_INLIERS` (p ≈ 0.03 on `CURVE`): a whole drawing
# new to the index matches some unit by chance with a few details (more where pages share a printed header), at a
# similarity that maps it onto a sliver of that unit, which made it look like a part (chosen as 8 on ORB's inliers
# alone, where 12 also left out crops whose own unit had 8–11; bench/region_verify.py; kept at its p since)
FOOTPRINT_INLIERS = 16
# a whole drawing that some candidate verifies with at least `COPY_INLIERS` is a copy of a drawing (a sketch of a
# figure, a scan or screenshot of a sheet): it is weighed as a part is, and counts under `COPY_INLIERS` count as
# none (`COPY_CURVE`), so they do not reorder the candidates after it (a design's other views, when the upload is
# an indexed view). A drawing that no candidate verifies so (a new view of a design) keeps `SHARE`
# (bench/region_verify.py, bench/design_views.py; chosen on ORB's inliers alone, and kept for ORB's and SIFT's
# added up: at 38, the count with ORB's p, sketches of half A fell from 0.92 to 0.77)
COPY_INLIERS = 20
COPY_CURVE = FlooredCurve(**CURVE.model_dump(), floor=COPY_INLIERS)
# ... and whose count is at least `COPY_MARGIN` times that of any other patent's unit: a new view of a design
# matches an unrelated design's shaded or hatched view with 20–37 details by chance, about as many as its own
# design's other views, and the copy rule then set every count under 20 (the own design's) to none. Set at 1.5
# before measuring; bench/design_views.py: P@1 0.949 → 0.964 (A 0.935 → 0.949, B 0.957 → 0.973), mAP@50 0.905 →
# 0.909 (A 0.884 → 0.880); region queries and sketches of bench/region_verify.py unchanged
COPY_MARGIN = 1.5
# a region of a sheet that shows several figures often spans two of them, and each figure's unit then holds only
# its part of the region: the matches of the units of one sheet that each verify at least `SPAN_INLIERS` are
# fitted again together, on the sheet (`Span`), and the unit with the most inliers counts the sheet's when the
# others add at least `SPAN_INLIERS` to its own; its lines are then laid over the sheet's units together.
# Without it a family member's copy of the sheet, split into figures differently (one unit holding both), came
# before the region's own sheet
SPAN_INLIERS = 10
LINES_TOP = 10  # verified candidates, first of the list fused with their counts, whose lines are laid over
# when this many of them coincide, the drawing is repeated (a design's views drawn alike, USD911449's 90): the
# next verified candidates are laid over too, up to `LINES_MORE` in all, and the own view is among them
TWINS, LINES_MORE = 5, 40
LINES_THREADS = 2  # candidates laid over at once (a repeated drawing has 40: 3–6 ms each, one at a time)
LINES_SHARE = 0.3  # the coinciding lines' share of the drawing's weight
LINES, LINES_PATH = "lines", "lines_laid_over"
# p(the candidate is the drawing the query was cut from, or the same drawing published again | the share of lines
# that coincide, compared at the coarser one's scale: `models.lines`), fitted by bench/region_verify.py on half A
# (1654 pairs, 219 positive); p = 0.5 at 0.816
LINES_CURVE = Curve(slope=7.1968, bias=-5.8750, feature="raw", encoder=keypoints.SIFT_NAME, source="default")
# the lines count only when some candidate is likely the query's drawing (p ≥ 0.5): when none is (an upload
# of a new drawing, another view of a design), they have nothing to tell apart, and the small differences
# of unrelated lines would only reorder the candidates the other evidence ranked
LINES_FOUND = LINES_CURVE.raw_for(0.5)
# the same drawing published again, or a design's repeated view, coincides with a region as its own does: of the
# candidates whose lines coincide (`LINES_FOUND`; the `EXACT_TOP` that coincide most), the one whose pixels agree
# with the query's (`models.pixels`) by `EXACT_MARGIN` more than any other's, and by `EXACT_LEAST` at least, is the
# picture the query was cut from: a modality of its own, ``exact``, calibrated by `EXACT_CURVE` (p = 0.5 at 0.95,
# 0.95 at 0.99: a crop's own unit agrees 0.996 at the median, 0.983–0.994 at the 10th percentile) and fused at
# `EXACT_SHARE` of the other modalities' weight, held at 0.5 for the others (no evidence either way). Chosen on half
# A of three sets of seeded region queries (bench/region_verify.py, a replay of the rule on their candidates;
# margin 0.002 against 0, 0.005, 0.01, 0.02; least 0.98 against 0, 0.97, 0.985, 0.99). The `EXACT_TOP` whose lines
# coincide most are compared: a design's repeated views are many, and the own view came 4th–8th of the list (all
# ten laid over against the first 3: replayed, no query lost on any set, 1–2 more found on each); of the 40 laid
# over a repeated drawing, the 10 with the most lines found what all 40 did on half A of each set (4 lost one; 6
# and 8 did as well), at a quarter of the worst case's cost. Eight found what ten did, on both halves of all three
# sets (replayed on the agreements the bench recorded: the first three laid over, then by lines; six lost two of
# seed 11's half B), and a repeated drawing's 10 comparisons took 240–330 ms of a whole sheet's query at 100k
# figures (bench/query_latency_image.py). The comparisons run `EXACT_THREADS` at a time (OpenCV releases the GIL
# while it works), 20–40 ms each alone
EXACT_TOP = 8
# the first `EXACT_ANY` laid over are compared whatever their lines: a small part's lines can coincide less than
# `LINES_FOUND` on its own sheet (54% and 63% on US20180350056's sheet 9 and its WO copy), its pixels 99.1%
EXACT_ANY = 3
EXACT_THREADS = 2
EXACT_MARGIN = 0.002
EXACT_LEAST = 0.98
EXACT_SHARE = 0.3
EXACT, EXACT_PATH = "exact", "pixels_laid_over"
EXACT_CURVE = Curve(slope=73.6, bias=-69.92, feature="raw", encoder=keypoints.SIFT_NAME, source="default")
EXACT_FLOOR = 0.5
SAME_PICTURE = "same_picture"  # the query's record: candidates whose pixels agree alike (`same_pictures`)


@dataclass
class Span:
    """A region verified on the units of one sheet together: each unit's picture's place on the sheet (at the
    features' scale), and the similarity the inliers agree on, query frame → the sheet's."""

    origins: dict[str, tuple[float, float]]
    model: np.ndarray
    picture: np.ndarray | None = None  # the units' lines on the sheet, drawn when first needed (`_span_picture`)


@dataclass
class Verification:
    """Inliers per verified candidate, and how it went."""

    inliers: dict[str, int] = field(default_factory=dict)
    models: dict[str, np.ndarray] = field(default_factory=dict)  # the similarity the inliers agree on, by candidate
    query_features: int = 0
    described: int = 0  # candidates described from their images (an index without stored features)
    skipped: int = 0  # candidates left unverified (no image, or out of time)
    seconds: float = 0.0
    note: str = ""
    drawn: dict[str, np.ndarray] = field(default_factory=dict)  # candidates' lines read so far (`unit_lines`)
    spans: dict[str, Span] = field(default_factory=dict)  # units counting their sheet's inliers (`SPAN_INLIERS`)


def feature_store(services: Services) -> LocalFeatureStore:
    """The index's local feature store, one per services."""
    fs = services.extras.get("local_features")
    if not isinstance(fs, LocalFeatureStore) or fs.path.parent != services.store.root:
        fs = LocalFeatureStore(services.store.root)
        services.extras["local_features"] = fs
    return fs


# what each kind of stored features is described by, and where it is kept
_KINDS = {keypoints.NAME: (FEATURES, keypoints.describe_scaled),
          keypoints.SIFT_NAME: (DETAILS, keypoints.describe_sift)}
KINDS = tuple(_KINDS)  # the names of the features verification matches


def unit_features(services: Services, ids: Sequence[str], deadline: float, names: Sequence[str] = KINDS,
                  ) -> tuple[dict[str, dict[str, keypoints.Features]], int, int]:
    """Stored features of these units, by features name (`names`: the visual words' ORB, verification's SIFT);
    a unit missing any is described from its sheet image until `deadline` (read once, described by each kind it
    lacks, and stored). Returns (features by name and id, how many units were described, how many are left
    without some)."""
    fs = feature_store(services)
    out = {n: {i: keypoints.unpack(b) for i, b in fs.get(ids, n, _KINDS[n][0]).items()} for n in names}
    missing = [i for i in ids if any(i not in out[n] for n in names)]
    described, rows, drawn = 0, {n: [] for n in names}, []
    if missing:
        sheets = services.store.sheets_by_id(missing)
        for i in missing:
            if time.perf_counter() > deadline or i not in sheets:
                continue
            arr = unit_array(services.store, sheets[i])
            if arr is None:
                continue
            for n in names:
                if i not in out[n]:
                    out[n][i] = f = _KINDS[n][1](arr)
                    rows[n].append((i, sheets[i].patent_id, keypoints.pack(f)))
            drawn.append((i, sheets[i].patent_id, lines.pack(arr)))
            described += 1
    if described:
        try:
            for n in names:
                fs.put(rows[n], n, _KINDS[n][0])
            fs.put_lines(drawn)
        except Exception as e:  # noqa: BLE001 - a read-only index still verifies, it only does not remember
            log.info("could not keep the local features of %d figures: %s", described, e)
    return out, described, sum(1 for i in ids if any(i not in out[n] for n in names))


def query_picture(img: Image.Image) -> np.ndarray:
    """The query picture, grey, at the scale its features are described at (`keypoints.query_picture`): what
    `describe_picture` describes and `overlaid` lays the candidates' lines over."""
    return keypoints.query_picture(img)


def describe_picture(picture: np.ndarray) -> keypoints.Features:
    """The ORB features of a `query_picture`, for word candidates (`tools.regions`) and `verify`."""
    return keypoints.describe_query_picture(picture)


def describe_details(picture: np.ndarray) -> keypoints.Features:
    """The SIFT features of a `query_picture`, for `verify`."""
    return keypoints.describe_query_sift(picture)


@dataclass
class Described:
    """A query's `query_picture` and its features by kind (ORB's, `describe_picture`; SIFT's, `describe_details`):
    `features`, what `verify` matches and word candidates come from; when `keypoints.coarser` shrinks the picture
    to a reference sheet's scale, they hold its features at both scales (positions in the picture's frame), and
    `coarse` those at the sheet's scale alone, for word candidates of their own."""

    picture: np.ndarray
    features: dict[str, keypoints.Features] = field(default_factory=dict)
    coarse: dict[str, keypoints.Features] = field(default_factory=dict)


def describe(img: Image.Image) -> Described:
    """A query picture described for verification, at its own scale and, when small at a sheet's resolution, at
    its sheet's too (`Described`, `keypoints.coarser`)."""
    out = Described(query_picture(img))
    factor = keypoints.coarser(*img.size)
    pictures = [(out.picture, 1.0)] + ([(keypoints.scaled(out.picture, factor), factor)] if factor is not None else [])
    for name, describe_one in ((keypoints.NAME, describe_picture), (keypoints.SIFT_NAME, describe_details)):
        parts = [(describe_one(p), s) for p, s in pictures]
        out.features[name] = keypoints.joined(parts)
        if len(parts) > 1:
            out.coarse[name] = parts[1][0]
    return out


def verify(services: Services, queries: Mapping[str, keypoints.Features], candidates: Sequence[str]) -> Verification:
    """Inliers of the query's features against each candidate's, by kind (`queries`: features name → the query's
    ORB features, `describe_picture`, and SIFT's, `describe_details`), added up; the similarity is the one of
    the kind with more inliers (see the module docstring)."""
    t0 = time.perf_counter()
    v = Verification()
    v.query_features = max((len(q) for q in queries.values()), default=0)
    if v.query_features < keypoints.MIN_MATCHES:
        v.note = "not verified: the picture has too few distinct details (blank, flat or tiny)"
        v.seconds = time.perf_counter() - t0
        return v
    feats, v.described, v.skipped = unit_features(services, candidates, t0 + LAZY_SECONDS, list(queries))
    best: dict[str, int] = {}
    matched: dict[str, dict[str, keypoints.Match]] = {name: {} for name in queries}
    for name, q in queries.items():
        for i in candidates:
            if i in feats[name]:
                m = matched[name][i] = keypoints.match(q, feats[name][i])
                v.inliers[i] = v.inliers.get(i, 0) + m.inliers
                if m.model is not None and m.inliers > best.get(i, 0):
                    v.models[i], best[i] = m.model, m.inliers
    _spans(services, queries, feats, matched, v)
    if v.skipped:
        v.note = f"{v.skipped} of the first {len(candidates)} candidates not verified (no stored local features)"
    v.seconds = time.perf_counter() - t0
    return v


def _spans(services: Services, queries: Mapping[str, keypoints.Features],
           feats: Mapping[str, Mapping[str, keypoints.Features]], matched: Mapping[str, Mapping[str, keypoints.Match]],
           v: Verification) -> None:
    """The units of one sheet that each verify `SPAN_INLIERS` or more, their matches fitted again together on the
    sheet: the unit with the most inliers counts the sheet's, when the others add `SPAN_INLIERS` to it (`Span`)."""
    by_sheet: dict[str, list[str]] = {}
    for i, n in v.inliers.items():
        if n >= SPAN_INLIERS and (sheet := sheet_of_part(i)):
            by_sheet.setdefault(sheet, []).append(i)
    groups = [g for g in by_sheet.values() if len(g) > 1]
    if not groups:
        return
    units = services.store.sheets_by_id([i for g in groups for i in g])
    for group in groups:
        origins = {i: o for i in group if i in units and (o := unit_origin(units[i])) is not None}
        total, model, most = 0, None, 0
        for name, q in queries.items():
            kept = [(i, m.pairs) for i in origins
                    if (m := matched[name].get(i)) is not None and m.pairs is not None and len(m.pairs[0])]
            if not kept:
                continue
            ids = np.concatenate([p[0] for _, p in kept])
            at = np.concatenate([feats[name][i].points[p[1]] + np.asarray(origins[i], np.float32) for i, p in kept])
            n, fitted = keypoints.fit(q.points[ids], at, ids)
            total += n
            if fitted is not None and n > most:
                model, most = fitted, n
        top = max(origins, key=lambda i: v.inliers[i], default=None)
        if top is not None and model is not None and total >= v.inliers[top] + SPAN_INLIERS:
            v.inliers[top] = total
            v.spans[top] = Span(origins, model)


def unit_origin(sheet: Sheet) -> tuple[float, float] | None:
    """Where a unit's picture begins on its sheet, at the scale its features are described at (None: the sheet's
    size is not known)."""
    if sheet.width <= 0 or sheet.height <= 0:
        return None
    x0, y0, _, _ = figure_bounds(sheet.box, sheet.width, sheet.height)
    s = keypoints.sheet_scale(sheet.width, sheet.height)
    return x0 * s, y0 * s


def _span_picture(services: Services, v: Verification, i: str) -> np.ndarray | None:
    """The lines of a span's units, each drawn at its place on the sheet (None: none of them has lines)."""
    span = v.spans[i]
    if span.picture is None:
        if missing := [u for u in span.origins if u not in v.drawn]:
            v.drawn |= unit_lines(services, missing)
        placed = [(v.drawn[u], (round(x), round(y))) for u, (x, y) in span.origins.items() if u in v.drawn]
        if not placed:
            return None
        h = max(y + a.shape[0] for a, (_, y) in placed)
        w = max(x + a.shape[1] for a, (x, _) in placed)
        canvas = np.full((h, w), 255, np.uint8)
        for a, (x, y) in placed:
            np.minimum(canvas[y:y + a.shape[0], x:x + a.shape[1]], a, out=canvas[y:y + a.shape[0], x:x + a.shape[1]])
        span.picture = canvas
    return span.picture


def footprint(services: Services, picture: np.ndarray, v: Verification) -> float | None:
    """How much of the unit that matches the query best (most inliers) the query covers, by the similarity
    they agree on: near 1 for a whole drawing, the share of it for a region (None: nothing matched with at least
    `FOOTPRINT_INLIERS`)."""
    aligned = [i for i in v.models if v.inliers.get(i, 0) >= FOOTPRINT_INLIERS]
    if not aligned:
        return None
    best = max(aligned, key=lambda i: v.inliers[i])
    if best in v.spans:  # a region spanning figures: the share of their sheet's
        unit, model = _span_picture(services, v, best), v.spans[best].model
    else:
        v.drawn |= unit_lines(services, [best])  # kept for `overlaid`
        unit, model = v.drawn.get(best), v.models[best]
    if unit is None:
        return None
    scale2 = abs(float(np.linalg.det(model[:, :2])))  # the similarity's scale, squared
    return picture.shape[0] * picture.shape[1] * scale2 / max(1, unit.shape[0] * unit.shape[1])


def copied(services: Services, v: Verification) -> int | None:
    """The inliers of the candidate the query is a copy of (a sketch of a figure, a scan or screenshot of a sheet):
    at least `COPY_INLIERS`, and `COPY_MARGIN` times any other patent's best; None when the query copies none."""
    if not v.inliers or (most := max(v.inliers.values())) < COPY_INLIERS:
        return None
    best = max(v.inliers, key=lambda i: v.inliers[i])
    patent_of = views.patents(services.store, list(v.inliers))
    others = [n for i, n in v.inliers.items() if patent_of.get(i) != patent_of.get(best)]
    return most if most >= COPY_MARGIN * max(others, default=0) else None


def unit_array(store: FigureStore, sheet: Sheet) -> np.ndarray | None:
    """A unit's picture, grey, at the scale its features are described at, from its sheet image (None
    without one)."""
    import cv2

    path = store.image_path(sheet)
    arr = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    if arr is None:
        return None
    h, w = arr.shape
    x0, y0, x1, y1 = figure_bounds(sheet.box, w, h)  # the picture ingest described
    arr = arr[y0:y1, x0:x1]
    return keypoints.scaled(arr, keypoints.sheet_scale(sheet.width or w, sheet.height or h)) if arr.size else None


def unit_lines(services: Services, ids: Sequence[str]) -> dict[str, np.ndarray]:
    """These units' lines at their features' scale: kept at ingest (`store.local_features`); an index made
    before is read from its sheet images once, and they are kept for the next query."""
    fs = feature_store(services)
    out = {i: a for i, blob in fs.get_lines(ids).items() if (a := lines.unpack(blob)) is not None}
    missing = [i for i in ids if i not in out]
    rows = []
    for i, s in services.store.sheets_by_id(missing).items() if missing else ():
        arr = unit_array(services.store, s)
        if arr is not None:
            out[i] = arr
            rows.append((i, s.patent_id, lines.pack(arr)))
    if rows:
        try:
            fs.put_lines(rows)
        except Exception as e:  # noqa: BLE001 - a read-only index still lays lines over, it only does not remember
            log.info("could not keep the lines of %d figures: %s", len(rows), e)
    return out


def overlaid(services: Services, picture: np.ndarray, v: Verification, ranked: Sequence[str],
             top: int | None = None, start: int = 0) -> dict[str, float]:
    """The share of lines that coincide (`models.lines`) with the query's `query_picture` for the first `top`
    (default `LINES_TOP`) of these candidates that verification aligned with it, past the first `start` (laid
    over already); `LINES_THREADS` at a time."""
    ids = [i for i in ranked if i in v.models][start:LINES_TOP if top is None else top]
    if not ids:
        return {}
    units = dict.fromkeys(u for i in ids for u in (v.spans[i].origins if i in v.spans else (i,)))
    if missing := [u for u in units if u not in v.drawn]:  # a span's units too: one read for all
        v.drawn |= unit_lines(services, missing)
    pairs = []  # (candidate, its picture, query frame → the picture's)
    for i in ids:
        if i in v.spans:  # a region spanning figures, laid over their sheet
            if (sheet := _span_picture(services, v, i)) is not None:
                pairs.append((i, sheet, v.spans[i].model))
        elif i in v.drawn:
            pairs.append((i, v.drawn[i], v.models[i]))
    kept: dict = {}  # the query's lines, drawn once for every candidate laid over it at one size
    if len(pairs) < 2:
        return {i: lines.coincidence(picture, unit, model, kept) for i, unit, model in pairs}
    with ThreadPoolExecutor(LINES_THREADS) as pool:  # OpenCV and numpy release the GIL while they work
        shares = pool.map(lambda p: lines.coincidence(picture, p[1], p[2], kept), pairs)
        return {i: share for (i, _, _), share in zip(pairs, shares, strict=True)}


def twins(laid: Mapping[str, float]) -> bool:
    """Whether `TWINS` or more of the candidates laid over coincide with the query (`LINES_FOUND`): its drawing
    is repeated, and more candidates are to be laid over (`LINES_MORE`)."""
    return sum(x >= LINES_FOUND for x in laid.values()) >= TWINS


def exact(services: Services, img: Image.Image, picture: np.ndarray, v: Verification, laid: Mapping[str, float],
          ranked: Sequence[str]) -> dict[str, float]:
    """How exactly the query's pixels are those of the first `EXACT_ANY` candidates laid over (`laid`, in `ranked`
    order) and of those whose lines coincide with it most (at least `LINES_FOUND`; in `ranked` order where they
    coincide alike), `EXACT_TOP` in all, when two or more are (`models.pixels`); the candidate's sheet is read from
    its image, at its resolution, `EXACT_THREADS` at a time."""
    import cv2

    aligned = [i for i in ranked if i in laid and (i in v.models or i in v.spans)]
    coincide = sorted((i for i in aligned if laid[i] >= LINES_FOUND), key=lambda i: -laid[i])
    ids = list(dict.fromkeys([*aligned[:EXACT_ANY], *coincide]))[:EXACT_TOP]
    if len(ids) < 2:
        return {}
    query = np.asarray(img.convert("L") if img.mode != "L" else img, dtype=np.uint8)
    if min(query.shape) < pixels.MIN_SIDE:
        return {}
    to_picture = np.diag([picture.shape[1] / query.shape[1], picture.shape[0] / query.shape[0], 1.0])
    small, to_query = pixels.shrunk(query)  # once for every candidate (a whole sheet: 5 MP)
    units = services.store.sheets_by_id(ids)
    by_sheet: dict[str, list[str]] = {}  # a sheet's figures share its image: read once
    for i in ids:
        if i in units and (path := services.store.image_path(units[i])).is_file():
            by_sheet.setdefault(str(path), []).append(i)

    def compared(path: str, on_it: list[str]) -> list[tuple[str, float | None]]:
        sheet = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if sheet is None:
            return []
        h, w = sheet.shape
        out = []
        for i in on_it:
            s = keypoints.sheet_scale(units[i].width or w, units[i].height or h)
            if i in v.spans:  # fitted on the whole sheet
                model, (x0, y0) = v.spans[i].model, (0, 0)
            else:
                model, (x0, y0) = v.models[i], figure_bounds(units[i].box, w, h)[:2]
            to_sheet = np.array([[1 / s, 0, x0], [0, 1 / s, y0], [0, 0, 1]]) @ np.vstack([model.astype(np.float64),
                                                                                         [0, 0, 1]])
            out.append((i, pixels.compared(small, sheet, to_sheet @ to_picture @ to_query)))
        return out

    if not by_sheet:
        return {}
    with ThreadPoolExecutor(min(EXACT_THREADS, len(by_sheet))) as pool:
        found = dict(pair for pairs in pool.map(compared, by_sheet, by_sheet.values()) for pair in pairs)
    return {i: a for i in ids if (a := found.get(i)) is not None}


def exactest(agreements: Mapping[str, float]) -> str | None:
    """The candidate whose pixels agree with the query's by `EXACT_MARGIN` more than any other's, and by
    `EXACT_LEAST` at least (`exact`)."""
    if len(agreements) < 2:
        return None
    first, second = sorted(agreements, key=lambda i: -agreements[i])[:2]
    best = agreements[first]
    return first if best >= EXACT_LEAST and best >= agreements[second] + EXACT_MARGIN else None


def same_pictures(agreements: Mapping[str, float]) -> list[str]:
    """The candidates whose pixels all agree with the query's, by `EXACT_LEAST` at least and within `EXACT_MARGIN`
    of the best, when two or more do: one picture indexed more than once (a design's repeated view), which nothing
    in the query tells apart; best first. Empty when one stands out (`exactest`) or none agrees."""
    best = max(agreements.values(), default=0.0)
    alike = sorted((i for i, a in agreements.items() if a >= EXACT_LEAST and a > best - EXACT_MARGIN),
                   key=lambda i: -agreements[i])
    return alike if len(alike) >= 2 else []
