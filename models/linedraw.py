"""A weight-free visual encoder for binary patent line drawings (``linedraw:lbp-v1``).

The default offline encoder joins ``lbp`` with CRAFT backbone features: ``linedraw:lbp-craft-v1``
(models/lbp_craft.py); ``lbp`` alone remains its fallback without the EasyOCR weights, and ``PATFIG_LINEDRAW=lbp``.

Preprocessing: grayscale (transparency → white) → scale so that the mean stroke width is STROKE_PX pixels
(so a sheet, a crop of it and a rescan land at about the same scale, whatever their dpi) → binarise →
on page-shaped images blank the short text lines in the top and bottom margins (header "Sheet 1 of 5",
"EP 1 577 413 A1", sheet number "3/12", footer) → crop to the ink bounding box → descriptor → L2 norm.

Descriptors (names usable in ``LineDrawEncoder(descriptor)``):
- ``lbp`` (default): histogram of the 3×3 binary ink patterns at work scale (local binary patterns),
  pooled over the whole drawing, the 512 patterns merged into their 139 classes under 90° rotation (so
  it is rotation invariant: landscape sheets are printed turned on the page), power-normalised (^0.3).
  It describes what the drawing is made of: line directions, corners, junctions, line ends, hatching,
  solid fills, lettering.
- ``hog``: a HOG pyramid: 12 unsigned gradient orientations of the ink map (longest side 160 px), pooled
  over 1×1, 2×2, 4×4 and 8×8 grids laid over the ink box, square-rooted per level.
- ``ahdh``: the adaptive hierarchical density histogram of Sidiropoulos et al. (2011), built for binary
  patent images: the ink is split recursively at its centroid into quadrants; levels 1-3 give each
  quadrant's share of ink and the centroid's relative position, levels 4-8 a histogram of the 4-bit
  "quadrant denser than its parent" codes.
``a+b`` concatenates descriptors with equal weight; ``-r4`` sums one over the four 90° rotations.

Chosen by measurement (``python -m bench.visual_descriptor``): DeepPatent re-identification on the 331
drawing sheets of the 42 sample patents (9 USPTO ZIPs at 300 dpi, 33 PDFs rendered at 200 dpi), every sheet
querying all others, relevant = the other sheets of the same patent; crop = a seeded random 40% region of
a sheet must find its sheet ("rot" turned 90°, "half" at half resolution):

    descriptor  dim   mAP    P@1    MRR@10  crop P@1  rot-crop P@1  half-crop P@1  ms/sheet
    lbp         139   0.378  0.547  0.648   0.713     0.713         0.245          31
    hog         1020  0.113  0.161  0.284   0.284     0.009         0.239          28
    ahdh        206   0.127  0.152  0.273   0.151     0.009         0.082          106
    hog+ahdh    1226  0.134  0.167  0.297   0.278     0.018         0.139          112
    lbp+hog     1159  0.252  0.371  0.519   0.610     0.133         0.369          33
    hog-r4      1020  0.100  0.116  0.216   0.118     0.118         0.079          38
    ahdh-r4     206   0.129  0.155  0.278   0.066     0.066         0.030          278
    (random vectors: mAP 0.045, P@1 0.024; ms include preprocessing, on a shared 2-core machine)

Summing LBP histograms over scales {1, .7, .5} raises half-crop P@1 to 0.353 but lowers mAP to 0.326,
so the default stays single-scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from core.errors import ModelUnavailable

DEFAULT_DESCRIPTOR = "lbp"
STROKE_PX = 2.0  # images are scaled so that their mean stroke width becomes this many pixels
MAX_UPSCALE = 2.0
MAX_SIDE = 2200  # the work image's longest side never exceeds this
INK_THRESHOLD = 200  # gray < this is ink (after reduction thin lines are gray, not black)
PAGE_ASPECT = (1.2, 1.6)  # height / width of a page-shaped image...
PAGE_MIN_PX = 700  # ...whose height (at work scale) is at least this
STRIP_ZONE = 0.14  # header/footer text lines are looked for in this top/bottom fraction of a page
STRIP_MAX_HEIGHT = 0.03  # ...are at most this high
STRIP_GAP = 0.005  # ...and are separated from the drawing by a blank band at least this high

HOG_SIDE = 160
HOG_BINS = 12
HOG_GRIDS = (1, 2, 4, 8)
LBP_POWER = 0.3
AHDH_LEVELS = 8
AHDH_DENSITY_LEVELS = 3


def _is_page(width: int, height: int) -> bool:
    """A whole portrait page (header, margins), as opposed to a crop or a sketch."""
    return height >= PAGE_MIN_PX and PAGE_ASPECT[0] <= height / max(width, 1) <= PAGE_ASPECT[1]


def stroke_width(gray: np.ndarray) -> float:
    """Mean width in pixels of the ink strokes: the mean length of the ink runs across rows and columns.

    Every 4th row and column is read. Runs longer than three times the median (solid areas, lines
    crossed lengthwise) are left out.
    """
    ink = gray < 160
    lengths = []
    for a in (ink[::4], ink[:, ::4].T):
        edges = np.diff(np.pad(a, ((0, 0), (1, 1))).astype(np.int8), axis=1).ravel()
        lengths.append(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
    runs = np.concatenate(lengths)
    if runs.size == 0:
        return STROKE_PX
    runs = runs[runs <= 3 * np.median(runs)]
    return float(runs.mean())


def work_scale(gray: Image.Image) -> float:
    """The factor that brings the strokes of ``gray`` to STROKE_PX pixels.

    Scaling by stroke width rather than by dpi makes a crop or a rescan of a sheet land at about the same
    scale as the sheet itself, and needs no dpi tag. It is least exact below ~150 dpi, where strokes are
    only 1-2 px wide (see the half-crop figures above).
    """
    scale = STROKE_PX / max(stroke_width(np.asarray(gray)), 0.5)
    return min(scale, MAX_UPSCALE, MAX_SIDE / max(gray.size))


def _gray(image: Image.Image) -> np.ndarray:
    """The image as uint8 grayscale at work scale (see :func:`work_scale`), transparent areas white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    gray = image.convert("L")
    scale = work_scale(gray)
    if abs(scale - 1.0) > 0.02:
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
        gray = gray.resize(size, resample)
    return np.asarray(gray)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where ``flags`` is true."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def _drop_page_strips(ink: np.ndarray) -> np.ndarray:
    """Blank the short text lines in the top and bottom margins of a page-shaped image.

    Those are the header ("U.S. Patent ... Sheet 1 of 5", "EP 1 577 413 A1"), the sheet number ("3/12")
    and the footer ("SUBSTITUTE SHEET (RULE 26)"): the same on every sheet, so they only add noise.
    """
    h, w = ink.shape
    if not _is_page(w, h):
        return ink  # not a page: a crop or a sketch keeps everything
    runs = _runs(ink.sum(axis=1) >= 2)
    zone, gap, tall = STRIP_ZONE * h, max(2.0, STRIP_GAP * h), STRIP_MAX_HEIGHT * h
    ink = ink.copy()
    while len(runs) >= 2 and runs[0][1] <= zone and runs[0][1] - runs[0][0] <= tall \
            and runs[1][0] - runs[0][1] >= gap:
        ink[runs[0][0] : runs[0][1]] = False
        runs.pop(0)
    while len(runs) >= 2 and runs[-1][0] >= h - zone and runs[-1][1] - runs[-1][0] <= tall \
            and runs[-1][0] - runs[-2][1] >= gap:
        ink[runs[-1][0] : runs[-1][1]] = False
        runs.pop()
    return ink


