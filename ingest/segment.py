"""Split a drawing sheet into its figures: one region per "FIG. n", so that a figure can be indexed alone.

A sheet often holds several figures (FIG. 2A, 2B and 3). OCR has read their labels and ingest has
assigned the sheet its FIG numbers; this module finds where each figure is.

How (``split_sheet``):
1. The sheet is binarised at a work scale (longest side WORK_SIDE pixels); the header and footer text
   lines of a page ("U.S. Patent ... Sheet 3 of 9", "EP 1 577 413 A1", "3/12") are blanked.
2. The ink is dilated a little and split into connected blobs; the ink of each FIG label is its own
   blob (a seed).
3. Blobs are joined by constrained single linkage: the closest pair of groups (gap between their boxes)
   is joined first, but two groups that each hold a label are never joined. A drawing's parts,
   reference numerals and leader lines are close to each other, so they join their drawing before the
   drawing joins its label, and the white space between figures keeps figures apart. A gap to a label
   that sits below its figure counts a little less (labels usually stand under or beside their figure).
4. A group of ink far from everything (gap > APART of the sheet) and big enough is a figure of its own
   even without a readable label: it gets the sheet's FIG numbers no label claimed, in reading order,
   or None.
5. Each group's box (ink and label) is a region; regions come in reading order (in the frame where the
   labels read, for landscape sheets).

With no label and no ink group that stands apart, the sheet is one region: its ink box ("ink"), or the
whole sheet when it is blank ("whole").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from core.types import Box, OcrToken
from models.linedraw import _drop_page_strips

WORK_SIDE = 1000  # the sheet is segmented with its longest side this many pixels
INK = 160  # gray below this is ink
DILATE = 3  # ink is dilated by this many work pixels before blobs are found
MIN_BLOB = 6  # blobs with fewer ink pixels are specks and ignored
BELOW = 0.8  # a gap from a figure down (or, on a turned sheet, toward the reading-frame bottom) to its label counts this much
APART = 0.06  # an unlabelled group this far (fraction of the sheet's longest side) from all others...
MIN_PART = 0.15  # ...and at least this share of the biggest group's ink is a figure of its own
MIN_SIDE = 0.2  # a gutter splits a group only if each side has this share of the sheet's ink per label
UNLABELLED_GUTTER = 0.02  # a sheet with several FIGs and no label read is cut only at gutters this wide...
UNLABELLED_SIDE = 0.15  # ...that leave this share of the ink on each side
CUT_TRIES = 3  # gutters tried per group, widest first

_CONFUSIONS = {"8": "B", "B": "8", "0": "O", "O": "0", "D": "0", "5": "S", "S": "5", "2": "Z", "Z": "2",
               "6": "G", "G": "6", "1": "I", "I": "1"}


@dataclass(frozen=True)
class FigureRegion:
    """One figure on a sheet."""

    box: Box  # pixel coords of the stored (unrotated) sheet image
    fig: str | None  # FIG number as patfig writes it ("2A", "3", "1.1"); None when no label is tied to it
    source: str  # how it was found: "labels+ink", "ink", "whole"


def _fig_of(text: str, figs: Sequence[str]) -> str | None:
    """The FIG of ``figs`` a label reads as, allowing a look-alike in the last place ("18" for "1B")."""
    known = {f.upper(): f for f in figs}
    text = text.upper()
    if text in known:
        return known[text]
    if text and text[-1] in _CONFUSIONS:
        return known.get(text[:-1] + _CONFUSIONS[text[-1]])
    return None


def _turn(tokens: Sequence[OcrToken]) -> int:
    """Quarter turns (counter-clockwise) to the frame where the FIG labels read: 3 when they run up the page."""
    labels = [t.box for t in tokens if t.kind == "fig_label"] or [t.box for t in tokens]
    tall = sum(1 for b in labels if (b.y1 - b.y0) > 1.3 * (b.x1 - b.x0))
    return 3 if labels and tall > len(labels) / 2 else 0


def _reading_key(box: np.ndarray, k: int, w: int, h: int) -> tuple[float, float]:
    """Sort key: rows top to bottom, left to right in a row, in the frame turned k quarters."""
    x0, y0, x1, y1 = box
    if k == 3:  # turned 270° ccw: (x, y) → (h - y, x)
        x0, y0, x1, y1 = h - y1, x0, h - y0, x1
    return (round((y0 + y1) / 2 / (0.12 * max(w, h))), (x0 + x1) / 2)


def _gaps(boxes: np.ndarray) -> np.ndarray:
    """Euclidean gap between every pair of boxes (x0, y0, x1, y1); 0 when they overlap."""
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    dx = np.maximum(0, np.maximum(x0[:, None] - x1[None, :], x0[None, :] - x1[:, None]))
    dy = np.maximum(0, np.maximum(y0[:, None] - y1[None, :], y0[None, :] - y1[:, None]))
    return np.hypot(dx, dy)


def _below(boxes: np.ndarray, labels: list[int], k: int) -> np.ndarray:
    """Mask [i, j]: label j sits below blob i (in the reading frame), so their gap is discounted."""
    out = np.zeros((len(boxes), len(boxes)), dtype=bool)
    for j in labels:
        lx0, ly0, lx1, ly1 = boxes[j]
        if k == 3:  # reading-frame "below" is stored-image "right"
            out[:, j] = boxes[:, 2] <= lx0 + 0.5 * (lx1 - lx0)
        else:
            out[:, j] = boxes[:, 3] <= ly0 + 0.5 * (ly1 - ly0)
        out[j, :] = out[:, j]
    return out


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _link(idx: np.ndarray, is_label: np.ndarray, gap: np.ndarray, apart: float) -> list[np.ndarray]:
    """Constrained single linkage of the items `idx`: closest groups first, never two labelled groups,
    and nothing joined across a gap wider than `apart` (such groups are decided later)."""
    pos = {int(i): n for n, i in enumerate(idx)}
    sub = gap[np.ix_(idx, idx)]
    parent = list(range(len(idx)))
    has_label = [bool(is_label[i]) for i in idx]
    flat = np.argsort(sub, axis=None)
    rows, cols = np.unravel_index(flat, sub.shape)
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if i >= j:
            continue
        if sub[i, j] > apart:
            break
        a, b = _find(parent, i), _find(parent, j)
        if a == b or (has_label[a] and has_label[b]):
            continue
        parent[b] = a
        has_label[a] = has_label[a] or has_label[b]
    out: dict[int, list[int]] = {}
    for n in range(len(idx)):
        out.setdefault(_find(parent, n), []).append(int(idx[n]))
    del pos
    return [np.array(v) for v in out.values()]


def _bare(parts: list[np.ndarray], mass: np.ndarray, is_label: np.ndarray, need: float) -> int:
    """How many parts hold a FIG label but less drawing ink than `need`."""
    return sum(1 for p in parts if is_label[p].any() and mass[p].sum() < need)


def _adopt(parts: list[np.ndarray], mass: np.ndarray, is_label: np.ndarray, gap: np.ndarray, need: float) -> list[np.ndarray]:
    """A label left without a drawing (its drawing beyond APART, as for a label above its figure with a
    caption line between) takes the nearest unlabelled group with a drawing, closest pairs first."""
    parts = list(parts)
    while True:
        bare = [i for i, p in enumerate(parts) if is_label[p].any() and mass[p].sum() < need]
        loose = [i for i, p in enumerate(parts) if not is_label[p].any() and mass[p].sum() >= need]
        if not bare or not loose:
            return parts
        _, i, j = min((float(gap[np.ix_(parts[i], parts[j])].min()), i, j) for i in bare for j in loose)
        parts[i] = np.concatenate([parts[i], parts[j]])
        del parts[j]


def _gutters(idx: np.ndarray, boxes: np.ndarray, ink: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Every white gutter across the items `idx` (either way): (width, items before it, items after it)."""
    out = []
    for axis in (0, 1):
        lo, hi = boxes[idx, axis], boxes[idx, axis + 2]
        order = np.argsort(lo, kind="stable")
        reach = np.maximum.accumulate(hi[order])
        for n in range(len(order) - 1):
            width = lo[order[n + 1]] - reach[n]
            if width > 0:
                out.append((float(width), idx[order[: n + 1]], idx[order[n + 1 :]]))
    return out


