"""Local features of a drawing: ORB keypoints with binary descriptors (the visual words of `tools.regions`), and
SIFT keypoints (what spatial verification, `tools.verify`, matches), packed small.

Patent drawings are binary line art; ORB's FAST corners land on line ends, junctions and hatching, and its
256-bit descriptors are rotation invariant, so a region turned by 90° still matches. Measured on the sample
sheets (crops of 30–70% of a sheet, matched against every sheet, affine-RANSAC inliers): 500 keypoints per
unit at a sheet scale of 1000 pixels found the crop's own sheet first for 0.87 of crops, 0.80 at half
resolution and 0.83 turned; most misses were the identical drawing of a sibling application. (OpenCV 5 in
this environment has ORB and SIFT but not AKAZE.)

Scale: an indexed unit is a region of a drawing sheet, described at the scale that brings its *sheet* to
`SIDE` pixels, so every unit's keypoints live in one coordinate frame (1000 px ≈ a sheet's long side). A
query is an arbitrary picture (a crop at the sheet's resolution, a screenshot at half of it, a whole
figure); it is described at the scale that brings it to `QUERY_SIDE` pixels, held between the reference
sheet's scale and 1 (no enlargement), which won over the fixed sheet scale for half-resolution crops. A small
crop at a sheet's resolution is then described at up to 2.3 times its unit's scale, where text and hatching that
are a few pixels in the unit look nothing alike: such a query (`coarser`, `COARSE_STEP` times the reference
sheet's scale or more) is described at that scale too, its keypoints joined into one set (`joined`; matches
are mutual, so a unit's keypoint counts once). On bench/region_verify.py's figure crops of half B (held out)
P@1 rose from 0.632 to 0.737; the queries it fell on chose between copies of one drawing.

How many keypoints: a region of 30–70% of a sheet's width and height holds only that share of the sheet's
keypoints, so a unit keeps `N_FEATURES` = 1000 and a query `QUERY_FEATURES` = 500. Against 500 a unit (the
280 region queries of bench/region_verify.py, the whole sample index), ranking the verified candidates by
inliers alone found the crop's own sheet first for 0.725 of sheet crops instead of 0.575, and 0.625 of figure
crops instead of 0.550; a query of 1000 did worse than 500 (0.650), 2000 a unit about as well as 1000. It
costs 34 KB a unit instead of 17 KB and 1.1 ms a match instead of 0.7.

`pack`/`unpack` store one unit's features as bytes: a 4-byte header, then per keypoint its position (two
float16, in the unit's scaled frame) and its 32-byte descriptor: 36 bytes a keypoint, ~34 KB a unit.

Verification also matches SIFT (`SIFT_NAME`; RootSIFT: the descriptors L1-normalised and square-rooted when
matched, compared by L2), and adds the two kinds' inliers up (`tools.verify`). ORB's FAST corners and binary
tests are fragile across scales on thin lines; SIFT's blobs and gradient histograms less so, but they suffer
more where strokes are thickened or thinned (a sketch). On the 360 region queries of bench/region_verify.py
(inliers alone, the own unit against every other candidate of the scripts in bench/README), SIFT found the own
unit first for 144 of 172 queries of half A and 124 of 188 of half B, where ORB found 126 and 114 (boxes around
a drawn part: 35 of 40 instead of 23; sketches: 32 instead of 36). Over the product's candidates, ORB and SIFT
added up found 138 and 122, SIFT 134 and 110, ORB 118 and 103. Plain SIFT, 500 keypoints a unit, or 1000 a
query did no better. A unit's SIFT features cost 132 bytes a keypoint (~76 KB a unit on the sample: fewer than
1000 keypoints on sparse drawings) and ~100 ms to describe; a match ~1 ms (`_mutual_sift`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

NAME = "orb-1000-v1"  # identity of the features: stored with them, checked before use
SIDE = 1000  # a sheet's long side, in pixels, at the scale units are described
REF_SHEET_SIDE = 2300  # a stored sheet's long side at ingest's rendering (1700x2200 … 1728x2339)
QUERY_SIDE = 500  # a query is described at the scale bringing its long side here, within [sheet scale, 1]
N_FEATURES = 1000  # keypoints of an indexed unit (a sheet or a figure)
QUERY_FEATURES = 500  # keypoints of a query picture (a region of a unit holds a share of the unit's)
COARSE_STEP = 1.5  # a query described this much larger than a reference sheet's units is also described at theirs
# ORB's scale pyramid (the step between levels, the levels): a unit's spans 1.3^5 = 3.7x in 6 levels; a query's spans
# as much (1.2^7 = 3.6x) in finer steps, as its scale relative to the unit's is not known (a crop at the sheet's
# resolution, a screenshot at half of it). On the 360 region queries of bench/region_verify.py, the own unit had
# more inliers than every other candidate for 126 of 172 queries of half A and 114 of 188 of half B, against
# 123 and 111 with the unit's pyramid (1.15 in 10 levels: 124 and 117; more keypoints or a lower FAST threshold
# did not help)
UNIT_PYRAMID, QUERY_PYRAMID = (1.3, 6), (1.2, 8)
DESC_BYTES = 32
SIFT_NAME = "rootsift-1000-v1"  # identity of verification's features (`describe_sift`)
SIFT_FEATURES, SIFT_QUERY_FEATURES = 1000, 500  # keypoints of an indexed unit, of a query picture
SIFT_BYTES = 128  # a SIFT descriptor, stored as bytes (OpenCV's are whole numbers in 0–255)
_HEADER = struct.Struct("<HH")  # keypoint count, format version
_WIDTHS = {1: DESC_BYTES, 2: SIFT_BYTES}  # format version → bytes a descriptor


@dataclass
class Features:
    """Keypoint positions (n × 2, float32, in the described frame) and their descriptors (n × 32, uint8)."""

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.points)


EMPTY = Features(np.zeros((0, 2), np.float32), np.zeros((0, DESC_BYTES), np.uint8))
EMPTY_SIFT = Features(np.zeros((0, 2), np.float32), np.zeros((0, SIFT_BYTES), np.uint8))


def _gray(img: Image.Image) -> np.ndarray:
    if img.mode != "L":
        img = img.convert("L")
    return np.asarray(img, dtype=np.uint8)


def scaled_size(h: int, w: int, scale: float) -> tuple[int, int]:
    """The size (height, width) `scaled` gives a picture of this size at this scale."""
    return max(1, round(h * scale)), max(1, round(w * scale))


def scaled(arr: np.ndarray, scale: float) -> np.ndarray:
    """A grey picture resized by `scale`, as features are described from it (area-averaged when shrunk)."""
    import cv2

    h, w = arr.shape[:2]
    th, tw = scaled_size(h, w, scale)
    if (tw, th) == (w, h):
        return arr
    return cv2.resize(arr, (tw, th), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def describe(img: Image.Image, scale: float, n_features: int = N_FEATURES,
             pyramid: tuple[float, int] = UNIT_PYRAMID) -> Features:
    """ORB features of a picture resized by `scale`; positions in the resized frame. Never raises for a
    picture with nothing to describe (blank, 1 pixel): it has no features."""

    w, h = img.size
    if round(w * scale) < 16 or round(h * scale) < 16:
        return EMPTY
    return describe_scaled(scaled(_gray(img), scale), n_features, pyramid)


def describe_scaled(arr: np.ndarray, n_features: int = N_FEATURES,
                    pyramid: tuple[float, int] = UNIT_PYRAMID) -> Features:
    """ORB features of a grey picture already at the scale to describe it at (`describe`), over a scale `pyramid`
    (the step between levels, the levels: `UNIT_PYRAMID` for an indexed unit, `QUERY_PYRAMID` for a query)."""
    import cv2

    if min(arr.shape[:2]) < 16 or int(arr.max()) - int(arr.min()) < 32:  # tiny, or one flat tone: no line
        return EMPTY
    orb = cv2.ORB_create(  # pyright: ignore[reportAttributeAccessIssue]
        nfeatures=n_features, scaleFactor=pyramid[0], nlevels=pyramid[1], fastThreshold=10)
    kps, desc = orb.detectAndCompute(arr, None)
    if desc is None or not kps:
        return EMPTY
    return Features(np.array([k.pt for k in kps], dtype=np.float32), desc.astype(np.uint8))


def describe_sift(arr: np.ndarray, n_features: int = SIFT_FEATURES) -> Features:
    """SIFT features of a grey picture already at the scale to describe it at: what verification matches (the
    same frames as `describe_scaled`'s: a unit at its sheet's scale, a query at `query_scale`)."""
    import cv2

    if min(arr.shape[:2]) < 16 or int(arr.max()) - int(arr.min()) < 32:  # tiny, or one flat tone: no line
        return EMPTY_SIFT
    sift = cv2.SIFT_create(nfeatures=n_features)  # pyright: ignore[reportAttributeAccessIssue]
    kps, desc = sift.detectAndCompute(arr, None)
    if desc is None or not kps:
        return EMPTY_SIFT
    return Features(np.array([k.pt for k in kps], dtype=np.float32),
                    np.clip(np.rint(desc), 0, 255).astype(np.uint8))


def sheet_scale(sheet_width: int, sheet_height: int) -> float:
    """The scale at which the units of a sheet of this size are described."""
    return SIDE / max(1, sheet_width, sheet_height)


def query_scale(width: int, height: int) -> float:
    """The scale at which a query picture of this size is described (see the module docstring)."""
    ref = SIDE / REF_SHEET_SIDE
    return min(1.0, max(ref, QUERY_SIDE / max(1, width, height)))


def describe_unit(unit: Image.Image, sheet_width: int, sheet_height: int) -> Features:
    """An indexed unit (a sheet, or a figure's region of it), at its sheet's scale."""
    return describe(unit, sheet_scale(sheet_width, sheet_height))


def unit_scaled(unit: Image.Image, sheet_width: int, sheet_height: int) -> np.ndarray:
    """An indexed unit's picture, grey, at its sheet's scale: what `describe_unit` describes."""
    return scaled(_gray(unit), sheet_scale(sheet_width, sheet_height))


def query_picture(img: Image.Image) -> np.ndarray:
    """A query picture, grey, at `query_scale`: what `describe_query_picture` describes."""
    return scaled(_gray(img), query_scale(*img.size))


def coarser(width: int, height: int) -> float | None:
    """How much a query picture of this size, at `query_scale`, is shrunk to be described a second time at a
    reference sheet's scale, the scale of its units, when it is described `COARSE_STEP` times larger than that or
    more (a small crop at a sheet's resolution, whose finest details, text and hatching, are a few pixels in its
    unit); None otherwise."""
    factor = (SIDE / REF_SHEET_SIDE) / query_scale(width, height)
    return factor if factor * COARSE_STEP <= 1.0 else None


def joined(parts: list[tuple[Features, float]]) -> Features:
    """Features described at several scales of one picture, (features, the scale they were described at relative
    to the picture), as one set with their positions in the picture's frame."""
    kept = [(f, s) for f, s in parts if len(f)]
    if not kept:
        return parts[0][0]  # none: the first kind's empty features
    if len(kept) == 1 and kept[0][1] == 1.0:
        return kept[0][0]
    return Features(np.concatenate([f.points / s for f, s in kept]).astype(np.float32),
                    np.concatenate([f.descriptors for f, _ in kept]))


def describe_query_picture(arr: np.ndarray) -> Features:
    """A `query_picture`'s features: `QUERY_FEATURES` over `QUERY_PYRAMID`."""
    return describe_scaled(arr, QUERY_FEATURES, QUERY_PYRAMID)


def describe_query(img: Image.Image) -> Features:
    """A query picture's features, at `query_scale`."""
    return describe_query_picture(query_picture(img))


def describe_query_sift(arr: np.ndarray) -> Features:
    """A `query_picture`'s SIFT features, for verification: `SIFT_QUERY_FEATURES`."""
    return describe_sift(arr, SIFT_QUERY_FEATURES)


def pack(f: Features) -> bytes:
    """The features as bytes: a 4-byte header, then 36 bytes a keypoint (ORB) or 132 (SIFT)."""
    n = len(f)
    version = next(v for v, width in _WIDTHS.items() if width == f.descriptors.shape[1])
    return (_HEADER.pack(n, version) + f.points.astype(np.float16).tobytes()
            + f.descriptors.astype(np.uint8).tobytes())


def unpack(blob: bytes) -> Features:
    """Features from `pack`'s bytes; anything unreadable is no features."""
    if len(blob) < _HEADER.size:
        return EMPTY
    n, version = _HEADER.unpack_from(blob)
    width = _WIDTHS.get(version, 0)
    if not width or len(blob) != _HEADER.size + n * (4 + width):
        return EMPTY
    off = _HEADER.size
    points = np.frombuffer(blob, dtype=np.float16, count=2 * n, offset=off).reshape(n, 2).astype(np.float32)
    desc = np.frombuffer(blob, dtype=np.uint8, count=n * width, offset=off + 4 * n).reshape(n, width)
    return Features(points, desc)


# A match is a query keypoint's nearest unit keypoint that passes Lowe's ratio test at `RATIO` and whose own
# nearest query keypoint it is (mutual). Drawings repeat details (dashes, hatching, four identical screws), so a
# true match's second-nearest is often a copy of it: the stricter ratio of 0.8 alone threw those away. On the
# 280 region queries of bench/region_verify.py (the inliers alone, the own unit against the candidates), mutual
# with 0.9 found the own unit first for 99 of 132 queries of half A (tuned) and 91 of 148 of half B (held out),
# where the ratio of 0.8 alone found 88 and 85; the search back adds about 0.2 ms a match (1.3 ms in all)
RATIO = 0.9
RANSAC_PX = 8.0  # reprojection threshold in the unit's frame (a 1000-px sheet)
MIN_MATCHES = 5  # fewer matches than this: no geometry to verify
SCALE_RANGE = (0.15, 8.0)  # a similarity whose scale falls outside this is not a plausible view of a drawing


@dataclass
class Match:
    """How a query's features match a unit's: the inliers, and the similarity (2 × 3, query frame → unit frame)
    they agree on; no model when nothing verifiable matched. `pairs`: the matches RANSAC weighed (query keypoint
    indices, unit keypoint indices), for fitting them again with another unit's (`fit`)."""

    inliers: int
    model: np.ndarray | None = None
    pairs: tuple[np.ndarray, np.ndarray] | None = None


def match(query: Features, unit: Features) -> Match:
    """The query's features matched with the unit's: mutual nearest neighbours that pass the ratio test and agree on
    a similarity transform (rotation, uniform scale, shift) fitted by RANSAC."""
    if len(query) < MIN_MATCHES or len(unit) < 2 or query.descriptors.shape[1] != unit.descriptors.shape[1]:
        return Match(0)
    q, u = _mutual(query, unit) if query.descriptors.shape[1] == DESC_BYTES else _mutual_sift(query, unit)
    n, model = fit(query.points[q], unit.points[u])
    return Match(n, model, (q, u))


def fit(query_points: np.ndarray, unit_points: np.ndarray, query_ids: np.ndarray | None = None,
        ) -> tuple[int, np.ndarray | None]:
    """How many matched points (row by row) agree on one similarity transform fitted by RANSAC, and the
    transform (query frame → unit frame); (0, None) when fewer than `MIN_MATCHES` match or the scale is not a
    plausible view of a drawing. `query_ids`: the query keypoint of each row, when one keypoint may be matched
    more than once (with several units): it counts once."""
    import cv2

    if len(query_points) < MIN_MATCHES:
        return 0, None
    model, mask = cv2.estimateAffinePartial2D(query_points, unit_points, method=cv2.RANSAC,
                                              ransacReprojThreshold=RANSAC_PX, maxIters=500, confidence=0.99)
    if model is None or mask is None:
        return 0, None
    scale = float(np.hypot(model[0, 0], model[1, 0]))
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        return 0, None
    kept = mask.ravel().astype(bool)
    return (int(kept.sum()) if query_ids is None else len(np.unique(query_ids[kept]))), model


def _mutual(query: Features, unit: Features) -> tuple[np.ndarray, np.ndarray]:
    """ORB's matches (query and unit keypoint indices): Hamming nearest neighbours that pass the ratio test and are
    mutual."""
    import cv2

    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.descriptors, unit.descriptors, k=2)
    good = [p[0] for p in pairs if p and (len(p) < 2 or p[0].distance < RATIO * p[1].distance)]
    if len(good) < MIN_MATCHES:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # mutual: the unit keypoints matched, searched back among the query's (only those: half the cost of all)
    train = np.unique(np.array([m.trainIdx for m in good], dtype=np.int32))
    nearest = np.full(len(unit), -1, dtype=np.int32)
    for m in matcher.match(unit.descriptors[train], query.descriptors):
        nearest[train[m.queryIdx]] = m.trainIdx
    good = [m for m in good if nearest[m.trainIdx] == m.queryIdx]
    return np.array([m.queryIdx for m in good], np.int64), np.array([m.trainIdx for m in good], np.int64)