def _ink(image: Image.Image) -> tuple[np.ndarray, tuple[int, int, int, int] | None, float]:
    """Ink mask at work scale with page strips blanked, its ink box (x0, y0, x1, y1) and the scale."""
    gray = _gray(image)
    scale = gray.shape[1] / max(image.width, 1)
    ink = gray < INK_THRESHOLD
    if ink.mean() > 0.5:  # white lines on dark ground
        ink = ~ink
    ink = _drop_page_strips(ink)
    rows = np.flatnonzero(ink.sum(axis=1) >= 2)
    cols = np.flatnonzero(ink.sum(axis=0) >= 2)
    if rows.size == 0 or cols.size == 0:
        return ink, None, scale
    return ink, (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1), scale


def ink_box(image: Image.Image) -> np.ndarray:
    """Boolean ink mask of ``image`` at work scale, page strips removed, cropped to the ink.

    An image without ink gives a 1×1 empty mask.
    """
    ink, box, _ = _ink(image)
    if box is None:
        return np.zeros((1, 1), dtype=bool)
    x0, y0, x1, y1 = box
    return ink[y0:y1, x0:x1]


def ink_bounds(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The drawing's box (x0, y0, x1, y1) in ``image`` pixels, without page header/footer; None if blank."""
    _, box, scale = _ink(image)
    if box is None:
        return None
    x0, y0, x1, y1 = (v / scale for v in box)
    return (max(0, int(x0)), max(0, int(y0)), min(image.width, round(x1)), min(image.height, round(y1)))


def _resize(mask: np.ndarray, side: int) -> np.ndarray:
    """Ink density in [0, 1] with the longest side ``side``, aspect kept (box filter)."""
    h, w = mask.shape
    scale = side / max(h, w)
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    im = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)
    return np.asarray(im, dtype=np.float32) / 255.0


