"""Figure segmentation of drawing sheets (ingest/segment.py) against hand-checked figure boxes.

For every sheet in bench/data/figure_boxes.json: render it as ingest does (``read_document`` →
``doc.sheet_image``), OCR it with the default engine as ingest does (``NumeralReader(settings.ocr)``
with the document's landscape hint and reference signs), assign FIG numbers to the document's sheets as
ingest does (``figs_on_sheet`` → ``assign_figs`` over all its sheets), run ``split_sheet`` and match the
predicted regions to the checked ones (Hungarian on IoU).

Reported: checked figures found with IoU >= 0.8 and the right FIG number ("found"), found with IoU >= 0.8
whatever the FIG ("boxes"), precision of the predicted regions (IoU >= 0.8, and also with the right FIG),
and split_sheet's ms per sheet, overall and per source (USPTO utility, EP/WO/US PDF, USPTO design).

OCR tokens are cached per document under /tmp/patfig_segment_cache (OCR is the slow part; the splitter is
not), so reruns take seconds.

    python bench/figure_segmentation.py                  # writes bench/results/figure_segmentation.{txt,json}
    python bench/figure_segmentation.py --show US12448135:3   # print one sheet's regions and truth
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import Settings  # noqa: E402
from core.types import OcrToken  # noqa: E402
from ingest.ocr_link import assign_figs, figs_on_sheet  # noqa: E402
from ingest.read import read_document  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("PATFIG_SAMPLE_DATA", ROOT.parents[1] / "shared/data/patents"))
if not SAMPLES.exists():
    SAMPLES = Path("/work/shared/data/patents")
TRUTH = ROOT / "bench" / "data" / "figure_boxes.json"
RESULTS = ROOT / "bench" / "results"
CACHE = Path(os.environ.get("PATFIG_SEGMENT_CACHE", "/tmp/patfig_segment_cache"))
IOU = 0.8


def source_kind(path: Path, doc_type: str) -> str:
    """"design", "uspto" (utility ZIP) or "pdf"."""
    if path.suffix.lower() == ".pdf":
        return "pdf"
    return "design" if doc_type == "design" else "uspto"


def ocr_document(path: Path, settings: Settings, reader=None) -> dict:
    """Every sheet of a document OCRed as ingest does, with the FIGs ingest assigns; cached as JSON."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"{path.name}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    from models.ocr import NumeralReader

    reader = reader or NumeralReader(settings.ocr).load()
    with read_document(path) as doc:
        patent = doc.patent
        sheets = []
        for src in patent.sheets:
            img = doc.sheet_image(src, settings.max_image_pixels)
            res = reader.read(img, landscape=src.landscape, known=set(patent.refsigns))
            sheets.append({"sheet_no": src.sheet_no, "member": src.member, "landscape": src.landscape,
                           "size": [img.width, img.height], "rotation": res.rotation,
                           "ocr_seconds": round(res.seconds, 3),
                           "tokens": [t.model_dump() for t in res.tokens]})
        ocr_figs = [figs_on_sheet([OcrToken(**t) for t in s["tokens"]], patent) for s in sheets]
        for s, (figs, how) in zip(sheets, assign_figs(ocr_figs, patent), strict=True):
            s["figs"], s["figs_from"] = figs, how
        out = {"source": path.name, "patent_id": patent.patent_id, "doc_type": patent.doc_type,
               "kind": source_kind(path, patent.doc_type), "figures": [f.fig for f in patent.figures],
               "sheets": sheets}
    cached.write_text(json.dumps(out))
    return out


def iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(truth: list[dict], pred: list[dict]) -> list[tuple[int, int, float]]:
    """Pairs (truth index, prediction index, IoU) that maximise the summed IoU (Hungarian), IoU > 0 only."""
    from scipy.optimize import linear_sum_assignment

    if not truth or not pred:
        return []
    m = [[iou(t["box"], p["box"]) for p in pred] for t in truth]
    rows, cols = linear_sum_assignment([[-v for v in row] for row in m])
    return [(int(r), int(c), m[r][c]) for r, c in zip(rows, cols, strict=True) if m[r][c] > 0]


