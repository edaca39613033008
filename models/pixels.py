"""Pixels laid over pixels: how exactly a query is a piece of one picture of the index.

One drawing is often in the index more than once: a patent's US and WO publications print the same sheets, and a
design repeats a view. Their details and their lines coincide with a region cut from one of them alike
(`models.keypoints`, `models.lines`: 99–100% of the lines for each), so those rank them by chance. Only the sheet
the region was cut from holds its very pixels: another publication is another scan or rendering of the drawing,
its strokes a little thicker or thinner, shifted by a fraction of a pixel here and there.

The sheet is brought into the query's frame by the similarity verification found (at the query's resolution, at
most `SIDE` pixels on its long side), the alignment is refined to a fraction of a pixel (ECC, Evangelidis and
Psarakis 2008: `cv2.findTransformECC`, affine), and the two grey pictures, both blurred a little (`BLUR`), are
compared by normalised cross-correlation: `agreement`, 1 for the same pixels.

Measured on the region queries of bench/region_verify.py (three sets of seeded queries, full and half resolution,
the candidates whose lines coincide): a crop's own unit agrees 0.996–0.997 at the median (10th percentile
0.948–0.994), every other 0.914–0.973 at the median (90th percentile 0.983–0.995). WO2018223038's FIG. 4 cut at
full resolution: its own sheet 0.997, the US publication's 0.980. A design's repeated view that is the same
picture agrees alike, and nothing tells those apart.
"""

from __future__ import annotations

import numpy as np

SIDE = 600  # pixels: a larger query is compared brought down to this long side
BLUR = 1.0  # the Gaussian's sigma, in the query's pixels
ECC_STEPS, ECC_EPS = 20, 1e-3  # the refinement stops after this many steps or a change this small (50 and 1e-4
# gave the same agreements to the fourth decimal, in twice the time)
MIN_SIDE = 16  # a query smaller than this on either side is not compared


def agreement(query: np.ndarray, sheet: np.ndarray, transform: np.ndarray) -> float | None:
    """How exactly `query` (grey) is a piece of `sheet` (grey, at its own resolution): the normalised
    cross-correlation of the two, `transform` (3 × 3) carrying the query's pixels onto the sheet's, the alignment
    refined first; None when there is nothing to compare (a tiny or flat query, the sheet not under it)."""
    if min(query.shape[:2]) < MIN_SIDE:
        return None
    small, to_query = shrunk(query)
    return compared(small, sheet, transform @ to_query)


def shrunk(query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The query as `agreement` compares it, brought down to `SIDE` pixels on its long side when larger, and the
    matrix (3 × 3) carrying its pixels onto the query's: shrunk once for all the candidates it is compared with."""
    import cv2

    h, w = query.shape[:2]
    f = min(1.0, SIDE / max(h, w))
    if f >= 1.0:
        return query, np.eye(3)
    small = cv2.resize(query, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return small, np.diag([w / small.shape[1], h / small.shape[0], 1.0])


def compared(query: np.ndarray, sheet: np.ndarray, transform: np.ndarray) -> float | None:
    """`agreement` of a query already `shrunk` (`transform` carrying its pixels onto the sheet's)."""
    import cv2

    h, w = query.shape[:2]
    back = np.linalg.inv(transform.astype(np.float64))[:2]
    shrink = float(np.hypot(transform[0, 0], transform[1, 0]))  # sheet pixels per query pixel
    laid = cv2.warpAffine(sheet, back, (w, h), flags=cv2.INTER_AREA if shrink > 1.2 else cv2.INTER_LINEAR,
                          borderValue=255)
    q, u = query.astype(np.float32), laid.astype(np.float32)
    if float(q.std()) < 1.0 or float(u.std()) < 1.0:
        return None
    a = cv2.GaussianBlur(q, (0, 0), BLUR)
    b = cv2.GaussianBlur(_refined(q, u), (0, 0), BLUR)
    a -= a.mean()
    b -= b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else None


def _refined(query: np.ndarray, laid: np.ndarray) -> np.ndarray:
    """`laid` (float, in the query's frame) aligned to `query` to a fraction of a pixel by ECC (affine), or as it
    is when the refinement does not converge (compared as verification aligned them)."""
    import cv2

    h, w = query.shape[:2]
    try:
        _, warp = cv2.findTransformECC(query, laid, np.eye(2, 3, dtype=np.float32), cv2.MOTION_AFFINE,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_STEPS, ECC_EPS),
                                       np.full((h, w), 255, np.uint8), 3)
    except cv2.error:
        return laid
    return cv2.warpAffine(laid, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=255)