def _hog(mask: np.ndarray) -> np.ndarray:
    """HOG pyramid of an ink mask: HOG_BINS unsigned orientations × grids in HOG_GRIDS."""
    d = _resize(mask, HOG_SIDE)
    gy, gx = np.gradient(d)
    mag = np.hypot(gx, gy).ravel()
    ang = (np.arctan2(gy, gx).ravel() % np.pi) * (HOG_BINS / np.pi)
    lo = np.floor(ang).astype(np.int64) % HOG_BINS
    hi = (lo + 1) % HOG_BINS
    w_hi = (ang - np.floor(ang)) * mag
    w_lo = mag - w_hi
    h, w = d.shape
    yy, xx = np.mgrid[0:h, 0:w]
    parts = []
    for g in HOG_GRIDS:
        cell = (yy * g // h * g + xx * g // w).ravel()
        n = g * g * HOG_BINS
        hist = np.bincount(cell * HOG_BINS + lo, w_lo, n) + np.bincount(cell * HOG_BINS + hi, w_hi, n)
        hist = np.sqrt(hist / max(hist.sum(), 1e-9))
        parts.append(hist / np.sqrt(g))  # finer grids weigh less, as in a spatial pyramid
    return np.concatenate(parts)


def _ahdh(mask: np.ndarray) -> np.ndarray:
    """Adaptive hierarchical density histogram of an ink mask (Sidiropoulos et al., 2011)."""
    b = mask.astype(np.float64)
    h, w = b.shape
    ys, xs = np.mgrid[0:h, 0:w]

    def integral(a: np.ndarray) -> np.ndarray:
        out = np.zeros((h + 1, w + 1))
        out[1:, 1:] = a.cumsum(0).cumsum(1)
        return out

    s_n, s_x, s_y = integral(b), integral(b * xs), integral(b * ys)

    def box(s: np.ndarray, x0, x1, y0, y1) -> np.ndarray:
        return s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]

    x0, x1 = np.array([0]), np.array([w])
    y0, y1 = np.array([0]), np.array([h])
    feats: list[np.ndarray] = []
    for level in range(1, AHDH_LEVELS + 1):
        n = box(s_n, x0, x1, y0, y1)
        safe = np.maximum(n, 1e-9)
        cx = np.where(n > 0, box(s_x, x0, x1, y0, y1) / safe + 0.5, (x0 + x1) / 2)
        cy = np.where(n > 0, box(s_y, x0, x1, y0, y1) / safe + 0.5, (y0 + y1) / 2)
        cx = np.clip(np.rint(cx).astype(np.int64), x0, x1)
        cy = np.clip(np.rint(cy).astype(np.int64), y0, y1)
        # children in order: top-left, top-right, bottom-left, bottom-right
        kx0 = np.stack([x0, cx, x0, cx], 1).ravel()
        kx1 = np.stack([cx, x1, cx, x1], 1).ravel()
        ky0 = np.stack([y0, y0, cy, cy], 1).ravel()
        ky1 = np.stack([cy, cy, y1, y1], 1).ravel()
        kn = box(s_n, kx0, kx1, ky0, ky1).reshape(-1, 4)
        if level <= AHDH_DENSITY_LEVELS:
            share = np.where(n[:, None] > 0, kn / safe[:, None], 0.25) - 0.25
            rel_x = (cx - x0) / np.maximum(x1 - x0, 1) - 0.5
            rel_y = (cy - y0) / np.maximum(y1 - y0, 1) - 0.5
            feats.append(np.concatenate([share.ravel(), rel_x, rel_y]) / 2 ** (level - 1))
        else:
            area = np.maximum((kx1 - kx0) * (ky1 - ky0), 1).reshape(-1, 4)
            parent = n / np.maximum((x1 - x0) * (y1 - y0), 1)
            denser = (kn / area) > parent[:, None]
            code = denser @ np.array([1, 2, 4, 8])
            hist = np.bincount(code[n > 0], minlength=16).astype(np.float64)
            feats.append(np.sqrt(hist / max(hist.sum(), 1.0)) - 0.25)
        x0, x1, y0, y1 = kx0, kx1, ky0, ky1
    return np.concatenate(feats)


