"""Split a drawing sheet into its figures: one region per "FIG. n", so that a figure can be indexed alone.

A sheet often holds several figures (FIG. 2A, 2B and 3). OCR has read their labels and ingest has
assigned the sheet its FIG numbers; :func:`split_sheet` finds where each figure is.

How:
1. The sheet is binarised at a work scale (longest side WORK_SIDE pixels) and the header and footer
   text lines of a page ("U.S. Patent ... Sheet 3 of 9", "EP 1 577 413 A1", "3/12") are blanked.
2. The ink of each FIG label is blanked and the label becomes a seed item. The rest of the ink is
   dilated a little and split into connected blobs (items with a box and an ink mass).
3. XY-cut: the items are split at the widest white gutter (a band, either way, that no item crosses)
   that leaves at least one label and a drawing's worth of ink on each side, recursively. This is what
   keeps apart figures that stand in a row with their labels in a row below them, however close the
   drawings are. If the widest gutter leaves a label without a drawing further down (a label above its
   figure, cut off from it), the next widest of CUT_TRIES is tried.
4. A part that no gutter splits is linked: constrained single linkage joins the closest pair of groups
   first (gap between boxes) but never two groups that hold a label, and nothing across a gap wider
   than APART. A drawing's strokes, numerals and leader lines are close together, so they join before
   the drawing meets a label. A label that ends up without a drawing takes the nearest unlabelled one.
5. Over the whole sheet: a label still alone, with no unlabelled drawing anywhere, gets a drawing cut
   free from the labelled part with the most ink, at the widest edge of that part's minimum spanning
   tree (two drawings that linked before either met a label); a sheet with fewer figures than FIG
   numbers cuts parts so too, to find a figure whose label was not read.
6. When every FIG of the sheet has its label, unlabelled ink joins the nearest labelled figure (a far
   part of a figure, not a figure of its own); otherwise an unlabelled group with MIN_PART of the
   biggest group's ink is a figure of its own and smaller ones join the nearest group. Each group's box
   (ink and label) is a region.
7. FIG numbers: a region's label, matched to the sheet's FIGs as ingest matches them ("18" reads as
   "1B" when the sheet has a FIG 1B); a region without one takes the sheet's FIGs that no label claimed,
   in reading order; a label that is none of the sheet's FIGs names its region as read.

A sheet with several FIGs and no label read is cut at its widest gutters into as many parts (step 3
without labels). Regions come in reading order, in the frame where the labels read (landscape sheets
are turned). Measured with ``python bench/figure_segmentation.py`` (bench/results/figure_segmentation.txt):
on the 81 hand-checked sheets it was developed on, 155 of 173 figures found with IoU >= 0.8 and the right
FIG number (0.896), precision 0.923; on 14 held-out multi-figure sheets 27 of 29 (0.931); about 20 ms
per sheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.types import Box, OcrToken, figure_bounds
from models.linedraw import _drop_page_strips

WORK_SIDE = 1000  # the sheet is segmented with its longest side this many pixels
INK = 160  # gray below this is ink
DILATE = 3  # ink is dilated by this many work pixels before blobs are found
MIN_BLOB = 6  # blobs with fewer ink pixels are specks and ignored
BELOW = 0.8  # a label's gap to ink above it (to its left on a turned sheet) counts this much in linking
APART = 0.06  # linking never bridges a gap wider than this (fraction of the sheet's longest side)
MIN_PART = 0.15  # an unlabelled group with this share of the biggest group's ink is a figure of its own
MIN_SIDE = 0.2  # a gutter splits only if each side has this share of the sheet's ink per label
CUT_TRIES = 3  # gutters tried per part, widest first
ALONE = 0.25  # a label with less drawing ink than this share of MIN_SIDE's has a drawing cut free for it
UNLABELLED_GUTTER = 0.02  # a sheet with several FIGs and no label read is cut at gutters this wide...
UNLABELLED_SIDE = 0.15  # ...that leave this share of the ink on each side

# characters OCR confuses in the last place of a FIG label (as ingest.ocr_link matches labels)
_CONFUSIONS = {"8": "B", "B": "8", "0": "O", "O": "0", "D": "0", "5": "S", "S": "5", "2": "Z", "Z": "2",
               "6": "G", "G": "6", "1": "I", "I": "1"}


@dataclass(frozen=True)
class FigureRegion:
    """One figure on a sheet."""

    box: Box  # pixel coords of the stored (unrotated) sheet image
    fig: str | None  # FIG number as patfig writes it ("2A", "3", "1.1"); None when no label is tied to it
    source: str  # how it was found: "labels+ink" (a label and its ink), "ink" (ink alone), "whole" (blank)


def split_sheet(image: Image.Image, tokens: Sequence[OcrToken], figs: Sequence[str]) -> list[FigureRegion]:
    """The figures on one sheet.

    `tokens` are the sheet's OCR tokens (kind "fig_label" for "FIG. n" labels, "numeral" for reference
    numerals; boxes in the image's pixel coords), `figs` the FIG numbers ingest assigned to the sheet
    (from labels or document order). A sheet with one figure gives one region (its ink box, or the whole
    sheet). Regions are in reading order and do not overlap much.
    """
    width, height = image.size
    scale = min(1.0, WORK_SIDE / max(width, height))
    ink = _ink(image, scale)
    h, w = ink.shape
    turn = _turn(tokens)

    labels = [t for t in tokens if t.kind == "fig_label" and t.box.x0 < width and t.box.y0 < height
              and t.box.x1 > max(0.0, t.box.x0) and t.box.y1 > max(0.0, t.box.y0)]
    label_boxes = [[max(0.0, t.box.x0) * scale, max(0.0, t.box.y0) * scale, min(t.box.x1, width) * scale,
                    min(t.box.y1, height) * scale] for t in labels]
    label_figs = [_fig_of(t.text, figs) for t in labels]
    for x0, y0, x1, y1 in label_boxes:  # a label's own ink is not a drawing
        ink[max(0, int(y0) - 1) : int(np.ceil(y1)) + 2, max(0, int(x0) - 1) : int(np.ceil(x1)) + 2] = False
    blob_boxes, blob_ink = _blobs(ink)
    if not blob_boxes:
        return [FigureRegion(Box(x0=0, y0=0, x1=width, y1=height), figs[0] if len(figs) == 1 else None, "whole")]

    nb, nl = len(blob_boxes), len(label_boxes)
    boxes = np.array(blob_boxes + label_boxes, dtype=float)
    mass = np.array(blob_ink + [0] * nl, dtype=float)
    is_label = np.arange(nb + nl) >= nb
    if nl == 0 and len(figs) > 1:
        parts = _split_unlabelled(np.arange(nb), boxes, mass, len(figs), UNLABELLED_GUTTER * max(w, h))
    else:
        gap = _gaps(boxes)
        gap = np.where(_below(boxes, nb, turn), gap * BELOW, gap)
        np.fill_diagonal(gap, np.inf)
        sheet = _Sheet(boxes, mass, is_label, gap, APART * max(w, h), MIN_SIDE * mass.sum() / max(1, nl))
        parts, _ = sheet.cut(np.arange(nb + nl))
        parts = sheet.adopt(parts, free=True)
        # fewer figures than the sheet has FIGs: one whose label was not read may be linked to another
        figures = sum(1 for p in parts if is_label[p].any() or sheet.drawing(p) >= sheet.need)
        parts = sheet.split_off(parts, len(figs) - figures)

    every_fig_labelled = bool(label_figs) and all(f in label_figs for f in figs)
    groups = _settle([_Group.of(p, boxes, mass, nb) for p in parts], every_fig_labelled)
    groups.sort(key=lambda g: _reading_key(g.box, turn, w, h))
    free = [f for f in figs if f not in {label_figs[g.labels[0]] for g in groups if g.labels}]
    out = []
    for g in groups:
        fig = label_figs[g.labels[0]] if g.labels else None
        if fig is None and free:
            fig = free.pop(0)
        if fig is None and g.labels:
            fig = labels[g.labels[0]].text.upper() or None
        out.append(FigureRegion(_to_box(g.box, scale, width, height), fig, "labels+ink" if g.labels else "ink"))
    return out


# ---------------------------------------------------------------- ink and items


def _ink(image: Image.Image, scale: float) -> np.ndarray:
    """Boolean ink mask at work scale, page header and footer lines blanked."""
    gray = image.convert("L")
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        gray = gray.resize(size, Image.Resampling.BOX)
    return _drop_page_strips(np.asarray(gray) < INK)


def _blobs(ink: np.ndarray) -> tuple[list[list[float]], list[int]]:
    """Boxes (of their own ink, x0 y0 x1 y1) and ink masses of the blobs of the dilated ink; specks dropped."""
    from scipy import ndimage  # scipy takes ~0.5 s to import: only when a sheet is segmented, not for a query

    grown = ndimage.binary_dilation(ink, iterations=DILATE) if DILATE else ink
    lab, n = ndimage.label(grown)
    lab[~ink] = 0  # a blob's box is that of its own ink, not of the dilation
    boxes: list[list[float]] = []
    masses: list[int] = []
    if not n:
        return boxes, masses
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    for i, sl in enumerate(ndimage.find_objects(lab, max_label=n), start=1):
        if sl is not None and counts[i] >= MIN_BLOB:
            ys, xs = sl
            boxes.append([xs.start, ys.start, xs.stop, ys.stop])
            masses.append(int(counts[i]))
    return boxes, masses


def _fig_of(text: str, figs: Sequence[str]) -> str | None:
    """The FIG of `figs` a label reads as, allowing a look-alike in the last place ("18" for "1B")."""
    known = {f.upper(): f for f in figs}
    text = text.upper()
    if text in known:
        return known[text]
    if text and text[-1] in _CONFUSIONS:
        return known.get(text[:-1] + _CONFUSIONS[text[-1]])
    return None


def _turn(tokens: Sequence[OcrToken]) -> int:
    """Quarter turns (counter-clockwise) to the frame where the labels read: 3 when most run up the page."""
    boxes = [t.box for t in tokens if t.kind == "fig_label"] or [t.box for t in tokens]
    tall = sum(1 for b in boxes if (b.y1 - b.y0) > 1.3 * (b.x1 - b.x0))
    return 3 if boxes and tall > len(boxes) / 2 else 0


# ---------------------------------------------------------------- geometry


def _gaps(boxes: np.ndarray) -> np.ndarray:
    """Euclidean gap between every pair of boxes (x0, y0, x1, y1); 0 when they overlap."""
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    dx = np.maximum(0, np.maximum(x0[:, None] - x1[None, :], x0[None, :] - x1[:, None]))
    dy = np.maximum(0, np.maximum(y0[:, None] - y1[None, :], y0[None, :] - y1[:, None]))
    return np.hypot(dx, dy)


def _below(boxes: np.ndarray, first_label: int, turn: int) -> np.ndarray:
    """Mask [i, j]: one of the two is a label and the other ends above its middle (left of it, turned)."""
    out = np.zeros((len(boxes), len(boxes)), dtype=bool)
    end, mid = (2, (boxes[:, 0] + boxes[:, 2]) / 2) if turn == 3 else (3, (boxes[:, 1] + boxes[:, 3]) / 2)
    for j in range(first_label, len(boxes)):
        out[:, j] = boxes[:, end] <= mid[j]
        out[j, :] = out[:, j]
    return out


def _gutters(idx: np.ndarray, boxes: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Every white gutter across the items `idx`, either way: (width, items before it, items after it)."""
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