def same_fig(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.upper() == b.upper()


def run(split, entries: list[dict], settings: Settings, show: str = "") -> dict:
    """Split every checked sheet and score it against the truth."""
    from ingest.segment import split_sheet  # noqa: F401  (the default `split`)

    docs: dict[str, dict] = {}
    rows = []
    for e in entries:
        path = next(p for d in ("uspto", "pdf") for p in (SAMPLES / d).glob(e["source"]))
        if e["source"] not in docs:
            docs[e["source"]] = ocr_document(path, settings)
        sheet = next(s for s in docs[e["source"]]["sheets"] if s["sheet_no"] == e["sheet_no"])
        with read_document(path) as doc:
            src = next(s for s in doc.patent.sheets if s.sheet_no == e["sheet_no"])
            img = doc.sheet_image(src, settings.max_image_pixels)
        if list(img.size) != e["size"]:
            raise SystemExit(f"{e['source']} sheet {e['sheet_no']}: rendered {img.size}, checked at {e['size']}")
        tokens = [OcrToken(**t) for t in sheet["tokens"]]
        img.load()
        t0 = time.perf_counter()
        regions = split(img, tokens, sheet["figs"])
        ms = (time.perf_counter() - t0) * 1000
        pred = [{"box": [r.box.x0, r.box.y0, r.box.x1, r.box.y1], "fig": r.fig, "source": r.source} for r in regions]
        pairs = match(e["figures"], pred)
        good = [(t, p, v) for t, p, v in pairs if v >= IOU]
        found = sum(1 for t, p, _ in good if same_fig(e["figures"][t]["fig"], pred[p]["fig"]))
        row = {"sheet": f"{e['source']}:{e['sheet_no']}", "kind": e["kind"], "split": e.get("split", "tuning"),
               "truth": len(e["figures"]),
               "pred": len(pred), "boxes": len(good), "found": found, "ms": ms, "figs": sheet["figs"],
               "labels": sum(1 for t in tokens if t.kind == "fig_label"),
               "ious": [round(v, 2) for _, _, v in pairs]}
        rows.append(row)
        if show and show in row["sheet"]:
            print(json.dumps({**row, "truth_boxes": e["figures"], "pred_boxes": pred}))
    return summarise(rows)


def summarise(rows: list[dict]) -> dict:
    def agg(rs: list[dict]) -> dict:
        truth = sum(r["truth"] for r in rs)
        pred = sum(r["pred"] for r in rs)
        return {
            "sheets": len(rs),
            "multi_figure_sheets": sum(1 for r in rs if r["truth"] > 1),
            "figures": truth,
            "found": sum(r["found"] for r in rs),
            "found_rate": round(sum(r["found"] for r in rs) / truth, 3) if truth else None,
            "boxes_rate": round(sum(r["boxes"] for r in rs) / truth, 3) if truth else None,
            "predicted": pred,
            "precision_box": round(sum(r["boxes"] for r in rs) / pred, 3) if pred else None,
            "precision_found": round(sum(r["found"] for r in rs) / pred, 3) if pred else None,
            "sheets_all_found": sum(1 for r in rs if r["found"] == r["truth"] == r["pred"]),
            "ms_median": round(statistics.median(r["ms"] for r in rs), 1) if rs else None,
            "ms_max": round(max(r["ms"] for r in rs), 1) if rs else None,
        }

    out = {"all": agg(rows), "multi": agg([r for r in rows if r["truth"] > 1])}
    for kind in ("uspto", "pdf", "design"):
        out[kind] = agg([r for r in rows if r["kind"] == kind])
    for split in ("tuning", "heldout"):
        out[split] = agg([r for r in rows if r["split"] == split])
    out["rows"] = rows
    return out


def report(res: dict) -> str:
    lines = [
        f"Figure segmentation (ingest/segment.py split_sheet) on {res['all']['sheets']} hand-checked sheets, "
        f"{res['all']['figures']} figures ({TRUTH.relative_to(ROOT)}).",
        f"found = checked figure matched (Hungarian on IoU) by a region with IoU >= {IOU} AND the right FIG number; "
        f"boxes = IoU >= {IOU} whatever the FIG; precision = share of predicted regions that match (box / box+FIG).",
        "OCR tokens and FIG numbers as ingest makes them (default engine, landscape hint, figs_on_sheet, assign_figs).",
        "",
        f"{'set':8} {'sheets':>6} {'multi':>5} {'figs':>5} {'found':>6} {'found%':>7} {'boxes%':>7} {'pred':>5} "
        f"{'P box':>6} {'P fig':>6} {'sheets ok':>9} {'ms med':>7} {'ms max':>7}",
    ]
    for key in ("all", "multi", "uspto", "pdf", "design", "tuning", "heldout"):
        a = res[key]
        lines.append(
            f"{key:8} {a['sheets']:>6} {a['multi_figure_sheets']:>5} {a['figures']:>5} {a['found']:>6} "
            f"{a['found_rate']:>7} {a['boxes_rate']:>7} {a['predicted']:>5} {a['precision_box']:>6} "
            f"{a['precision_found']:>6} {a['sheets_all_found']:>9} {a['ms_median']:>7} {a['ms_max']:>7}"
        )
    lines += ["", "sheets not fully right (truth figs / predicted / found; labels read; figs assigned; IoUs):"]
    for r in res["rows"]:
        if not r["found"] == r["truth"] == r["pred"]:
            lines.append(f"  {r['sheet']:34} {r['kind']:6} {r['split']:7} {r['truth']}/{r['pred']}/{r['found']}  "
                         f"labels {r['labels']}  figs {r['figs']}  ious {r['ious']}")
    return "\n".join(lines)


def every_sheet(split, settings: Settings) -> dict:
    """split_sheet's time on every drawing sheet of the sample folder, and how its region count compares with
    the FIG numbers ingest assigned (no truth here: a speed and sanity run)."""
    times, same, more, fewer, regions = [], 0, 0, 0, 0
    paths = sorted((SAMPLES / "uspto").iterdir()) + sorted((SAMPLES / "pdf").glob("*.pdf"))
    for path in paths:
        info = ocr_document(path, settings)
        with read_document(path) as doc:
            for src, sheet in zip(doc.patent.sheets, info["sheets"], strict=True):
                img = doc.sheet_image(src, settings.max_image_pixels)
                img.load()
                t0 = time.perf_counter()
                out = split(img, [OcrToken(**t) for t in sheet["tokens"]], sheet["figs"])
                times.append((time.perf_counter() - t0) * 1000)
                regions += len(out)
                n = max(1, len(sheet["figs"]))
                same, more, fewer = same + (len(out) == n), more + (len(out) > n), fewer + (len(out) < n)
    times.sort()
    return {"documents": len(paths), "sheets": len(times), "regions": regions,
            "regions_equal_to_figs": same, "more_regions": more, "fewer_regions": fewer,
            "ms_median": round(statistics.median(times), 1), "ms_p90": round(times[int(0.9 * (len(times) - 1))], 1),
            "ms_max": round(times[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--show", default="", help="print truth and prediction of sheets whose id contains this")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    ap.add_argument("--all-sheets", action="store_true",
                    help="also time split_sheet on every drawing sheet of the sample folder (OCRs uncached ones)")
    args = ap.parse_args()
    from ingest.segment import split_sheet

    settings = Settings()
    entries = json.loads(TRUTH.read_text())["sheets"]
    res = run(split_sheet, entries, settings, args.show)
    text = report(res)
    if args.all_sheets:
        res["every_sheet"] = every_sheet(split_sheet, settings)
        e = res["every_sheet"]
        text += (f"\n\nEvery drawing sheet of the sample folder ({e['documents']} documents, {e['sheets']} sheets, no "
                 f"truth): {e['regions']} regions; region count = number of FIGs ingest assigned on "
                 f"{e['regions_equal_to_figs']} sheets, more on {e['more_regions']}, fewer on {e['fewer_regions']}; "
                 f"split_sheet ms/sheet median {e['ms_median']}, p90 {e['ms_p90']}, max {e['ms_max']}.")
    stamp = (f"python bench/figure_segmentation.py on {datetime.date.today()}: {os.cpu_count()} cores, "
             f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; "
             f"ms = split_sheet wall time per sheet (OCR excluded), shared machine.")
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "figure_segmentation.txt").write_text(stamp + "\n\n" + text + "\n")
        (RESULTS / "figure_segmentation.json").write_text(json.dumps({"about": stamp, **res}, indent=1) + "\n")


if __name__ == "__main__":
    main()