def _rotation_classes() -> np.ndarray:
    """For each 3×3 pattern code, the smallest code among its four 90° rotations."""
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # bit k ↔ offsets[k]

    def rot90(code: int) -> int:
        out = 0
        for k, (dy, dx) in enumerate(offsets):
            if code >> k & 1:
                out |= 1 << offsets.index((-dx, dy))
        return out

    table = np.zeros(512, dtype=np.int64)
    for code in range(512):
        turns = [code]
        for _ in range(3):
            turns.append(rot90(turns[-1]))
        table[code] = min(turns)
    return table


_LBP_CLASS = _rotation_classes()
_LBP_BINS = np.unique(_LBP_CLASS)[1:]  # 139 rotation classes; the empty pattern (0) is left out


def _lbp(mask: np.ndarray) -> np.ndarray:
    """Histogram of the 3×3 binary ink patterns (local binary patterns), 90°-rotation invariant."""
    padded = np.pad(mask.astype(np.uint16), 1)
    h, w = mask.shape
    code = np.zeros((h, w), dtype=np.uint16)
    for k, (dy, dx) in enumerate((dy, dx) for dy in (0, 1, 2) for dx in (0, 1, 2)):
        code |= padded[dy : dy + h, dx : dx + w] << k
    counts = np.bincount(code.ravel(), minlength=512)
    hist = np.bincount(_LBP_CLASS, weights=counts, minlength=512)[_LBP_BINS]
    return (hist / max(hist.sum(), 1.0)) ** LBP_POWER


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


BASE_DESCRIPTORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "hog": _hog,
    "ahdh": _ahdh,
    "lbp": _lbp,
}


def descriptor_fn(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The function ink mask → unit vector for a name like ``hog``, ``ahdh-r4`` or ``lbp+hog``.

    ``a+b`` concatenates the unit vectors of ``a`` and ``b`` with equal weight; ``-r4`` sums a
    descriptor over the four 90° rotations of the mask (``lbp`` is rotation invariant already).
    """
    base, _, suffix = name.partition("-")
    parts = base.split("+")
    if suffix not in ("", "r4") or not all(p in BASE_DESCRIPTORS for p in parts) or len(set(parts)) < len(parts):
        raise ValueError(
            f"unknown line-drawing descriptor {name!r}; use one of {sorted(BASE_DESCRIPTORS)}, "
            "joined with '+', optionally ending in '-r4'"
        )
    fns = [BASE_DESCRIPTORS[p] for p in parts]

    def one(mask: np.ndarray) -> np.ndarray:
        vec = _unit(np.concatenate([_unit(fn(mask)) for fn in fns]))
        if not vec.any():  # no ink at all: the same neutral unit vector for every blank image
            vec = np.full(vec.size, 1.0 / np.sqrt(vec.size))
        return vec

    if suffix == "r4":
        return lambda mask: _unit(sum(one(np.rot90(mask, k)) for k in range(4)))
    return one


class LineDrawEncoder:
    """Weight-free descriptor of binary line drawings; image→image only (no text→image)."""

    cross_modal = False

    def __init__(self, descriptor: str = DEFAULT_DESCRIPTOR):
        self._fn = descriptor_fn(descriptor)
        self.descriptor = descriptor
        self.name = f"linedraw:{descriptor}-v1"
        self.dim = int(self._fn(np.ones((8, 8), dtype=bool)).size)

    def embed_images(self, images: Sequence[Image.Image]) -> list[list[float]]:
        """One L2-normalised vector per image (every blank image gives the same uniform vector)."""
        return [self._fn(ink_box(im)).astype(np.float32).tolist() for im in images]

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """Refused: a line-drawing descriptor has no text side."""
        raise ModelUnavailable(
            "text->image needs CLIP weights: run `patfig models pull` with internet, or set "
            "PATFIG_CLIP__CHECKPOINT=/path/to/open_clip.pt "
            "(the line-drawing fallback only compares images; text queries go through linked text)"
        )
