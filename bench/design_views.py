"""Views of one design through the product: each design view uploaded to `search_image`, against `patfig eval`.

`patfig eval --protocols design --modes visual_views` ranks each design view's *stored* vector with the
patent's best view (`tools.views`). A user's upload goes through `tools.search.search_image` instead: the
picture is encoded again at its four turns, the patent's best view is added the same way, and the first
candidates are verified by local features (`tools.verify`). This bench runs every query of the design
protocol through that product path — the unit's picture (as ingest cut it) uploaded, the unit itself
excluded, the whole index as the gallery — and scores it with the eval's own metrics (mAP@50, P@1), per
half of the patents (md5 of the id, as bench/region_verify.py), next to the eval mode on the same queries.
It prints every P@1 miss of the product path with its first three hits (patent, view, title, scores).

    python bench/design_views.py --index /tmp/copy_of_index [--out design_views.txt] [--limit N]
                                 [--protocol reid]

`--protocol reid` runs the re-identification protocol the same way: every unit of a patent with two or more
queries, the patent's other units relevant (utility and design patents alike). `--indexed` uploads each view as a
user uploads a picture that is in the index: not excluded, so it matches itself (it comes first, and is then
taken out of the ranking scored), which is how the rest of its design ranks after a copy of a drawing.

Local features missing from the index are described first, and its visual words built (as
bench/region_verify.py does), so every query is verified as on an index ingested with them.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.settings import Settings  # noqa: E402
from core.types import Hit, Sheet  # noqa: E402
from ingest.segment import figure_crop  # noqa: E402
from patfig.wiring import build_services  # noqa: E402
from runtime.services import Services  # noqa: E402
from tools import regions, verify, views  # noqa: E402
from tools.evaluate import (  # noqa: E402
    _doc_info,
    average_precision,
    design_queries,
    evaluate,
    precision_at,
    reid_queries,
)
from tools.search import search_image  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def half(patent_id: str) -> str:
    return "A" if int(hashlib.md5(patent_id.encode()).hexdigest(), 16) % 2 == 0 else "B"


def picture(services: Services, unit: Sheet) -> Image.Image:
    """The unit's picture as ingest encoded it (`ingest.segment.figure_crop` of its sheet)."""
    with Image.open(services.store.image_path(unit)) as im:
        return figure_crop(im.convert("RGB"), unit.box)


def line(h: Hit, own: str) -> str:
    m = h.breakdown.modalities
    raw = {k: f"{v.raw:.3f}" if k != verify.MODALITY else f"{v.raw:.0f}" for k, v in m.items()}
    mark = "OWN" if h.patent_id == own else "   "
    return (f"      {h.rank:>2} {mark} {h.figure_id:<24} {h.view or '':<12} {h.score:.3f} "
            f"{' '.join(f'{k}={v}' for k, v in raw.items())}  {h.title[:44]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--out", default="design_views.txt")
    ap.add_argument("--limit", type=int, default=0, help="only the first N queries (a quick look)")
    ap.add_argument("--protocol", choices=("design", "reid"), default="design",
                    help="design views (default), or re-identification over every patent")
    ap.add_argument("--indexed", action="store_true",
                    help="upload each view without excluding it (it matches itself), then score the rest")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    services = build_services(Settings(index_dir=args.index))
    store = services.store
    units = store.sheets()
    verify.unit_features(services, [u.figure_id for u in units], float("inf"))
    regions.build(services)  # the visual words of the current features (an index made before them learns anew)
    doc_type = {pid: d for pid, (_, d) in _doc_info(services, units).items()}
    queries = design_queries(units, doc_type) if args.protocol == "design" else reid_queries(units)
    if args.limit:
        queries = queries[: args.limit]
    t0 = time.perf_counter()
    report = evaluate(services, modes=("visual", "visual_views"), protocols=(args.protocol,))
    eval_seconds = time.perf_counter() - t0
    rows: list[dict] = []
    itself = 0  # --indexed: queries that found themselves first
    misses: list[str] = []
    for q, relevant, _ in queries:
        t = time.perf_counter()
        if args.indexed:
            hits = search_image(services, picture(services, q), k=51)
            itself += bool(hits) and hits[0].figure_id == q.figure_id
            hits = [h for h in hits if h.figure_id != q.figure_id][:50]
        else:
            hits = search_image(services, picture(services, q), k=50, exclude=[q.figure_id])
        ranking = [h.figure_id for h in hits]
        rows.append({"half": half(q.patent_id), "ap": average_precision(ranking, relevant),
                     "p1": precision_at(ranking, relevant, 1), "s": time.perf_counter() - t})
        if not rows[-1]["p1"]:
            own = [h.rank for h in hits if h.patent_id == q.patent_id]
            patent = store.patent(q.patent_id)
            misses += [f"  {q.figure_id} [{rows[-1]['half']}] view={q.view} '{patent.title if patent else ''}': "
                       f"own design first at {own[0] if own else '>50'}"] + [line(h, q.patent_id) for h in hits[:3]]
    design = next(p for p in report.protocols if p.protocol == args.protocol)
    lines = [(__doc__ or '').splitlines()[0],
             f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}; machine: {os.cpu_count()} cores, "
             f"{platform.processor() or platform.machine()}, shared, load average {os.getloadavg()[0]:.2f}",
             f"index: {args.index} ({len(units)} units); views weight {views.BETA}, {views.TOP_PATENTS} patents "
             f"lifted; verification of the first {verify.TOP} at share {verify.SHARE} "
             f"({verify.PART_SHARE} for a part of a drawing, or a copy of one: {verify.COPY_INLIERS} inliers or more, "
             f"{verify.COPY_MARGIN} times any other patent's)",
             "", f"patfig eval, {args.protocol} protocol, whole index ({design.queries} queries, "
             f"{eval_seconds:.0f} s): "
             + ", ".join(f"{m} {r.map50:.3f} / {r.p1:.3f}" for m, r in design.results.items()) + " (mAP@50 / P@1)",
             "", "search_image (the product path), the same queries: mAP@50 / P@1 / queries"
             + (f" (uploaded as indexed: {itself} of {len(rows)} found themselves first, then left out)"
                if args.indexed else "")]
    for h in ("all", "A", "B"):
        sel = [r for r in rows if h == "all" or r["half"] == h]
        if sel:
            lines.append(f"  {h:<4} {np.mean([r['ap'] for r in sel]):.3f} / {np.mean([r['p1'] for r in sel]):.3f}"
                         f" / {len(sel)}")
    secs = np.array([r["s"] for r in rows])
    lines += [f"  seconds per query: median {np.median(secs):.2f}, p95 {np.percentile(secs, 95):.2f}", "",
              f"P@1 misses of the product path ({sum(1 for r in rows if not r['p1'])}): the first three hits "
              "(raw score per modality)", *misses]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(text)
    services.close()


if __name__ == "__main__":
    main()