def _split_unlabelled(idx: np.ndarray, boxes: np.ndarray, mass: np.ndarray, parts: int, gutter: float) -> list[np.ndarray]:
    """A sheet with several FIGs and no label read: cut it at its widest gutters (at least `gutter` wide,
    with at least UNLABELLED_SIDE of the ink on each side) into at most `parts` parts."""
    out = [idx]
    total = mass[idx].sum()
    while len(out) < parts:
        best = None
        for n, part in enumerate(out):
            for width, a, b in _gutters(part, boxes, mass):
                if width >= gutter and min(mass[a].sum(), mass[b].sum()) >= UNLABELLED_SIDE * total:
                    if best is None or width > best[0]:
                        best = (width, n, a, b)
        if best is None:
            break
        _, n, a, b = best
        out[n : n + 1] = [a, b]
    return out


def _cut(
    idx: np.ndarray, boxes: np.ndarray, mass: np.ndarray, is_label: np.ndarray, gap: np.ndarray, apart: float,
    need: float,
) -> tuple[list[np.ndarray], int]:
    """Split the items `idx` at a white gutter (across the whole group, either way) that leaves FIG labels
    and drawing ink on both sides, recursively; a group that no gutter splits so is linked (`_link`).

    Of the gutters, the widest is taken unless it leaves a label without a drawing (a "bare" label: less
    ink than `need`) further down and a narrower one (of the CUT_TRIES widest) does not.
    Returns the parts and how many bare labels they leave.
    """
    labels = int(is_label[idx].sum())
    if labels <= 1:
        parts = _adopt(_link(idx, is_label, gap, apart), mass, is_label, gap, need)
        return parts, _bare(parts, mass, is_label, need)
    cuts: list[tuple[float, np.ndarray, np.ndarray]] = []
    for axis in (0, 1):
        lo, hi = boxes[idx, axis], boxes[idx, axis + 2]
        order = np.argsort(lo, kind="stable")
        reach = np.maximum.accumulate(hi[order])
        lab_cum = np.cumsum(is_label[idx][order])
        ink_cum = np.cumsum(np.where(is_label[idx][order], 0.0, mass[idx][order]))
        ink = ink_cum[-1]
        for n in range(len(order) - 1):
            width = lo[order[n + 1]] - reach[n]
            if width > 0 and 0 < lab_cum[n] < labels and need <= ink_cum[n] <= ink - need:
                cuts.append((float(width), idx[order[: n + 1]], idx[order[n + 1 :]]))
    best: tuple[int, list[np.ndarray]] | None = None
    for _, left, right in sorted(cuts, key=lambda c: -c[0])[:CUT_TRIES]:
        a, bare_a = _cut(left, boxes, mass, is_label, gap, apart, need)
        b, bare_b = _cut(right, boxes, mass, is_label, gap, apart, need)
        if best is None or bare_a + bare_b < best[0]:
            best = (bare_a + bare_b, a + b)
        if best[0] == 0:
            break
    if best is None:
        parts = _adopt(_link(idx, is_label, gap, apart), mass, is_label, gap, need)
        return parts, _bare(parts, mass, is_label, need)
    return best[1], best[0]


