"""Lines laid over lines: how much of a query's drawing coincides with a candidate's, once the two are aligned.

Spatial verification (`models.keypoints.match`) finds the similarity that carries a query's details onto a
unit's. Many units share some details in one arrangement with a region of a drawing: the same patent's other
views of a design, its other sheets, a sibling design. Their pixels tell them apart: the unit's picture is laid
over the query's by that similarity, both are cut to their lines (the ink; of a filled area, its outline) at
the scale their features were described at, and the lines that coincide within `TOLERANCE` pixels are counted
both ways: the query's lines found on the unit (precision) and the unit's lines under the query found in the
query (recall). Their harmonic mean is near 1
for the drawing the query was cut from (or the same drawing published again) and falls with every line that
differs: a sibling's other shading, a view drawn from another side, a line the query does not have.

Measured on the region queries of the sample index (bench/region_verify.py), a tolerance of 1 pixel (3 × 3)
and of 2 pixels and a normalised cross-correlation of the grey pictures ranked alike; the share of lines is
kept as it reads plainly ("87% of the lines coincide").
"""

from __future__ import annotations

import numpy as np

from models.keypoints import scaled, scaled_size

INK = 200  # a grey level below this is ink, at the described scale (a thin line resized down turns grey)
TOLERANCE = 1  # pixels, in the query's described frame: lines this close coincide
MIN_INK = 30  # fewer ink pixels than this on either side: nothing to compare
# the two are compared at the coarser one's scale: a query finer than the unit (a region cut at full resolution is
# described at up to twice its sheet's scale, a unit at its sheet's) is brought down to the unit's, no further than
# `MIN_SCALE` of its size. Laid over it enlarged instead, the unit's kept lines (two tones) thickened and missed the
# query's thin ones: bench/region_verify.py's figure crops coincided with their own figure by a median 0.80 (10th
# percentile 0.29), now 0.99 (0.72), and the best other candidate by 0.49, now 0.62
MIN_SCALE = 0.3


def pack(unit: np.ndarray) -> bytes:
    """A unit's picture (grey, at its features' scale) as it is kept: its ink in two tones, a PNG (~15 KB)."""
    import cv2

    ok, png = cv2.imencode(".png", np.where(unit < INK, 0, 255).astype(np.uint8), [cv2.IMWRITE_PNG_BILEVEL, 1])
    if not ok:
        raise ValueError("could not encode a unit's lines")
    return png.tobytes()


def unpack(blob: bytes) -> np.ndarray | None:
    """`pack`'s picture back (0 ink, 255 paper); None for anything unreadable."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_GRAYSCALE) if blob else None
    return arr if arr is not None and arr.size else None


def coincidence(query: np.ndarray, unit: np.ndarray, model: np.ndarray,
                kept: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = None) -> float:
    """The share of lines that coincide (0–1) between a query picture and a unit's, both grey and at the scales
    their features were described at, `model` carrying query coordinates onto the unit's (2 × 3, as
    `models.keypoints.match` gives it), compared at the coarser one's scale (`MIN_SCALE`). The unit, in two
    tones, is drawn into the query's frame (a pixel a fifth ink is ink, as a thin line's grey is); where it does
    not reach, the query's lines find nothing. `kept`: the query's lines by the size they were compared at, for
    the next candidate laid over the same query (one query, many candidates)."""
    import cv2

    model = model.astype(np.float64)
    scale = float(np.hypot(model[0, 0], model[1, 0]))
    h, w = query.shape[:2]
    if scale < 1:  # the unit is coarser: the query brought down to its scale (`MIN_SCALE`)
        th, tw = scaled_size(h, w, max(scale, MIN_SCALE))
        model = model * np.array([[w / tw, h / th, 1.0]])  # the smaller query's frame → the unit's
        h, w = th, tw
    if kept is None or (found := kept.get((h, w))) is None:
        q = _lines(scaled(query, max(scale, MIN_SCALE)) if scale < 1 else query)
        found = (q, cv2.dilate(q, _NEAR))
        if kept is not None:
            kept[(h, w)] = found
    q, near_q = found
    back = cv2.invertAffineTransform(model)
    two_tone = np.where(unit < INK, 0, 255).astype(np.uint8)  # as `pack` keeps it
    laid = cv2.warpAffine(two_tone, back, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    u = _lines(laid)
    nq, nu = int(q.sum()), int(u.sum())
    if nq < MIN_INK or nu < MIN_INK:
        return 0.0
    precision = int((q & cv2.dilate(u, _NEAR)).sum()) / nq
    recall = int((u & near_q).sum()) / nu
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


_NEAR = np.ones((2 * TOLERANCE + 1, 2 * TOLERANCE + 1), np.uint8)  # lines this close coincide


def _lines(gray: np.ndarray) -> np.ndarray:
    """The ink's lines: a thin line is all its pixels, a filled or shaded area only its outline (a black
    area would coincide with itself however it were shifted)."""
    import cv2

    ink = (gray < INK).astype(np.uint8)
    return ink & (1 - cv2.erode(ink, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0))