def _reading_key(box: np.ndarray, turn: int, w: int, h: int) -> tuple[int, float]:
    """Rows top to bottom, left to right within a row, in the frame turned `turn` quarters."""
    x0, y0, x1, y1 = box
    if turn == 3:  # turned 270° counter-clockwise: (x, y) → (h - y, x)
        x0, y0, x1, y1 = h - y1, x0, h - y0, x1
    return (round((y0 + y1) / 2 / (0.12 * max(w, h))), (x0 + x1) / 2)


def _to_box(b: np.ndarray, scale: float, width: int, height: int) -> Box:
    return Box(x0=max(0.0, float(b[0]) / scale), y0=max(0.0, float(b[1]) / scale),
               x1=min(float(width), float(b[2]) / scale), y1=min(float(height), float(b[3]) / scale))


# ---------------------------------------------------------------- partition


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@dataclass
class _Sheet:
    """The items of a sheet (blobs, then labels) and what cutting and linking them needs."""

    boxes: np.ndarray  # (n, 4) work-scale boxes
    mass: np.ndarray  # ink pixels (0 for labels)
    is_label: np.ndarray
    gap: np.ndarray  # (n, n) gaps for linking, discounted toward labels below, inf on the diagonal
    apart: float  # linking never bridges a wider gap
    need: float  # a label with less drawing ink than this is "bare"

    def bare(self, parts: list[np.ndarray]) -> int:
        """How many parts hold a label but less drawing ink than `need`."""
        return sum(1 for p in parts if self.is_label[p].any() and self.mass[p].sum() < self.need)

    def cut(self, idx: np.ndarray) -> tuple[list[np.ndarray], int]:
        """The XY-cut of items `idx` (step 3 of the module doc); a part no gutter splits is linked.

        Returns the parts and how many bare labels they leave.
        """
        labels = int(self.is_label[idx].sum())
        if labels > 1:
            valid = []
            for width, a, b in _gutters(idx, self.boxes):
                ink_a, ink_b = self.drawing(a), self.drawing(b)
                if self.is_label[a].any() and self.is_label[b].any() and min(ink_a, ink_b) >= self.need:
                    valid.append((width, a, b))
            best: tuple[int, list[np.ndarray]] | None = None
            for _, a, b in sorted(valid, key=lambda c: -c[0])[:CUT_TRIES]:
                parts_a, bare_a = self.cut(a)
                parts_b, bare_b = self.cut(b)
                if best is None or bare_a + bare_b < best[0]:
                    best = (bare_a + bare_b, parts_a + parts_b)
                if best[0] == 0:
                    break
            if best is not None:
                return best[1], best[0]
        parts = self.adopt(self.link(idx))
        return parts, self.bare(parts)

    def drawing(self, idx: np.ndarray) -> float:
        return float(self.mass[idx].sum())

    def link(self, idx: np.ndarray) -> list[np.ndarray]:
        """Constrained single linkage of items `idx`: closest groups first, never two labelled groups,
        never across a gap wider than `apart`."""
        sub = self.gap[np.ix_(idx, idx)]
        parent = list(range(len(idx)))
        labelled = [bool(self.is_label[i]) for i in idx]
        rows, cols = np.unravel_index(np.argsort(sub, axis=None), sub.shape)
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            if sub[i, j] > self.apart:
                break
            if i >= j:
                continue
            a, b = _find(parent, i), _find(parent, j)
            if a != b and not (labelled[a] and labelled[b]):
                parent[b] = a
                labelled[a] = labelled[a] or labelled[b]
        groups: dict[int, list[int]] = {}
        for n in range(len(idx)):
            groups.setdefault(_find(parent, n), []).append(int(idx[n]))
        return [np.array(v) for v in groups.values()]

    def split_off(self, parts: list[np.ndarray], missing: int) -> list[np.ndarray]:
        """Find up to `missing` figures whose label was not read inside the parts: cut a part at its weakest
        link (the widest gap of its minimum spanning tree) that leaves a drawing without a label as big as
        MIN_PART of the part's and the rest with its labels, biggest parts first."""
        parts = list(parts)
        for _ in range(missing):
            for k in sorted(range(len(parts)), key=lambda k: -self.drawing(parts[k])):
                halves = self.weakest(parts[k])
                if halves is not None:
                    parts[k : k + 1] = list(halves)
                    break
            else:
                break
        return parts

    def weakest(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """`idx` cut at the widest edge of its minimum spanning tree whose cut leaves an unlabelled side with
        MIN_PART of the ink (and at least `need`); None when no edge does."""
        if len(idx) < 2:
            return None
        sub = self.gap[np.ix_(idx, idx)]
        parent = list(range(len(idx)))
        edges = []
        rows, cols = np.unravel_index(np.argsort(sub, axis=None), sub.shape)
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            if i < j and _find(parent, i) != _find(parent, j):
                parent[_find(parent, j)] = _find(parent, i)
                edges.append((float(sub[i, j]), i, j))
                if len(edges) == len(idx) - 1:
                    break
        total = self.drawing(idx)
        for _, i, j in sorted(edges, reverse=True):
            tree: dict[int, list[int]] = {}
            for _, a, b in edges:
                if (a, b) != (i, j):
                    tree.setdefault(a, []).append(b)
                    tree.setdefault(b, []).append(a)
            side, todo = {i}, [i]
            while todo:
                for m in tree.get(todo.pop(), []):
                    if m not in side:
                        side.add(m)
                        todo.append(m)
            one = idx[sorted(side)]
            other = idx[sorted(set(range(len(idx))) - side)]
            for lone, rest in ((one, other), (other, one)):
                ink = self.drawing(lone)
                if self.is_label[lone].any() or ink < max(self.need, MIN_PART * total):
                    continue
                if self.drawing(rest) >= MIN_PART * ink:
                    return rest, lone
        return None

    def free_drawing(self, parts: list[np.ndarray]) -> list[int]:
        """For a label left without a drawing: cut the labelled part with the most ink at its weakest link
        (`weakest`) so that a drawing without a label comes free; `parts` is changed in place. Returns the
        index of the freed drawing, or nothing."""
        for k in sorted(range(len(parts)), key=lambda k: -self.drawing(parts[k])):
            if not self.is_label[parts[k]].any() or self.drawing(parts[k]) < 2 * self.need:
                continue
            halves = self.weakest(parts[k])
            if halves is not None:
                parts[k] = halves[0]
                parts.append(halves[1])
                return [len(parts) - 1]
        return []

    def adopt(self, parts: list[np.ndarray], free: bool = False) -> list[np.ndarray]:
        """A label left without a drawing (a label above its figure with a caption line between, say)
        takes the nearest unlabelled group with a drawing, closest pairs first. With `free` (once, over the
        whole sheet, after the cut), if there is none, one is cut free from the labelled part with the most
        ink (two drawings that linked before either met a label)."""
        parts = list(parts)
        while True:
            bare = [i for i, p in enumerate(parts) if self.is_label[p].any() and self.drawing(p) < self.need]
            loose = [i for i, p in enumerate(parts) if not self.is_label[p].any() and self.drawing(p) >= self.need]
            if free and not loose and any(self.drawing(parts[i]) < ALONE * self.need for i in bare) and not any(
                not self.is_label[p].any() and self.drawing(p) >= ALONE * self.need for p in parts
            ):  # a label alone, and no unlabelled drawing left anywhere (a sparse one joins it later)
                loose = self.free_drawing(parts)
            if not bare or not loose:
                return parts
            _, i, j = min((float(self.gap[np.ix_(parts[i], parts[j])].min()), i, j) for i in bare for j in loose)
            parts[i] = np.concatenate([parts[i], parts[j]])
            del parts[j]


def _split_unlabelled(idx: np.ndarray, boxes: np.ndarray, mass: np.ndarray, n: int, gutter: float) -> list[np.ndarray]:
    """Cut items at their widest gutters (at least `gutter` wide, UNLABELLED_SIDE of the ink each side)
    into at most `n` parts."""
    out = [idx]
    total = mass[idx].sum()
    while len(out) < n:
        best = None
        for k, part in enumerate(out):
            for width, a, b in _gutters(part, boxes):
                if width >= gutter and min(mass[a].sum(), mass[b].sum()) >= UNLABELLED_SIDE * total:
                    if best is None or width > best[0]:
                        best = (width, k, a, b)
        if best is None:
            break
        _, k, a, b = best
        out[k : k + 1] = [a, b]
    return out


@dataclass
class _Group:
    """A would-be figure: its box (work scale), ink mass and the indices of its labels."""

    box: np.ndarray
    mass: float
    labels: list[int]

    @classmethod
    def of(cls, part: np.ndarray, boxes: np.ndarray, mass: np.ndarray, first_label: int) -> _Group:
        b = boxes[part]
        box = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
        return cls(box, float(mass[part].sum()), [int(i) - first_label for i in part if i >= first_label])

    def take(self, other: _Group) -> None:
        self.box = np.concatenate([np.minimum(self.box[:2], other.box[:2]), np.maximum(self.box[2:], other.box[2:])])
        self.mass += other.mass
        self.labels += other.labels


def _gap(a: _Group, b: _Group) -> float:
    return float(_gaps(np.vstack([a.box, b.box]))[0, 1])


def _settle(groups: list[_Group], every_fig_labelled: bool) -> list[_Group]:
    """Bare labels take the nearest big unlabelled group (closest pairs first); small unlabelled groups
    (stray marks, a far part of a figure) join the nearest group that stays. When every FIG of the sheet
    has its label, no unlabelled group stays: each joins the nearest labelled one (a far part of a figure,
    not a figure of its own)."""
    groups = list(groups)
    big = (np.inf if every_fig_labelled else MIN_PART) * max(g.mass for g in groups)
    while True:
        bare = [g for g in groups if g.labels and g.mass < big]
        loose = [g for g in groups if not g.labels and g.mass >= big]
        if not bare or not loose:
            break
        _, i, j = min((_gap(a, b), i, j) for i, a in enumerate(bare) for j, b in enumerate(loose))
        bare[i].take(loose[j])
        groups = [g for g in groups if g is not loose[j]]
    small = [g for g in groups if not g.labels and g.mass < big]
    stay = [g for g in groups if g.labels or g.mass >= big]
    for g in small:
        if stay:
            min(stay, key=lambda s: _gap(g, s)).take(g)
        else:
            stay.append(g)
    return stay


def figure_crop(sheet: Image.Image, box: Box | None) -> Image.Image:
    """The picture of one figure: its region of the sheet with a thin margin, or the whole sheet (`box` None).

    What ingest encodes for a figure, and what the gallery shows of it (`core.types.figure_bounds`)."""
    bounds = figure_bounds(box, sheet.width, sheet.height)
    return sheet if bounds == (0, 0, sheet.width, sheet.height) else sheet.crop(bounds)