def split_sheet(image: Image.Image, tokens: Sequence[OcrToken], figs: Sequence[str]) -> list[FigureRegion]:
    """The figures on one sheet.

    `tokens` are the sheet's OCR tokens (kind "fig_label" for "FIG. n" labels, "numeral" for reference
    numerals; boxes in the image's pixel coords), `figs` the FIG numbers ingest assigned to the sheet
    (from labels or document order). A sheet with one figure gives one region (its ink box, or the whole
    sheet). Regions are in reading order and do not overlap much.
    """
    width, height = image.size
    whole = Box(x0=0, y0=0, x1=width, y1=height)
    one_fig = figs[0] if len(figs) == 1 else None
    scale = min(1.0, WORK_SIDE / max(width, height))
    gray = image.convert("L")
    if scale < 1.0:
        gray = gray.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX)
    ink = np.asarray(gray) < INK
    ink = _drop_page_strips(ink)
    h, w = ink.shape
    k = _turn(tokens)

    # the FIG labels: their ink is blanked and each becomes a seed blob
    label_boxes: list[list[float]] = []
    label_figs: list[str | None] = []
    label_texts: list[str] = []
    for t in tokens:
        if t.kind != "fig_label":
            continue
        b = [t.box.x0 * scale, t.box.y0 * scale, t.box.x1 * scale, t.box.y1 * scale]
        x0, y0, x1, y1 = int(b[0]), int(b[1]), int(np.ceil(b[2])) + 1, int(np.ceil(b[3])) + 1
        ink[max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1] = False
        label_boxes.append(b)
        label_figs.append(_fig_of(t.text, figs))
        label_texts.append(t.text.upper())

    grown = ndimage.binary_dilation(ink, iterations=DILATE) if DILATE else ink
    lab, n = ndimage.label(grown)
    lab[~ink] = 0  # blobs keep the boxes of their own ink, not of the dilation
    blob_boxes: list[list[float]] = []
    blob_ink: list[int] = []
    if n:
        counts = np.bincount(lab.ravel(), minlength=n + 1)
        for i, sl in enumerate(ndimage.find_objects(lab, max_label=n), start=1):
            if sl is None or counts[i] < MIN_BLOB:
                continue
            ys, xs = sl
            blob_boxes.append([xs.start, ys.start, xs.stop, ys.stop])
            blob_ink.append(int(counts[i]))
    if not blob_boxes:
        return [FigureRegion(whole, one_fig, "whole")]

    nb, nl = len(blob_boxes), len(label_boxes)
    boxes = np.array(blob_boxes + label_boxes, dtype=float)
    mass = np.array(blob_ink + [0] * nl, dtype=float)
    is_label = np.arange(nb + nl) >= nb
    gap = _gaps(boxes)
    gap = np.where(_below(boxes, list(range(nb, nb + nl)), k), gap * BELOW, gap)
    np.fill_diagonal(gap, np.inf)
    apart = APART * max(w, h)
    need = MIN_SIDE * mass.sum() / max(1, nl)
    if nl == 0 and len(figs) > 1:
        parts = _split_unlabelled(np.arange(nb), boxes, mass, len(figs), UNLABELLED_GUTTER * max(w, h))
    else:
        parts, _ = _cut(np.arange(nb + nl), boxes, mass, is_label, gap, apart, need)
    groups = {int(part[0]): [int(i) for i in part] for part in parts}
    size = np.zeros(nb + nl)
    for root, members in groups.items():
        size[root] = mass[members].sum()

    biggest = max(size[r] for r in groups)
    # a group: [box, ink mass, labels (indices), fig]
    found = []
    for root, members in groups.items():
        b = boxes[members]
        box = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
        labelled = [m - nb for m in members if m >= nb]
        found.append([box, float(size[root]), labelled, label_figs[labelled[0]] if labelled else None])

    def join(a: list, b: list) -> None:
        a[0] = np.array([min(a[0][0], b[0][0]), min(a[0][1], b[0][1]), max(a[0][2], b[0][2]), max(a[0][3], b[0][3])])
        a[1] += b[1]
        a[2] = a[2] + b[2]
        del found[next(i for i, x in enumerate(found) if x is b)]

    def nearest(g: list, pool: list) -> list | None:
        if not pool:
            return None
        d = _gaps(np.vstack([g[0]] + [p[0] for p in pool]))[0, 1:]
        return pool[int(np.argmin(d))]

    # a label standing alone (its drawing beyond APART, e.g. a label above or far below its figure)
    # takes the nearest big unlabelled group
    while True:
        bare = [g for g in found if g[2] and g[1] < MIN_PART * biggest]
        loose = [g for g in found if not g[2] and g[1] >= MIN_PART * biggest]
        if not bare or not loose:
            break
        pairs = [(float(_gaps(np.vstack([a[0], b[0]]))[0, 1]), i, j) for i, a in enumerate(bare) for j, b in enumerate(loose)]
        _, i, j = min(pairs)
        join(bare[i], loose[j])
    # small unlabelled groups (stray marks, a far part of a figure) join the nearest group
    for g in [g for g in found if not g[2] and g[1] < MIN_PART * biggest]:
        target = nearest(g, [o for o in found if o is not g and (o[2] or o[1] >= MIN_PART * biggest)])
        if target is not None:
            join(target, g)
    regions = [(g[0], g[3], g[2]) for g in found]

    regions.sort(key=lambda r: _reading_key(r[0], k, w, h))
    # FIG numbers: a label's own; else the sheet's FIGs no label claimed, in reading order; else the label as read
    free = [f for f in figs if f not in {r[1] for r in regions}]
    out = []
    for box, fig, labelled in regions:
        if fig is None and free:
            fig = free.pop(0)
        if fig is None and labelled:
            fig = label_texts[labelled[0]] or None
        out.append(FigureRegion(_to_box(box, scale, width, height), fig, "labels+ink" if labelled else "ink"))
    return out


def _to_box(b: np.ndarray, scale: float, width: int, height: int) -> Box:
    return Box(x0=max(0.0, float(b[0]) / scale), y0=max(0.0, float(b[1]) / scale),
               x1=min(float(width), float(b[2]) / scale), y1=min(float(height), float(b[3]) / scale))
