"""OCR numeral recall, precision and speed on the USPTO sample ZIPs, for each OCR engine side by side.

For each engine and document: OCR every drawing sheet (D00001..), link the numerals to the XML's tagged
reference signs, and report tagged signs, signs linked on at least one sheet (recall), precision, the
FIG labels read, per-sheet OCR time (wall and CPU) and the rotation chosen per sheet.

Precision is reported two ways. "linked precision": among the distinct numerals we would output as
components, the share that are tagged signs of the document (linking keeps only signs, so this is 1.0
unless a suffix-tolerant match was wrong). "raw precision": the share of all numeral tokens OCR returned
that are signs of the document; it measures how much OCR noise reaches linking.

Timing is for ONE process with the models on one thread (`--threads 1`, the default), as an ingest
worker runs. The machine is shared, so wall time is noisy; CPU time (`time.process_time()`) of the
single-threaded process is the steadier figure. Both are reported.

    python bench/ocr_recall.py                                  # both engines, all USPTO sample ZIPs
    python bench/ocr_recall.py --engine rapidocr --docs US12448135 --json /tmp/ocr.json
    python bench/ocr_recall.py --no-hint                        # ignore the XML's landscape hint (as for PDFs)
    python bench/ocr_recall.py --markdown bench/results/ocr_recall.md
    python bench/ocr_recall.py --engine easyocr --json /tmp/easy.json       # the slow engine alone, then
    python bench/ocr_recall.py --engine rapidocr --include /tmp/easy.json --markdown   # both in one table
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

from core.settings import OcrSettings  # noqa: E402
from ingest.ocr_link import figs_on_sheet, link_sheet, match_sign  # noqa: E402
from ingest.read import read_document  # noqa: E402
from models.ocr import ENGINES, NumeralReader  # noqa: E402

SAMPLES = Path(os.environ.get("PATFIG_SAMPLE_DATA", Path(__file__).resolve().parents[2] / "shared/data/patents"))
RESULTS = Path(__file__).resolve().parent / "results" / "ocr_recall.md"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    vals = sorted(values)
    return vals[min(len(vals) - 1, round(q * (len(vals) - 1)))]


def bench_doc(reader: NumeralReader, path: Path, use_hint: bool, max_sheets: int | None) -> dict:
    """OCR and link every drawing sheet of one document."""
    with read_document(path) as doc:
        patent = doc.patent
        tagged = set(patent.refsigns)
        linked: set[str] = set()
        sheets = []
        n_numerals = n_sign_tokens = 0
        for src in patent.sheets[:max_sheets]:
            img = doc.sheet_image(src, 200_000_000)
            cpu0 = time.process_time()
            res = reader.read(img, landscape=src.landscape if use_hint else None, known=tagged)
            cpu = time.process_time() - cpu0
            comps, _ = link_sheet(res.tokens, patent)
            numerals = [t for t in res.tokens if t.kind == "numeral"]
            signs = [t for t in numerals if match_sign(t.text, patent) is not None]
            n_numerals += len(numerals)
            n_sign_tokens += len(signs)
            linked |= {c.numeral for c in comps}
            sheets.append(
                {
                    "sheet": src.sheet_no,
                    "size": list(img.size),
                    "landscape_hint": src.landscape,
                    "rotation": res.rotation,
                    "seconds": round(res.seconds, 3),
                    "cpu_seconds": round(cpu, 3),
                    "numerals": len(numerals),
                    "sign_tokens": len(signs),
                    "components": [c.numeral for c in comps],
                    "not_signs": sorted({t.text for t in numerals} - {t.text for t in signs}),
                    "figs": figs_on_sheet(res.tokens, patent),
                }
            )
            print(
                f"  {reader.settings.engine} {patent.patent_id} S{src.sheet_no} rot={res.rotation:3d} "
                f"hint={src.landscape!s:5} {res.seconds:5.2f}s cpu {cpu:5.2f}s numerals={len(numerals):3d} "
                f"components={len(comps):3d}",
                flush=True,
            )
    return {
        "patent_id": patent.patent_id,
        "tagged": len(tagged),
        "linked": len(linked),
        "recall": round(len(linked) / len(tagged), 3) if tagged else None,
        "linked_precision": round(len(linked & tagged) / len(linked), 3) if linked else None,
        "raw_precision": round(n_sign_tokens / n_numerals, 3) if n_numerals else None,
        "numeral_tokens": n_numerals,
        "missed": sorted(tagged - linked, key=lambda s: (len(s), s)),
        "sheets": sheets,
    }


def bench_engine(engine: str, zips: list[Path], args: argparse.Namespace) -> dict:
    """Every document read with one engine, and the summary over all sheets."""
    reader = NumeralReader(OcrSettings(engine=engine, scale=args.scale, threads=args.threads))
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    reader.load()
    load_s = time.perf_counter() - t0
    docs = []
    for z in zips:
        print(engine, z.name, flush=True)
        docs.append(bench_doc(reader, z, not args.no_hint, args.max_sheets))
    sheets = [s for d in docs for s in d["sheets"]]
    wall, cpu = [s["seconds"] for s in sheets], [s["cpu_seconds"] for s in sheets]
    tokens = sum(d["numeral_tokens"] for d in docs)
    summary = {
        "engine": engine,
        "name": reader.name,
        "scale": reader.work_scale(_Plain()),
        "docs": len(docs),
        "sheets": len(sheets),
        "linked_total": sum(d["linked"] for d in docs),
        "tagged_total": sum(d["tagged"] for d in docs),
        "reader_load_s": round(load_s, 1),
        "median_s": round(statistics.median(wall), 2) if wall else None,
        "p90_s": round(_pct(wall, 0.9), 2),
        "median_cpu_s": round(statistics.median(cpu), 2) if cpu else None,
        "p90_cpu_s": round(_pct(cpu, 0.9), 2),
        "raw_precision": round(sum(s["sign_tokens"] for s in sheets) / tokens, 3) if tokens else None,
        "rotations": {str(r): sum(1 for s in sheets if s["rotation"] == r) for r in (0, 90, 180, 270)},
        "threads": args.threads,
        "hint": not args.no_hint,
        "load_avg": [round(load_start[0], 1), round(os.getloadavg()[0], 1)],
    }
    return {"summary": summary, "docs": docs}


class _Plain:
    """An image stand-in that states no dpi, to report the scale a 300-dpi sheet is read at."""

    info: dict = {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", nargs="*", choices=sorted(ENGINES), default=["rapidocr", "easyocr"])
    ap.add_argument("--include", nargs="*", type=Path, default=[], help="add the runs of earlier --json outputs")
    ap.add_argument("--docs", nargs="*", help="patent ids (or prefixes) of the USPTO ZIPs to read; default all")
    ap.add_argument("--json", type=Path, help="write the full results here")
    ap.add_argument("--markdown", type=Path, nargs="?", const=RESULTS, help=f"write the tables here ({RESULTS})")
    ap.add_argument("--scale", type=float, help="detection scale; default: each engine's own")
    ap.add_argument("--threads", type=int, default=1, help="model threads (1: one ingest worker's share)")
    ap.add_argument("--no-hint", action="store_true", help="ignore the XML's landscape hint")
    ap.add_argument("--max-sheets", type=int, help="read at most this many sheets per document")
    args = ap.parse_args(argv)

    zips = sorted((SAMPLES / "uspto").glob("*.ZIP"))
    if args.docs:
        zips = [z for z in zips if any(z.name.startswith(d) for d in args.docs)]
    if not zips:
        print(f"no USPTO ZIPs found under {SAMPLES / 'uspto'}", file=sys.stderr)
        return 1
    runs = [bench_engine(e, zips, args) for e in args.engine]
    for path in args.include:
        runs += json.loads(path.read_text())["runs"]
    if not runs:
        print("nothing to report: name an --engine or --include a run", file=sys.stderr)
        return 1
    meta = {
        "date": datetime.date.today().isoformat(),
        "command": "python bench/ocr_recall.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()}",
    }
    text = report(runs, meta)
    print()
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
        print(f"wrote {args.markdown}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
        print(f"wrote {args.json}")
    return 0


def report(runs: list[dict], meta: dict) -> str:
    """The result tables as markdown: recall and precision per document, speed, orientation decisions."""
    engines = [r["summary"]["engine"] for r in runs]
    loads = "; ".join(f"{r['summary']['engine']} {r['summary'].get('load_avg', 'not recorded')}" for r in runs)
    lines = [
        "# OCR numeral recall, precision and speed",
        "",
        f"`{meta['command']}` on {meta['date']}: {meta['machine']}. One process per engine, models on "
        f"{runs[0]['summary'].get('threads', 1)} thread(s), landscape hint "
        f"{'used' if runs[0]['summary'].get('hint', True) else 'ignored'}. A shared machine: wall time is noisy, "
        "CPU time (`time.process_time()` of the single-threaded process) is the steadier figure. Load average "
        f"(1 min) at start and end: {loads}.",
        "",
        "| document | tagged | " + " | ".join(f"{e} linked | recall | linked P | raw P" for e in engines) + " |",
        "|---|---|" + "---|---|---|---|" * len(engines),
    ]
    for i, d0 in enumerate(runs[0]["docs"]):
        cells = []
        for r in runs:
            d = r["docs"][i]
            cells += [str(d["linked"]), _f(d["recall"]), _f(d["linked_precision"]), _f(d["raw_precision"])]
        lines.append(f"| {d0['patent_id']} | {d0['tagged']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| engine | detection scale | sheets | linked signs | raw P | median s/sheet | p90 s | median CPU s | "
        "p90 CPU s | model load s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        s = r["summary"]
        lines.append(
            f"| {s['engine']} ({s['name']}) | {s['scale']:.2f} | {s['sheets']} | {s['linked_total']} of "
            f"{s['tagged_total']} | {_f(s['raw_precision'])} | {s['median_s']} | {s['p90_s']} | {s['median_cpu_s']} | "
            f"{s['p90_cpu_s']} | {s['reader_load_s']} |"
        )
    lines += ["", "Orientation decisions (degrees turned counter-clockwise to read; hint = XML landscape):", ""]
    lines += ["| document | sheet | hint | " + " | ".join(engines) + " |", "|---|---|---|" + "---|" * len(engines)]
    for i, d0 in enumerate(runs[0]["docs"]):
        for j, sh in enumerate(d0["sheets"]):
            rots = " | ".join(str(r["docs"][i]["sheets"][j]["rotation"]) for r in runs)
            lines.append(f"| {d0['patent_id']} | {sh['sheet']} | {sh['landscape_hint']} | {rots} |")
    return "\n".join(lines) + "\n"


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    raise SystemExit(main())