def _mutual_sift(query: Features, unit: Features) -> tuple[np.ndarray, np.ndarray]:
    """SIFT's matches, as `_mutual`'s, by L2 between RootSIFT descriptors. They are unit vectors, so one matrix
    product gives every distance (squared: 2 − 2 cos), both ways: 0.8 ms a match here, where OpenCV's brute-force
    matcher took 3–5 ms."""
    sim = rootsift(query.descriptors) @ rootsift(unit.descriptors).T
    rows = np.arange(len(sim))
    first, back = sim.argmax(axis=1), sim.argmax(axis=0)
    best = sim[rows, first]
    sim[rows, first] = -np.inf
    second = sim.max(axis=1)
    d1, d2 = (np.sqrt(np.maximum(0.0, 2.0 - 2.0 * c)) for c in (best, second))
    keep = (d1 < RATIO * d2) & (back[first] == rows)
    return rows[keep], first[keep]


def rootsift(desc: np.ndarray) -> np.ndarray:
    """RootSIFT: SIFT descriptors L1-normalised and square-rooted, so that L2 compares them as the Hellinger
    kernel does (Arandjelović & Zisserman 2012); each is a unit vector."""
    d = desc.astype(np.float32)
    return np.sqrt(d / (d.sum(axis=1, keepdims=True) + 1e-7))


def inliers(query: Features, unit: Features) -> int:
    """How many of the query's features match the unit's in one consistent arrangement (`match`)."""
    return match(query, unit).inliers
