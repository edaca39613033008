"""Crop queries against figures as the unit: does the default offline descriptor find the figure a user cut out?

The random 40% crops of `bench/visual_descriptor.py` are ranked against whole sheets. Since figures are the
indexed unit, a person who cuts a figure out of a sheet (or screenshots one) is matched against figure
regions. This bench builds that gallery from the checked figure boxes (bench/data/figure_boxes.json: 95 real
sheets, 202 figures): a sheet with one figure is one unit (the whole sheet, as ingest keeps it), a sheet with
several gives one unit per figure, cut as ingest cuts it (`ingest.segment.figure_crop`). Each figure is then
queried by a user's cut of it: its checked box with every edge moved by up to ±10% of the box's size
(seeded), at full resolution, turned by 90° and at half resolution. Relevant: the figure's own unit (P@1, MRR@10).

Scored as the product scores an image query on each kind of index:
- ``lbp`` (`linedraw:lbp-v1`): the raw cosine (turn invariant, no whitening);
- ``lbp-craft`` (`linedraw:lbp-craft-v1`, the default): the query's four 90° turns, whitened by a whitening
  fitted on the gallery (64 dims, power 0.5, as `tools/whiten.py` fits on an index), each turn α-expanded
  (k 3) over the gallery, and the turn whose best match is best kept ("rot-max", `tools/search.py`).
"upright only" rows score the query as given, without its turns.

    python bench/figure_crops.py   # writes bench/results/figure_crops.txt
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.figure_segmentation import SAMPLES, TRUTH  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.types import Box  # noqa: E402
from core.whitening import alpha_qe, fit_whitening  # noqa: E402
from ingest.read import read_document  # noqa: E402
from ingest.segment import figure_crop  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
JITTER = 0.10  # each edge of a user's cut moves by up to this share of the box's width or height
SEED = 7


def sheet_images(entries: list[dict], settings: Settings) -> list[Image.Image]:
    """Every checked sheet rendered as ingest renders it."""
    out = []
    for e in entries:
        path = next(p for d in ("uspto", "pdf") for p in (SAMPLES / d).glob(e["source"]))
        with read_document(path) as doc:
            src = next(s for s in doc.patent.sheets if s.sheet_no == e["sheet_no"])
            img = doc.sheet_image(src, settings.max_image_pixels)
            img.load()
        out.append(img.convert("L"))
    return out


def user_cut(sheet: Image.Image, box: list[float], rng: random.Random) -> Image.Image:
    """The checked box with each edge moved by up to ±JITTER of the box's size, kept on the sheet."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    x0, x1 = x0 + rng.uniform(-JITTER, JITTER) * w, x1 + rng.uniform(-JITTER, JITTER) * w
    y0, y1 = y0 + rng.uniform(-JITTER, JITTER) * h, y1 + rng.uniform(-JITTER, JITTER) * h
    return sheet.crop((max(0, int(x0)), max(0, int(y0)), min(sheet.width, int(x1)), min(sheet.height, int(y1))))


def metrics(sims: np.ndarray) -> dict[str, float]:
    """P@1 and MRR@10 of query i finding gallery unit i (sims: queries × gallery)."""
    order = np.argsort(-sims, axis=1)
    ranks = np.array([int(np.flatnonzero(order[i] == i)[0]) + 1 for i in range(len(sims))])
    return {"P@1": float(np.mean(ranks == 1)), "MRR@10": float(np.mean(np.where(ranks <= 10, 1.0 / ranks, 0.0)))}


def main() -> None:
    import torch

    from models.lbp_craft import LbpCraftEncoder, WhiteningPlan
    from models.linedraw import LineDrawEncoder

    torch.set_num_threads(1)
    settings = Settings()
    entries = json.loads(TRUTH.read_text())["sheets"]
    t0 = time.perf_counter()
    sheets = sheet_images(entries, settings)
    units, cuts, turned, halves = [], [], [], []
    rng = random.Random(SEED)
    for e, sheet in zip(entries, sheets, strict=True):
        for f in e["figures"]:
            b = f["box"]
            one = len(e["figures"]) == 1
            units.append(sheet if one else figure_crop(sheet, Box(x0=b[0], y0=b[1], x1=b[2], y1=b[3])))
            cut = user_cut(sheet, b, rng)
            cuts.append(cut)
            turned.append(cut.transpose(Image.Transpose.ROTATE_90))
            halves.append(cut.resize((max(1, cut.width // 2), max(1, cut.height // 2)), Image.Resampling.BOX))
    print(f"{len(units)} figures of {len(entries)} sheets loaded in {time.perf_counter() - t0:.1f} s", flush=True)

    rows = []
    lbp = LineDrawEncoder("lbp")
    db = np.array(lbp.embed_images(units), dtype=np.float32)
    sets = (("cut", cuts), ("cut turned 90°", turned), ("half-resolution cut", halves))
    for name, queries in sets:
        q = np.array(lbp.embed_images(queries), dtype=np.float32)
        rows.append({"descriptor": lbp.name, "query": name} | metrics(q @ db.T))

    enc = LbpCraftEncoder()
    plan: WhiteningPlan = enc.whitening
    raw = np.array(enc.embed_images(units), dtype=np.float32)
    white = fit_whitening(raw, plan.dims, plan.power)
    gal = white.apply(raw)
    for name, queries in sets:
        turns = [np.array(t, dtype=np.float32) for t in zip(*(enc.embed_turns(im) for im in queries), strict=True)]
        turns = [alpha_qe(white.apply(t), gal, plan.qe_k, plan.qe_alpha) for t in turns]
        sims = np.stack([t @ gal.T for t in turns])  # (turns, queries, gallery)
        best = sims.max(axis=2).argmax(axis=0)  # per query, the turn whose best match is best
        chosen = np.stack([sims[best[i], i] for i in range(len(queries))])
        rows.append({"descriptor": f"{enc.name} (rot-max)", "query": name} | metrics(chosen))
        upright = sims[0]
        rows.append({"descriptor": f"{enc.name} (upright only)", "query": name} | metrics(upright))

    lines = [__doc__.splitlines()[0],
             f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}; machine: {os.cpu_count()} cores, "
             f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.2f}",
             f"{len(units)} figures (gallery units) of {len(entries)} checked sheets; one cut per figure, seed {SEED}, "
             f"edges moved by up to ±{JITTER:.0%}",
             "", "descriptor | query | P@1 | MRR@10"]
    lines += [f"{r['descriptor']} | {r['query']} | {r['P@1']:.3f} | {r['MRR@10']:.3f}" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS / "figure_crops.txt").write_text(text)


if __name__ == "__main__":
    main()
