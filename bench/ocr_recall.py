"""OCR numeral recall, precision and speed on the USPTO sample ZIPs.

For each document: OCR every drawing sheet (D00001..), link the numerals to the XML's tagged reference
signs, and report tagged signs, signs linked on at least one sheet (recall), precision, the FIG labels
read, per-sheet OCR time and the rotation chosen per sheet.

Precision is reported two ways. "linked precision": among the distinct numerals we would output as
components, the share that are tagged signs of the document (linking keeps only signs, so this is 1.0
unless a suffix-tolerant match was wrong). "raw precision": the share of all numeral tokens OCR returned
that are signs of the document; it measures how much OCR noise reaches linking.

    python bench/ocr_recall.py                       # all USPTO sample ZIPs
    python bench/ocr_recall.py --docs US12448135 --json /tmp/ocr.json
    python bench/ocr_recall.py --no-hint             # ignore the XML's landscape hint (as for PDFs)
"""

from __future__ import annotations

import argparse
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
from models.ocr import NumeralReader  # noqa: E402

SAMPLES = Path(os.environ.get("PATFIG_SAMPLE_DATA", Path(__file__).resolve().parents[2] / "shared/data/patents"))


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
                    "member": src.member,
                    "size": list(img.size),
                    "landscape_hint": src.landscape,
                    "rotation": res.rotation,
                    "seconds": round(res.seconds, 2),
                    "cpu_seconds": round(cpu, 2),
                    "numerals": len(numerals),
                    "sign_tokens": len(signs),
                    "components": [c.numeral for c in comps],
                    "not_signs": sorted({t.text for t in numerals} - {t.text for t in signs}),
                    "figs": figs_on_sheet(res.tokens, patent),
                }
            )
            print(
                f"  {patent.patent_id} S{src.sheet_no} rot={res.rotation:3d} hint={src.landscape!s:5} "
                f"{res.seconds:5.1f}s cpu {cpu:5.1f}s numerals={len(numerals):3d} components={len(comps):3d}",
                flush=True,
            )
    distinct_true = {s for s in linked if s in tagged}
    return {
        "patent_id": patent.patent_id,
        "tagged": len(tagged),
        "linked": len(linked),
        "recall": round(len(linked) / len(tagged), 3) if tagged else None,
        "linked_precision": round(len(distinct_true) / len(linked), 3) if linked else None,
        "raw_precision": round(n_sign_tokens / n_numerals, 3) if n_numerals else None,
        "numeral_tokens": n_numerals,
        "missed": sorted(tagged - linked, key=lambda s: (len(s), s)),
        "sheets": sheets,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", nargs="*", help="patent ids (or prefixes) of the USPTO ZIPs to read; default all")
    ap.add_argument("--json", type=Path, help="write the full results here")
    ap.add_argument("--scale", type=float, default=OcrSettings().scale)
    ap.add_argument("--no-hint", action="store_true", help="ignore the XML's landscape hint")
    ap.add_argument("--max-sheets", type=int, help="read at most this many sheets per document")
    args = ap.parse_args(argv)

    zips = sorted((SAMPLES / "uspto").glob("*.ZIP"))
    if args.docs:
        zips = [z for z in zips if any(z.name.startswith(d) for d in args.docs)]
    if not zips:
        print(f"no USPTO ZIPs found under {SAMPLES / 'uspto'}", file=sys.stderr)
        return 1

    reader = NumeralReader(OcrSettings(scale=args.scale))
    t0 = time.perf_counter()
    reader.reader()
    load_s = time.perf_counter() - t0
    docs = []
    for z in zips:
        print(z.name, flush=True)
        docs.append(bench_doc(reader, z, not args.no_hint, args.max_sheets))

    times = [s["seconds"] for d in docs for s in d["sheets"]]
    cpu = [s["cpu_seconds"] for d in docs for s in d["sheets"]]
    tokens = sum(d["numeral_tokens"] for d in docs)
    sign_tokens = sum(s["sign_tokens"] for d in docs for s in d["sheets"])
    summary = {
        "docs": len(docs),
        "sheets": len(times),
        "scale": args.scale,
        "hint": not args.no_hint,
        "reader_load_s": round(load_s, 1),
        "median_s": round(statistics.median(times), 2) if times else None,
        "p90_s": round(_pct(times, 0.9), 2),
        "median_cpu_s": round(statistics.median(cpu), 2) if cpu else None,
        "raw_precision": round(sign_tokens / tokens, 3) if tokens else None,
        "rotations": {
            str(r): sum(1 for d in docs for s in d["sheets"] if s["rotation"] == r) for r in (0, 90, 180, 270)
        },
        "machine": {"nproc": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version()},
        "load_avg_end": os.getloadavg(),
    }

    print()
    print(f"{'document':22} {'tagged':>6} {'linked':>6} {'recall':>6} {'lnk-P':>6} {'raw-P':>6} {'med s':>6} rotations")
    for d in docs:
        secs = [s["seconds"] for s in d["sheets"]]
        rots = ",".join(str(s["rotation"]) for s in d["sheets"])
        print(
            f"{d['patent_id']:22} {d['tagged']:6d} {d['linked']:6d} {_f(d['recall']):>6} "
            f"{_f(d['linked_precision']):>6} {_f(d['raw_precision']):>6} "
            f"{statistics.median(secs) if secs else 0:6.1f} {rots}"
        )
    print(
        f"\n{summary['sheets']} sheets: median {summary['median_s']} s, p90 {summary['p90_s']} s per sheet "
        f"(median CPU {summary['median_cpu_s']} s); raw precision {summary['raw_precision']}; "
        f"rotations {summary['rotations']}; {summary['machine']['nproc']} cores, {summary['machine']['cpu']}; "
        f"load average at end {tuple(round(x, 1) for x in summary['load_avg_end'])}"
    )
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "docs": docs}, indent=1))
        print(f"wrote {args.json}")
    return 0


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


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
